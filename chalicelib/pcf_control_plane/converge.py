"""One visit of a particle by the execution converging it: read, decide, act once, read back, commit.

The ``converge`` step does in one Lambda call what the former particle machine's ``AcquireLease → Sync → transition
→ Sync → Release`` did in five. It reads the particle with its parents (one read: ``read_family``), observes it in
the cloud, and

- answers ``done`` when the particle is in its desired state, giving the lease back if this execution held it and
  marking the particle ``converged_by`` the execution;
- answers ``await`` while a transition is in progress whose end AWS announces with an event (the flavor's
  ``ResourceTable.awaited``), when the execution waits for events (``waits``): the page machine then waits for
  the event handler to resume it instead of polling;
- answers ``later`` while any other transition is in progress, a parent is not in its desired state
  (``readiness``) or another execution holds the lease;
- otherwise takes the lease (held until a visit finds the particle done, or ``particle_failed`` gives it back),
  carries out the transition with its ClientToken scoped by the generation and the last resource seen, reads the
  particle back and answers as above.

Everything a visit records goes in one commit (``commit_converge``: the observation, the history items in order, the
``created`` mark, ``converged_by`` and the lease's release), and a visit that changes nothing writes nothing. A
lease is taken only to act: a particle already in its desired state is recorded and left, with no lease, unless
another execution holds it (then ``later``: that execution may be about to change it). The caller visits again after
``later`` and bounds the visits; the generation (``generations``) comes from the plan, or the first visit looks it
up and the caller passes it back.
"""

from __future__ import annotations

from typing import Any, cast

from pcf.core import State
from pcf.core.decision import TRANSITIONS, Action, Decision, decide_for
from pcf.core.particle import Particle
from pcf.core.resource_table import table_of
from pcf_control_plane.aws_errors import retryable_error
from pcf_control_plane.generations import check_planned
from pcf_control_plane.messages import ConvergeInput, ConvergeOutput, TransitionName, VisitAction
from pcf_control_plane.readiness import parents_first
from pcf_control_plane.rebuild import unplanned
from pcf_control_plane.steps import LAST_RESOURCE, ControlPlane, idempotency_scope
from pcf_control_plane.store import Family, HistoryKind, Observation, ParticleRecord, StoredSpec
from pcf_control_plane.store.converge import ConvergeCommit, HistoryEntry, ParticleState, commit_token
from pcf_control_plane.store.models import ObservedState


def converge(plane: ControlPlane, step: ConvergeInput) -> ConvergeOutput:
    """Bring ``step``'s particle one transition closer to its desired state (see the module docstring)."""
    family = _family(plane, step)
    own = family.particle
    assert own.spec is not None
    spec = own.spec
    generation = check_planned(plane.store, spec, step.execution, step.generation)
    if own.lease is not None and own.lease.owner != step.execution:
        return ConvergeOutput(pcf_id=step.pcf_id, action="later", generation=generation, visits=step.visits + 1,
                              reason=f"its lease is held by {own.lease.owner}", lease_holder=own.lease.owner)
    visit = _Visit(plane, step, spec, own, generation)
    parents = {pcf_id: _record(state) for pcf_id, state in family.parents.items()}
    trusted = {pcf_id for pcf_id, state in family.parents.items() if state.converged_by == step.execution}
    particle = plane.observe(spec, parents)
    seen = visit.seen(particle)
    decision = parents_first(_decision(particle), particle, parents, step.execution, trusted=trusted)
    if decision.action not in TRANSITIONS:
        return visit.answer(decision, seen, awaits=_awaits(particle, step))
    if not visit.held:
        if not plane.store.acquire_lease(step.pcf_id, step.execution, step.lease_seconds()):
            return visit.answer(Decision(Action.wait, "another execution took its lease"), seen)
        visit.took_lease()
    action = decision.action
    visit.act(particle, action, seen)
    try:
        particle.sync_state()
    except Exception as error:  # best effort, as the transition step's read-back: the next visit reads it
        if retryable_error(error) is None:
            raise
        return visit.answer(Decision(Action.wait, f"{action.value} done; its read-back was throttled"), seen)
    return visit.answer(_decision(particle), visit.seen(particle, after=seen), awaits=_awaits(particle, step))


class _Visit:
    """What one visit has done so far, and the commit that records it."""

    def __init__(self, plane: ControlPlane, step: ConvergeInput, spec: StoredSpec, own: ParticleState,
                 generation: int) -> None:
        self.plane, self.step, self.spec, self.own, self.generation = plane, step, spec, own, generation
        self.held = own.lease is not None
        self.history: list[HistoryEntry] = []
        self.created = False
        self.acted: Action | None = None
        self.found: ObservedState | None = None
        self.seen_at = 0.0

    def seen(self, particle: Particle, after: Observation | None = None) -> Observation:
        """What ``particle`` was just seen as (newer than ``after``, else than the stored observation); a history
        item when its state changed."""
        previous = after or self.own.observation
        observation = self.plane.observation_of(self.step, self.spec, particle, previous)
        if previous is None or previous.state != observation.state:
            self.history.append(HistoryEntry(kind=HistoryKind.observation, at=observation.observed_at, detail={
                "state": observation.state, "resource_id": observation.resource_id}))
        self.seen_at = observation.observed_at
        return observation

    def took_lease(self) -> None:
        self.held = True
        self.history.append(HistoryEntry(kind=HistoryKind.lease, at=self.seen_at, detail={"acquired": True}))

    def act(self, particle: Particle, action: Action, seen: Observation) -> None:
        """Carry out ``action`` with the ``transition`` step's ClientToken scope."""
        particle.idempotency_scope = idempotency_scope(self.spec, seen)
        self.found = seen.state
        self.created = action is Action.start and particle.observed_state is State.terminated
        particle.run_transition(action)
        self.acted = action
        detail: dict[str, Any] = {"action": action.value, "generation": self.spec.generation}
        if self.created:
            detail["created"] = True
        self.history.append(HistoryEntry(kind=HistoryKind.transition, at=self.seen_at, detail=detail))

    def answer(self, decision: Decision, seen: Observation, awaits: bool = False) -> ConvergeOutput:
        """Commit what the visit did (nothing when it changed nothing) and answer ``done``, ``await`` (``awaits``:
        a wait that an event ends) or ``later``."""
        done = decision.action is Action.done
        release = done and self.held
        if done and self.own.converged_by != self.step.execution and not any(
                entry.kind is HistoryKind.observation for entry in self.history):
            # the execution reached it, even when nothing changed: rollback tells reached from not reached by this
            self.history.append(HistoryEntry(kind=HistoryKind.observation, detail={
                "state": seen.state, "resource_id": seen.resource_id, "converged": True}))
        if release:
            self.history.append(HistoryEntry(kind=HistoryKind.lease, detail={"acquired": False}))
        if self._changes(seen, done):
            self.plane.store.commit_converge(ConvergeCommit(
                pcf_id=self.step.pcf_id, execution=self.step.execution, observation=seen,
                token=commit_token(self.step.execution, self.step.pcf_id, seen.observed_at, len(self.history)),
                history=tuple(self.history), created=self.created, converged=done, release_lease=release))
        action: VisitAction = "done" if done else "await" if awaits and seen.resource_id else "later"
        return ConvergeOutput(pcf_id=self.step.pcf_id, action=action, reason=decision.reason,
                              generation=self.generation, visits=self.step.visits + 1,
                              want=self.spec.desired_state if action == "await" else None,
                              acted=_named(self.acted) if self.acted else None,
                              state=seen.state, resource_id=seen.resource_id,
                              found=self.found if self.acted else None,
                              last_resource_id=seen.snapshot.get(LAST_RESOURCE))

    def _changes(self, seen: Observation, done: bool) -> bool:
        stored = self.own.observation
        unchanged = stored is not None and (stored.state, stored.resource_id, stored.snapshot) == (
            seen.state, seen.resource_id, seen.snapshot)
        marked = not done or self.own.converged_by == self.step.execution
        waited = done and self.own.wait is not None  # a wait left on it would be resolved by a later event
        return bool(self.history) or not unchanged or not marked or waited


def _family(plane: ControlPlane, step: ConvergeInput) -> Family:
    """The particle and its parents in one read (a second when its stored parents are not the ones given)."""
    family = plane.store.read_family(step.pcf_id, step.parents)
    if family.particle.spec is None:
        raise unplanned(step.pcf_id)
    if family.unread_parents:
        family = plane.store.read_family(step.pcf_id, family.particle.parents)
    return family


def _record(state: ParticleState) -> ParticleRecord:
    return ParticleRecord(pcf_id=state.pcf_id, spec=state.spec, observation=state.observation)


def _named(action: Action) -> TransitionName:
    assert action in TRANSITIONS
    return cast(TransitionName, action.value)


def _awaits(particle: Particle, step: ConvergeInput) -> bool:
    """Is the particle in a transition whose end an event announces, for an execution that waits for events?"""
    table = table_of(type(particle))
    return (step.waits == "events" and particle.observed_state is State.pending and table is not None
            and table.awaits_event(particle.current_state_definition))


def _decision(particle: Particle) -> Decision:
    observed = particle.observed_state
    assert observed is not None
    return decide_for(particle, observed)
