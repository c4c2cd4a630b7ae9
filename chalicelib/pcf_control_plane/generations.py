"""Which generation of a particle's desired spec an execution converges, and whether a newer plan replaced it.

``plan`` (and a heal's plan, and ``rollback``) writes a history item per particle naming the spec generation it
planned, caused by its execution. Two executions planning the same particle to different desired states
(a ``run`` and a ``terminate`` started together) would otherwise both converge it to whichever plan wrote
last, and both succeed. Instead the execution whose generation was replaced fails with ``SupersededError``
at its next visit of the particle (``converge``), and leaves the particle to the newer execution, which waits
for its lease meanwhile.

A run's page holds the generation each of its particles was planned at (``plan_page``), and every visit is
given it; a visit that is not looks it up once (one history query) and answers it for the next.
"""

from __future__ import annotations

from pcf_control_plane.errors import SupersededError
from pcf_control_plane.store import HistoryItem, HistoryKind, StateStore, StoredSpec

LOOKBACK = 50
"""Newest history items of a particle searched for its execution's plan: a plan, then the lease, a few
observations and transitions, perhaps another execution's plan and some events come after it."""
PLANNING = (HistoryKind.plan, HistoryKind.rollback)


def planned_generation(store: StateStore, pcf_id: str, execution: str) -> int | None:
    """The generation ``execution`` last planned for ``pcf_id``; ``None`` when it planned none lately (a step
    invoked on its own, outside an execution)."""
    return planned_generation_in(store.list_history(pcf_id, limit=LOOKBACK), execution)


def planned_generation_in(history: list[HistoryItem], execution: str) -> int | None:
    """The generation ``execution`` last planned, in a particle's ``history`` (newest first)."""
    for item in history:
        if item.cause == execution and item.kind in PLANNING and "generation" in item.detail:
            return int(item.detail["generation"])
    return None


def check_planned(store: StateStore, spec: StoredSpec, execution: str, known: int = 0) -> int:
    """The generation ``execution`` converges ``spec``'s particle to (``known``, else looked up; 0 when it
    planned none); ``SupersededError`` when the stored spec is another generation."""
    planned = known or planned_generation(store, spec.pcf_id, execution) or 0
    if planned and planned != spec.generation:
        raise SupersededError(f"{spec.pcf_id}: this execution planned generation {planned}, but generation "
                              f"{spec.generation} (desired {spec.desired_state}) replaced it, planned by "
                              f"{_planner(store, spec)}; left to that execution")
    return planned


def _planner(store: StateStore, spec: StoredSpec) -> str:
    for item in store.list_history(spec.pcf_id, limit=LOOKBACK):
        if item.kind in PLANNING and item.detail.get("generation") == spec.generation:
            return item.cause.rsplit(":", 1)[-1]
    return "a newer execution"
