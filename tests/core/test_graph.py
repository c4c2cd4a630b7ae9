"""Dependency ordering: properties over random DAGs, and cycle detection."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcf.core.graph import DependencyGraph


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str]]]:
    """A random DAG: edges only go from a lower index to a higher one."""
    size = draw(st.integers(min_value=1, max_value=25))
    nodes = [f"p:{i}" for i in range(size)]
    pairs = [(a, b) for a in range(size) for b in range(a + 1, size)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=60)) if pairs else []
    order = draw(st.permutations(nodes))
    return order, [(nodes[a], nodes[b]) for a, b in chosen]


def _position(levels: list[list[str]]) -> dict[str, int]:
    return {node: index for index, level in enumerate(levels) for node in level}


@given(dags())
@settings(max_examples=200, deadline=None)
def test_start_order_puts_every_parent_before_its_children(dag: tuple[list[str], list[tuple[str, str]]]) -> None:
    nodes, edges = dag
    levels = DependencyGraph(nodes, edges).start_levels()
    position = _position(levels)
    assert sorted(position) == sorted(nodes)
    assert all(position[parent] < position[child] for parent, child in edges)


@given(dags())
@settings(max_examples=200, deadline=None)
def test_stop_order_is_the_reverse_every_child_before_its_parents(
    dag: tuple[list[str], list[tuple[str, str]]],
) -> None:
    nodes, edges = dag
    graph = DependencyGraph(nodes, edges)
    position = _position(graph.stop_levels())
    assert all(position[child] < position[parent] for parent, child in edges)
    assert graph.find_cycle() is None


@given(dags(), st.data())
@settings(max_examples=200, deadline=None)
def test_every_cycle_is_detected(dag: tuple[list[str], list[tuple[str, str]]], data: st.DataObject) -> None:
    nodes, edges = dag
    # Close a cycle: pick a path a -> ... -> b (or a single node) and add b -> a.
    start = data.draw(st.sampled_from(sorted(nodes)))
    graph = DependencyGraph(nodes, edges)
    reachable = sorted(graph.descendants(start))
    end = data.draw(st.sampled_from(reachable)) if reachable else start
    cyclic = DependencyGraph(nodes, [*edges, (end, start)])
    cycle = cyclic.find_cycle()
    assert cycle is not None
    closing = [*cycle, cycle[0]]
    edge_set = {*edges, (end, start)}
    assert all((a, b) in edge_set for a, b in itertools.pairwise(closing))
    with pytest.raises(ValueError, match="cycle"):
        cyclic.start_levels()


def test_levels_group_independent_particles() -> None:
    graph = DependencyGraph(["a", "b", "c", "d"], [("a", "c"), ("b", "c"), ("c", "d")])
    assert graph.start_levels() == [["a", "b"], ["c"], ["d"]]
    assert graph.stop_levels() == [["d"], ["c"], ["a", "b"]]


def test_ancestors_descendants_and_subgraph() -> None:
    graph = DependencyGraph(["a", "b", "c"], [("a", "b"), ("b", "c")])
    assert graph.ancestors("c") == {"a", "b"}
    assert graph.descendants("a") == {"b", "c"}
    assert graph.ordered_subgraph(["a", "c"]).start_levels() == [["a"], ["c"]]


def test_an_edge_to_an_unknown_node_is_refused() -> None:
    with pytest.raises(KeyError, match="outside the graph"):
        DependencyGraph(["a"], [("a", "zz")])


def test_a_graph_from_each_nodes_parents_leaves_outside_parents_out() -> None:
    graph = DependencyGraph.from_parents({"a": [], "b": ["a", "elsewhere"], "c": ["b"]})
    assert graph.nodes == ["a", "b", "c"]
    assert graph.parents_of("b") == {"a"}
    assert graph.start_levels() == [["a"], ["b"], ["c"]]
