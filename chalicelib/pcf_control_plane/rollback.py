"""Rollback of a failed execution: terminate what it created, children first, and hold back what it left.

A resource counts as created by the execution when the execution's own ``start`` transition found no
resource (the history records ``created: true``). Resources that existed before, and particles with
``persist_on_termination``, are never terminated. The created particles' desired state becomes
``terminated`` (a new generation, with a ``rollback`` history item naming the error), and the workflow runs
them through the same page machine as any plan.

The particles the execution planned but did not converge (the one that failed, those of the levels it never
reached) keep their desired state but are marked ``rolled_back_by`` the execution (a new generation too, and a
``rollback`` item saying ``failed`` or ``not reached``): neither the schedule nor an event starts, creates or
updates them (``Healer``, ``plan_heal``), so reconciliation does not undo the rollback. The next plan of
the particle writes its flags without the mark, which clears it. A particle whose spec a newer plan replaced
belongs to that plan's execution and is left alone.
"""

from __future__ import annotations

from pcf.core.level_plan import rollback_levels
from pcf_control_plane.generations import planned_generation_in
from pcf_control_plane.messages import PlannedPhase, RollbackInput, RollbackOutput
from pcf_control_plane.outcome import read_failure
from pcf_control_plane.store import HistoryItem, HistoryKind, ParticleSpec, StateStore, StoredSpec
from pcf_control_plane.store.models import spec_graph

REACHED = (HistoryKind.observation, HistoryKind.transition)
"""History kinds an execution writes only for a particle it reached (``converge`` records one when it finds the
particle already converged, without a lease)."""
HISTORY_WINDOW = 200
"""Newest history items searched for what the execution did to a particle."""


def _created(history: list[HistoryItem], execution: str) -> bool:
    """Did ``execution`` create the particle's resource (its ``start`` found none)?"""
    return any(item.kind is HistoryKind.transition and item.cause == execution and item.detail.get("created")
               for item in history)


def left_by(history: list[HistoryItem], execution: str) -> str | None:
    """``failed`` or ``not reached`` when ``execution`` did not converge the particle; ``None`` when it did."""
    own = [item for item in history if item.cause == execution]
    if any(item.kind is HistoryKind.error for item in own):
        return "failed"
    if not any(item.kind in REACHED or (item.kind is HistoryKind.lease and item.detail.get("acquired"))
               for item in own):
        return "not reached"
    return None


def plan_rollback(store: StateStore, request: RollbackInput) -> RollbackOutput:
    """Mark for termination what ``request.execution`` created under ``request.pcf_id``, hold back what it left
    (see the module docstring); return the phases that terminate."""
    members = store.members_of(request.pcf_id) or [request.pcf_id]
    specs = {pcf_id: record.spec for pcf_id, record in store.get_many(members).items() if record.spec}
    error, _message = read_failure(request.error) if request.error else ("unknown", "")
    chosen: list[str] = []
    for pcf_id, spec in sorted(specs.items()):
        history = store.list_history(pcf_id, limit=HISTORY_WINDOW)
        planned = planned_generation_in(history, request.execution)
        if planned is not None and planned != spec.generation:
            continue  # a newer plan owns it now
        if _created(history, request.execution) and not spec.flags.persist_on_termination:
            generation = store.put_spec(_rolled_back(spec, request.execution, "terminated"))
            store.add_history(pcf_id, HistoryKind.rollback, {"desired_state": "terminated", "error": error,
                                                             "generation": generation}, request.execution)
            chosen.append(pcf_id)
        elif (left := left_by(history, request.execution)) is not None:
            generation = store.put_spec(_rolled_back(spec, request.execution, spec.desired_state))
            store.add_history(pcf_id, HistoryKind.rollback, {
                "left_out": left, "desired_state": spec.desired_state, "error": error, "generation": generation,
            }, request.execution)
    levels = rollback_levels(spec_graph(specs), chosen)
    phases = [PlannedPhase(phase="stop", levels=levels)] if levels else []
    return RollbackOutput(pcf_id=request.pcf_id, particles=chosen, phases=phases)


def _rolled_back(spec: StoredSpec, execution: str, desired_state: str) -> ParticleSpec:
    fields = spec.model_dump(include=set(ParticleSpec.model_fields))
    flags = {**fields["flags"], "rolled_back_by": execution}
    return ParticleSpec.model_validate({**fields, "desired_state": desired_state, "flags": flags})
