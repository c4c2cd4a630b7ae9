"""Rollback of a failed execution: terminate what it created, children first, and nothing else.

A resource counts as created by the execution when the execution's own ``start`` transition found no
resource (the history records ``created: true``). Resources that existed before, and particles with
``persist_on_termination``, are left alone. The chosen particles' desired state becomes ``terminated``
(a new generation, with a ``rollback`` history item naming the error), so later syncs and healing do not
bring them back; the workflow then runs them through the same per-particle machine as any plan.
"""

from __future__ import annotations

from pcf.core.graph import DependencyGraph
from pcf_control_plane.messages import PlannedPhase, RollbackInput, RollbackOutput
from pcf_control_plane.outcome import read_failure
from pcf_control_plane.store import HistoryKind, ParticleSpec, StateStore, StoredSpec

HISTORY_WINDOW = 200
"""Newest history items searched for the execution's creation of a particle."""


def created_by(store: StateStore, pcf_id: str, execution: str) -> bool:
    """Did ``execution`` create ``pcf_id``'s resource (its ``start`` found none)?"""
    return any(
        item.kind is HistoryKind.transition and item.cause == execution and item.detail.get("created")
        for item in store.list_history(pcf_id, limit=HISTORY_WINDOW)
    )


def plan_rollback(store: StateStore, request: RollbackInput) -> RollbackOutput:
    """Mark for termination what ``request.execution`` created under ``request.pcf_id``; return its phases."""
    members = store.members_of(request.pcf_id) or [request.pcf_id]
    specs = {pcf_id: record.spec for pcf_id, record in store.get_many(members).items() if record.spec}
    chosen = sorted(
        pcf_id for pcf_id, spec in specs.items()
        if not spec.flags.persist_on_termination and created_by(store, pcf_id, request.execution)
    )
    error, _message = read_failure(request.error) if request.error else ("unknown", "")
    for pcf_id in chosen:
        store.put_spec(_terminated(specs[pcf_id]))
        store.add_history(pcf_id, HistoryKind.rollback, {"desired_state": "terminated", "error": error},
                          request.execution)
    graph = DependencyGraph(specs, [(parent, child) for child, spec in specs.items()
                                    for parent in spec.definition.get("parents", []) if parent in specs])
    # Order through pre-existing members too: a created grandchild goes before its created grandparent.
    keep = set(chosen)
    ordered = DependencyGraph(keep, [(ancestor, pcf_id) for pcf_id in keep for ancestor in graph.ancestors(pcf_id)
                                     if ancestor in keep])
    levels = ordered.stop_levels()
    phases = [PlannedPhase(phase="stop", levels=levels)] if levels else []
    return RollbackOutput(pcf_id=request.pcf_id, particles=chosen, phases=phases)


def _terminated(spec: StoredSpec) -> ParticleSpec:
    fields = spec.model_dump(include=set(ParticleSpec.model_fields))
    return ParticleSpec.model_validate({**fields, "desired_state": "terminated"})
