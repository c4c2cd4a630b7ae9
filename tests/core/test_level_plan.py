"""The one level planner (``pcf.core.level_plan``): phases and levels ordered through the whole graph."""

from __future__ import annotations

from pcf.core.graph import DependencyGraph
from pcf.core.level_plan import phase_levels, rollback_levels

CHAIN = DependencyGraph.from_parents({"g": [], "p": ["g"], "c": ["p"], "x": ["c"]})


def test_a_left_out_middle_particle_still_orders_those_around_it() -> None:
    assert CHAIN.ordered_subgraph(["g", "c"]).stop_levels() == [["c"], ["g"]]
    assert rollback_levels(CHAIN, ["g", "c"]) == [["c"], ["g"]]


def test_only_the_nearest_kept_ancestors_become_parents() -> None:
    ordered = CHAIN.ordered_subgraph(["g", "c", "x"])

    assert ordered.parents_of("x") == {"c"} and ordered.parents_of("c") == {"g"}


def test_stop_phase_goes_first_children_first_then_start_phase_parents_first() -> None:
    desired = {"g": "running", "p": "running", "c": "terminated", "x": "stopped"}

    assert phase_levels(CHAIN, desired) == [("stop", [["x"], ["c"]]), ("start", [["g"], ["p"]])]


def test_a_phase_without_particles_is_left_out() -> None:
    assert phase_levels(CHAIN, {"g": "running", "c": "running"}) == [("start", [["g"], ["c"]])]
    assert phase_levels(CHAIN, {}) == []
