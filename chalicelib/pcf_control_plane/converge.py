"""One visit of a particle by the execution converging it: read, decide, act once, read back.

The ``converge`` step does in one Lambda call what the particle machine's ``AcquireLease → Sync → transition →
Sync → Release`` did in five: it observes the particle (its parents with it), records the observation, and

- answers ``done`` when the particle is in its desired state, giving the lease back if this execution held it;
- answers ``later`` while a transition is in progress, a parent is not in its desired state (``readiness``) or
  another execution holds the lease;
- otherwise takes the lease (held until a visit finds the particle done, or ``particle_failed`` gives it back),
  carries out the transition with the same ClientToken scope as the ``transition`` step, reads the particle back
  and answers as above.

A lease is taken only to act: a particle already in its desired state is recorded and left, with no lease, unless
another execution holds it (then ``later``: that execution may be about to change it). The caller visits again
after ``later`` (a ``Wait`` in the workflow) and bounds the visits; the generation the first visit learned
(``generations``) is passed back on every later visit.
"""

from __future__ import annotations

from typing import cast

from pcf.core import State
from pcf.core.decision import TRANSITIONS, Action, Decision, decide_for
from pcf.core.particle import Particle
from pcf_control_plane.aws_errors import retryable_error
from pcf_control_plane.generations import check_planned
from pcf_control_plane.messages import ConvergeInput, ConvergeOutput, TransitionName
from pcf_control_plane.readiness import parents_first
from pcf_control_plane.rebuild import load_parents, load_particle
from pcf_control_plane.steps import ControlPlane, idempotency_scope
from pcf_control_plane.store import HistoryKind, Observation, StoredSpec


def converge(plane: ControlPlane, step: ConvergeInput) -> ConvergeOutput:
    """Bring ``step``'s particle one transition closer to its desired state (see the module docstring)."""
    store = plane.store
    spec, stored = load_particle(store, step.pcf_id)
    generation = check_planned(store, spec, step.execution, step.generation)
    lease = store.current_lease(step.pcf_id)
    if lease is not None and lease.owner != step.execution:
        return ConvergeOutput(pcf_id=step.pcf_id, action="later", generation=generation,
                              reason=f"its lease is held by {lease.owner}")
    held = lease is not None
    parents = load_parents(store, spec)
    particle = plane.observe(spec, parents)
    recorded = plane.store_observation(step, spec, particle, stored.observation)
    decision = parents_first(_decision(particle), particle, parents, step.execution)
    if decision.action not in TRANSITIONS:
        return _answer(plane, step, generation, decision, recorded, held=held)
    if not held:
        if not store.acquire_lease(step.pcf_id, step.execution, step.lease_seconds()):
            return ConvergeOutput(pcf_id=step.pcf_id, action="later", generation=generation,
                                  reason="another execution took its lease", state=recorded.state,
                                  resource_id=recorded.resource_id)
        store.add_history(step.pcf_id, HistoryKind.lease, {"acquired": True}, step.execution)
    action = decision.action
    _transition(plane, step, spec, particle, action, recorded)
    try:
        particle.sync_state()
        recorded = plane.store_observation(step, spec, particle, recorded)
    except Exception as error:  # best effort, as the transition step's read-back: the next visit reads it
        if retryable_error(error) is None:
            raise
        return ConvergeOutput(pcf_id=step.pcf_id, action="later", generation=generation, acted=_named(action),
                              reason=f"{action.value} done; its read-back was throttled")
    return _answer(plane, step, generation, _decision(particle), recorded, held=True, acted=action)


def _named(action: Action) -> TransitionName:
    assert action in TRANSITIONS
    return cast(TransitionName, action.value)


def _decision(particle: Particle) -> Decision:
    observed = particle.observed_state
    assert observed is not None
    return decide_for(particle, observed)


def _transition(plane: ControlPlane, step: ConvergeInput, spec: StoredSpec, particle: Particle, action: Action,
                recorded: Observation) -> None:
    """Carry out ``action`` with the ``transition`` step's ClientToken scope, and record it in the history."""
    particle.idempotency_scope = idempotency_scope(spec, recorded)
    creates = action is Action.start and particle.observed_state is State.terminated
    particle.run_transition(action)
    detail: dict[str, object] = {"action": action.value, "generation": spec.generation}
    if creates:
        detail["created"] = True
    plane.store.add_history(step.pcf_id, HistoryKind.transition, detail, step.execution)


def _answer(plane: ControlPlane, step: ConvergeInput, generation: int, decision: Decision, recorded: Observation,
            *, held: bool, acted: Action | None = None) -> ConvergeOutput:
    """``done`` (the lease given back when held) or ``later``, with what was last observed."""
    done = decision.action is Action.done
    if done and held and plane.store.release_lease(step.pcf_id, step.execution):
        plane.store.add_history(step.pcf_id, HistoryKind.lease, {"acquired": False}, step.execution)
    return ConvergeOutput(pcf_id=step.pcf_id, action="done" if done else "later", reason=decision.reason,
                          generation=generation, acted=_named(acted) if acted else None,
                          state=recorded.state, resource_id=recorded.resource_id)
