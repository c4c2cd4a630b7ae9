"""Planning an ``apply`` of some members of a definition (``PlanInput.only``), e.g. ``pcf stop worker-1``.

The named members, and what an apply of them brings along (their ancestors, to ``running``, when starting; with
``cascade``, their descendants, to the same state, when stopping or terminating), get the requested desired
state and are the only particles the execution runs. Every other member keeps the desired state the store holds
for it, so one member's deliberate change is not another path's drift, and nobody else's is undone; a member
with no stored spec yet is stored at the definition's desired state. The whole resulting desired configuration
is checked as one (a member desired running needs its parents desired running).
"""

from __future__ import annotations

from pcf.core import State
from pcf.core.apply_engine import check_before_acting
from pcf.core.particle import Particle
from pcf_control_plane.errors import ExecutionInputError
from pcf_control_plane.messages import PlanInput
from pcf_control_plane.store import StateStore

DOWN = (State.stopped, State.terminated)


def choose_members(
    members: list[Particle], request: PlanInput, store: StateStore
) -> tuple[list[Particle], list[Particle]]:
    """The particles the execution changes and runs (their desired states set), and the other members to store
    because nothing is stored for them yet. The rest take their stored desired state and are left as stored."""
    assert request.only is not None
    by_id = {particle.pcf_id: particle for particle in members}
    unknown = [pcf_id for pcf_id in request.only if pcf_id not in by_id]
    if unknown:
        raise ExecutionInputError("only", f"{', '.join(unknown)}: not a member of the definition "
                                          f"(members: {', '.join(sorted(by_id))})")
    chosen: dict[str, Particle] = {}
    for pcf_id in request.only:
        particle = by_id[pcf_id]
        if request.desired_state:
            particle.set_desired_state(request.desired_state)
        chosen[pcf_id] = particle
    for particle in list(chosen.values()):
        if particle.desired_state is State.running:
            relatives, state = particle.ancestors(), State.running
        elif request.cascade and particle.desired_state in DOWN:
            relatives, state = particle.descendants(), particle.desired_state
        else:
            continue
        for relative in sorted(relatives, key=lambda p: p.pcf_id):
            if relative.pcf_id in by_id and relative.pcf_id not in request.only:
                relative.desired_state = state
                chosen.setdefault(relative.pcf_id, relative)
    others = [particle for particle in members if particle.pcf_id not in chosen]
    stored = store.get_many([particle.pcf_id for particle in others])
    unstored = []
    for particle in others:
        record = stored.get(particle.pcf_id)
        if record is not None and record.spec is not None:
            particle.desired_state = State[record.spec.desired_state]
        elif particle.desired_state is not None:
            unstored.append(particle)
    check_before_acting([particle for particle in members if particle.desired_state is not None])
    return list(chosen.values()), unstored
