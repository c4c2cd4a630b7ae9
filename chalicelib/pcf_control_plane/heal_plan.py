"""Planning a healing ``apply`` from the store, and the healing policy a definition gives its particles.

A heal needs no definition: the particle's spec is stored. The plan is the particle and every particle
that depends on it (transitively, within its quasiparticle), each at its stored desired state, in the usual
order: children stopped before parents, parents started before children. So a restarted master is followed
by a check of each of its workers. The ancestors of those that are not in their desired state (by their stored
observations; healing allowed) come first: a worker stopped together with its master is healed after it,
whichever of the two heals runs first (a visit also waits for them; see ``readiness``). A particle a
rollback left out (``rolled_back_by``) is left out of every heal until a new apply plans it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pcf.core.level_plan import phase_levels
from pcf.core.pcf_exceptions import DefinitionError
from pcf_control_plane.messages import PlanInput, PlannedPhase, PlanOutput
from pcf_control_plane.readiness import in_desired_state
from pcf_control_plane.rebuild import load_spec
from pcf_control_plane.store import HistoryKind, StateStore, StoredSpec
from pcf_control_plane.store.models import spec_graph

DRIFT_POLICIES = ("revert", "report")


def policy(pcf_id: str, definition: Mapping[str, Any], group: Mapping[str, Any]) -> dict[str, Any]:
    """``heal`` (default true) and ``drift`` (``revert``/``report``, default revert) of a particle: its own
    definition's, else its quasiparticle's."""
    heal = _first_set(definition.get("heal"), group.get("heal"), True)
    drift = _first_set(definition.get("drift"), group.get("drift"), "revert")
    if not isinstance(heal, bool):
        raise DefinitionError(f"{pcf_id}.heal", f"must be true or false, not {heal!r}")
    if drift not in DRIFT_POLICIES:
        raise DefinitionError(f"{pcf_id}.drift", f"must be one of {', '.join(DRIFT_POLICIES)}, not {drift!r}")
    return {"heal": heal, "drift": drift}


def _first_set(*values: Any) -> Any:
    return next(value for value in values if value is not None)


def plan_heal(store: StateStore, request: PlanInput) -> PlanOutput:
    """The levels healing ``request.heal`` runs: it, then its dependants (see the module docstring)."""
    assert request.heal is not None
    spec = load_spec(store, request.heal)
    members = store.members_of(spec.quasiparticle) if spec.quasiparticle else [spec.pcf_id]
    records = {pcf_id: record for pcf_id, record in store.get_many(members).items() if record.spec}
    specs = {pcf_id: record.spec for pcf_id, record in records.items() if record.spec}
    specs[spec.pcf_id] = spec
    graph = spec_graph(specs)
    chosen = {spec.pcf_id} | graph.descendants(spec.pcf_id)
    chosen |= {ancestor for pcf_id in chosen for ancestor in graph.ancestors(pcf_id)
               if ancestor in records and specs[ancestor].flags.heal and not in_desired_state(records[ancestor])}
    left_out = {pcf_id for pcf_id in chosen if specs[pcf_id].flags.rolled_back_by}
    chosen -= left_out
    for pcf_id in sorted(left_out):
        store.add_history(pcf_id, HistoryKind.plan, {"heal": request.heal, "left_out": rolled_back(specs[pcf_id])},
                          request.execution)
    desired = {pcf_id: specs[pcf_id].desired_state for pcf_id in chosen}
    phases = [PlannedPhase(phase=phase, levels=levels) for phase, levels in phase_levels(graph, desired)]
    for pcf_id in sorted(chosen):
        store.add_history(pcf_id, HistoryKind.plan, {"heal": request.heal, "desired_state": specs[pcf_id].desired_state,
                                                     "generation": specs[pcf_id].generation}, request.execution)
    return PlanOutput(pcf_id=spec.pcf_id, particles=len(chosen), phases=phases,
                      generations={pcf_id: specs[pcf_id].generation for pcf_id in sorted(chosen)},
                      settings=request.settings())


def rolled_back(spec: StoredSpec) -> str:
    """Why a particle a rollback left out is not healed (see ``ParticleFlags.rolled_back_by``)."""
    return (f"rolled back by {str(spec.flags.rolled_back_by).rsplit(':', 1)[-1]}: "
            "left as it is until a new apply plans it")
