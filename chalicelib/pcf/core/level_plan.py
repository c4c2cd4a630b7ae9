"""The one planner of levels: which particles act together and in which order, for an apply, a plan, a heal
and a rollback, in library mode and in the control plane alike.

Particles desired stopped or terminated go first, children before parents (the ``stop`` phase); then those
desired running, parents before children (the ``start`` phase). A rollback terminates what an apply created,
children first. Each phase is ordered through the whole dependency graph: a particle left out of it (a
pre-existing middle particle a rollback keeps, an ancestor a heal does not need) still orders those around it, so
a created grandchild is terminated before its created grandparent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from pcf.core.graph import DependencyGraph

Phase = Literal["stop", "start"]
STOPPING = ("stopped", "terminated")
"""Desired states planned in the ``stop`` phase; ``running`` is planned in the ``start`` phase."""


def phase_levels(graph: DependencyGraph, desired: Mapping[str, str]) -> list[tuple[Phase, list[list[str]]]]:
    """``[(phase, levels)]`` for the particles of ``desired`` (pcf_id -> desired state name), phases without
    particles left out."""
    down = [pcf_id for pcf_id, state in desired.items() if state in STOPPING]
    up = [pcf_id for pcf_id, state in desired.items() if state == "running"]
    phases: list[tuple[Phase, list[list[str]]]] = [("stop", graph.ordered_subgraph(down).stop_levels()),
              ("start", graph.ordered_subgraph(up).start_levels())]
    return [(phase, levels) for phase, levels in phases if levels]


def rollback_levels(graph: DependencyGraph, created: Iterable[str]) -> list[list[str]]:
    """The levels terminating ``created``, children first."""
    return graph.ordered_subgraph(created).stop_levels()
