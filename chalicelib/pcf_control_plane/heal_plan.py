"""Planning a healing ``apply`` from the store, and the healing policy a definition gives its particles.

A heal needs no definition: the particle's spec is stored. The plan is the particle and every particle
that depends on it (transitively, within its quasiparticle), each at its stored desired state, in the usual
order: children stopped before parents, parents started before children. So a restarted master is followed
by a check of each of its workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pcf.core.graph import DependencyGraph
from pcf.core.pcf_exceptions import DefinitionError
from pcf_control_plane.messages import PlanInput, PlannedPhase, PlanOutput
from pcf_control_plane.rebuild import load_spec
from pcf_control_plane.store import HistoryKind, StateStore

DRIFT_POLICIES = ("revert", "report")


def policy(pcf_id: str, definition: Mapping[str, Any], group: Mapping[str, Any]) -> dict[str, Any]:
    """``heal`` (default true) and ``drift`` (``revert``/``report``, default revert) of a particle: its own
    definition's, else its quasiparticle's."""
    heal = definition.get("heal", group.get("heal", True))
    drift = definition.get("drift", group.get("drift", "revert"))
    if not isinstance(heal, bool):
        raise DefinitionError(f"{pcf_id}.heal", f"must be true or false, not {heal!r}")
    if drift not in DRIFT_POLICIES:
        raise DefinitionError(f"{pcf_id}.drift", f"must be one of {', '.join(DRIFT_POLICIES)}, not {drift!r}")
    return {"heal": heal, "drift": drift}


def plan_heal(store: StateStore, request: PlanInput) -> PlanOutput:
    """The levels healing ``request.heal`` runs: it, then its dependants (see the module docstring)."""
    assert request.heal is not None
    spec = load_spec(store, request.heal)
    members = store.members_of(spec.quasiparticle) if spec.quasiparticle else [spec.pcf_id]
    specs = {pcf_id: record.spec for pcf_id, record in store.get_many(members).items() if record.spec}
    specs[spec.pcf_id] = spec
    graph = DependencyGraph(specs, [(parent, child) for child, member in specs.items()
                                    for parent in member.definition.get("parents", []) if parent in specs])
    chosen = {spec.pcf_id} | graph.descendants(spec.pcf_id)
    down = [pcf_id for pcf_id in chosen if specs[pcf_id].desired_state in ("stopped", "terminated")]
    up = [pcf_id for pcf_id in chosen if specs[pcf_id].desired_state == "running"]
    phases = []
    if down:
        phases.append(PlannedPhase(phase="stop", levels=graph.subgraph(down).stop_levels()))
    if up:
        phases.append(PlannedPhase(phase="start", levels=graph.subgraph(up).start_levels()))
    for pcf_id in sorted(chosen):
        store.add_history(pcf_id, HistoryKind.plan, {"heal": request.heal, "desired_state": specs[pcf_id].desired_state,
                                                     "generation": specs[pcf_id].generation}, request.execution)
    return PlanOutput(pcf_id=spec.pcf_id, particles=len(chosen), phases=phases,
                      generations={pcf_id: specs[pcf_id].generation for pcf_id in sorted(chosen)},
                      settings=request.settings())
