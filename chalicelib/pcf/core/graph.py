"""The dependency graph of particles: levels in start and stop order, cycles, ancestry.

Pure: nodes are pcf_ids, edges run parent -> child. Orders are deterministic (sorted within a level).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class DependencyGraph:
    """Parents-before-children ordering over a set of pcf_ids."""

    @classmethod
    def from_parents(cls, parents: Mapping[str, Iterable[str]]) -> DependencyGraph:
        """The graph of ``{pcf_id: its parents}``; a parent outside the mapping is left out (not applied here)."""
        return cls(parents, [(parent, child) for child, named in parents.items() for parent in named
                             if parent in parents])

    def __init__(self, nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> None:
        self.nodes: list[str] = sorted(set(nodes))
        self._parents: dict[str, set[str]] = {n: set() for n in self.nodes}
        self._children: dict[str, set[str]] = {n: set() for n in self.nodes}
        for parent, child in edges:
            if parent not in self._parents or child not in self._parents:
                raise KeyError(f"edge {parent} -> {child} names a node outside the graph")
            self._parents[child].add(parent)
            self._children[parent].add(child)

    def parents_of(self, node: str) -> set[str]:
        """The nodes ``node`` depends on directly."""
        return set(self._parents[node])

    def find_cycle(self) -> list[str] | None:
        """One cycle as the list of its members in edge order, or ``None`` when the graph is a DAG."""
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(self.nodes, white)
        for root in self.nodes:
            if color[root] != white:
                continue
            stack: list[tuple[str, list[str]]] = [(root, sorted(self._children[root]))]
            path = [root]
            color[root] = grey
            while stack:
                node, pending = stack[-1]
                if not pending:
                    color[node] = black
                    stack.pop()
                    path.pop()
                    continue
                nxt = pending.pop(0)
                if color[nxt] == grey:
                    return path[path.index(nxt) :]
                if color[nxt] == white:
                    color[nxt] = grey
                    path.append(nxt)
                    stack.append((nxt, sorted(self._children[nxt])))
        return None

    def start_levels(self) -> list[list[str]]:
        """Levels for starting: every parent in an earlier level than its children."""
        return self._levels(self._parents)

    def stop_levels(self) -> list[list[str]]:
        """Levels for stopping/terminating: every child in an earlier level than its parents."""
        return self._levels(self._children)

    def _levels(self, before: dict[str, set[str]]) -> list[list[str]]:
        remaining = {n: len(before[n]) for n in self.nodes}
        after: dict[str, set[str]] = {n: set() for n in self.nodes}
        for node, deps in before.items():
            for dep in deps:
                after[dep].add(node)
        level = sorted(n for n, count in remaining.items() if count == 0)
        levels: list[list[str]] = []
        seen = 0
        while level:
            levels.append(level)
            seen += len(level)
            nxt = set()
            for node in level:
                for follower in after[node]:
                    remaining[follower] -= 1
                    if remaining[follower] == 0:
                        nxt.add(follower)
            level = sorted(nxt)
        if seen != len(self.nodes):
            raise ValueError(f"dependency cycle among {sorted(n for n, c in remaining.items() if c > 0)}")
        return levels

    def ancestors(self, node: str) -> set[str]:
        """Every node ``node`` depends on, transitively."""
        return self._reach(node, self._parents)

    def descendants(self, node: str) -> set[str]:
        """Every node that depends on ``node``, transitively."""
        return self._reach(node, self._children)

    @staticmethod
    def _reach(node: str, step: dict[str, set[str]]) -> set[str]:
        seen: set[str] = set()
        frontier = list(step[node])
        while frontier:
            current = frontier.pop()
            if current not in seen:
                seen.add(current)
                frontier.extend(step[current])
        return seen

    def ordered_subgraph(self, nodes: Iterable[str]) -> DependencyGraph:
        """The graph restricted to ``nodes``, keeping the order the rest of the graph puts between them: ``a`` is
        a parent of ``c`` when ``c`` depends on ``a`` through nodes left out (the nearest kept ancestors only)."""
        keep = set(nodes)
        edges: set[tuple[str, str]] = set()
        for node in keep:
            seen: set[str] = set()
            frontier = list(self._parents[node])
            while frontier:
                current = frontier.pop()
                if current in seen:
                    continue
                seen.add(current)
                if current in keep:
                    edges.add((current, node))
                else:
                    frontier.extend(self._parents[current])
        return DependencyGraph(keep, sorted(edges))
