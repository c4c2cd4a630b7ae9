"""The control plane's steps, one per Lambda: plan, sync_state, a transition, lease and release.

Each step is idempotent: re-run with the same input it neither creates a second resource (ClientTokens are
scoped by the spec's generation and the last resource seen) nor loses an update (observations are written
newest-wins, specs by generation).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from pcf.core import State
from pcf.core.apply_engine import PlannedLevel, plan_levels
from pcf.core.aws_resource import AWSResource
from pcf.core.builder import build
from pcf.core.decision import Action, decide_for
from pcf.core.particle import Particle
from pcf.core.pcf_exceptions import DefinitionError
from pcf.core.quasiparticle import Quasiparticle
from pcf.core.resource_table import observation_snapshot, resource_id_of
from pcf.util.aws.clients import ClientFactory
from pcf.util.aws.tag_specifications import deployment_name
from pcf.util.templates import render_batch
from pcf_control_plane.aws_errors import retryable_error
from pcf_control_plane.errors import LeaseHeldError
from pcf_control_plane.generations import check_planned
from pcf_control_plane.heal_plan import plan_heal, policy
from pcf_control_plane.inherit import EXPORTS, exported_values, exports_by_parent, stored_parent_view
from pcf_control_plane.member_plan import choose_members
from pcf_control_plane.messages import (
    LeaseInput,
    LeaseOutput,
    LevelOutput,
    LevelResults,
    ParticleFailure,
    ParticleResult,
    ParticleStep,
    PlanInput,
    PlannedPhase,
    PlanOutput,
    RollbackInput,
    RollbackOutput,
    RootStep,
    SummaryOutput,
    SyncInput,
    SyncOutput,
    TransitionInput,
    TransitionOutput,
)
from pcf_control_plane.outcome import check_level, failure_result
from pcf_control_plane.readiness import parents_first
from pcf_control_plane.rebuild import load_parents, load_particle, load_spec, rebuild
from pcf_control_plane.rollback import plan_rollback
from pcf_control_plane.store import (
    HistoryKind,
    Observation,
    ParticleFlags,
    ParticleRecord,
    ParticleSpec,
    RunFailure,
    StateStore,
    StoredSpec,
)
from pcf_control_plane.store.models import desired_name, observed_name

PLAN_WRITERS = 16
"""Particles whose specs ``plan`` writes at once: 4 DynamoDB calls each, one after another, would take
1,000 particles ~20 s at 5 ms a call; 16 at a time, ~1.3 s."""

LAST_RESOURCE = "last_resource_id"
"""Snapshot key: the last resource id ever seen for the particle, carried across its disappearance so that a
re-creation gets a fresh ClientToken scope while a retried creation keeps its own."""

RECENT_HISTORY = 5
"""History items read back per failed particle to find its recorded failure (it is among the newest)."""


@dataclass(frozen=True)
class Planned:
    """A definition's plan before anything is stored: its root, how many particles run, their levels (in order)
    and the specs to store."""

    pcf_id: str
    particles: int
    levels: list[PlannedLevel]
    specs: list[ParticleSpec]


class ControlPlane:
    """The steps, over one state store and one client factory, on an injected clock."""

    def __init__(
        self,
        store: StateStore,
        clients: ClientFactory,
        *,
        clock: Callable[[], float] = time.time,
        deployment: str | None = None,
    ) -> None:
        self.store = store
        self.clients = clients
        self.clock = clock
        self.deployment = deployment or deployment_name()

    # -- plan -----------------------------------------------------------------------------------
    def plan(self, request: PlanInput) -> PlanOutput:
        """Validate the definition, store every particle's desired spec, return the levels to run (or, with
        ``heal``, the stored particle and its dependants, at their stored desired states; with ``only``, those
        members and what they bring along, the others keeping their stored desired states: ``member_plan``)."""
        if request.heal is not None:
            return plan_heal(self.store, request)
        planned = self.planned(request)
        generations = self.store_specs(planned.specs, request.execution)
        phases: dict[Literal["stop", "start"], list[list[str]]] = {}
        for level in planned.levels:
            phases.setdefault(level.phase, []).append(level.pcf_ids)
        return PlanOutput(
            pcf_id=planned.pcf_id,
            particles=planned.particles,
            phases=[PlannedPhase(phase=phase, levels=ids) for phase, ids in phases.items()],
            generations=generations,
            settings=request.settings(),
        )

    def planned(self, request: PlanInput) -> Planned:
        """The definition of ``request`` built and validated, its levels and the spec of every member to store
        (with ``only``, those run and those never stored); nothing is written."""
        assert request.definition is not None
        with render_batch():  # every member's user data template checked in one child process
            root = build(request.definition)
        if request.desired_state and request.only is None:
            root.set_desired_state(request.desired_state)
        members = root.members() if isinstance(root, Quasiparticle) else [root]
        planned, written = members, members
        if request.only is not None:  # some members: the others keep their stored desired states
            planned, unstored = choose_members(list(members), request, self.store)
            written = planned + unstored
        quasiparticle = root.pcf_id if isinstance(root, Quasiparticle) else None
        group_policy = root.normalized_definition if isinstance(root, Quasiparticle) else {}
        exports = exports_by_parent(members)
        specs = [ParticleSpec(
            pcf_id=particle.pcf_id,
            definition=_storable_definition(particle),
            desired_state=desired_name(particle.desired_state),
            deployment=self.deployment,
            quasiparticle=quasiparticle,
            flags=ParticleFlags(
                persist_on_termination=particle.persist_on_termination,
                persist_on_update=particle.persist_on_update,
                **policy(particle.pcf_id, particle.normalized_definition, group_policy),
            ),
            exports=exports.get(particle.pcf_id, ()),
        ) for particle in written]  # every member is checked before anything is written
        return Planned(pcf_id=root.pcf_id, particles=len(planned), levels=plan_levels(planned), specs=specs)

    def store_specs(self, specs: list[ParticleSpec], execution: str) -> dict[str, int]:
        """Each spec and its ``plan`` history item, ``PLAN_WRITERS`` particles at a time; the generations."""

        def store(spec: ParticleSpec) -> int:
            generation = self.store.put_spec(spec)
            self.store.add_history(spec.pcf_id, HistoryKind.plan,
                                   {"desired_state": spec.desired_state, "generation": generation}, execution)
            return generation

        if len(specs) == 1:
            return {specs[0].pcf_id: store(specs[0])}
        # Each write runs in a copy of this invocation's context (its log keys, its credentials in the local cloud).
        contexts = [contextvars.copy_context() for _ in specs]
        with ThreadPoolExecutor(max_workers=min(PLAN_WRITERS, len(specs)), thread_name_prefix="plan") as pool:
            written = pool.map(lambda context, spec: context.run(store, spec), contexts, specs)
            return dict(zip([spec.pcf_id for spec in specs], written, strict=True))

    # -- sync_state -----------------------------------------------------------------------------
    def sync_state(self, step: ParticleStep) -> SyncOutput:
        """Observe one particle, store the observation (newer wins), and decide its next action: ``wait`` rather
        than ``start`` while a parent is not in its desired state (``readiness``); ``SupersededError`` when a
        newer plan replaced the generation this execution converges it to (``generations``)."""
        spec, stored = load_particle(self.store, step.pcf_id)
        parents = load_parents(self.store, spec)
        particle = self.observe(spec, parents)
        observed = particle.observed_state
        assert observed is not None
        decision = decide_for(particle, observed)
        resource_id = self.store_observation(step, spec, particle, stored.observation).resource_id
        known = step.generation if isinstance(step, SyncInput) else 0
        generation = check_planned(self.store, spec, step.execution, known)
        decision = parents_first(decision, particle, parents, step.execution)
        return SyncOutput(pcf_id=step.pcf_id, state=observed_name(observed), action=decision.action.value,
                          reason=decision.reason, resource_id=resource_id, generation=generation)

    # -- transitions ----------------------------------------------------------------------------
    def transition(self, request: TransitionInput) -> TransitionOutput:
        """Carry out one transition. The ClientToken scope is the spec's generation and the last resource
        ever seen, so a retried step never launches twice while a re-creation gets a fresh token."""
        spec, stored = load_particle(self.store, request.pcf_id)
        if request.generation:
            check_planned(self.store, spec, request.execution, request.generation)
        particle = self.observe(spec)
        last = stored.observation
        particle.idempotency_scope = idempotency_scope(spec, last)
        creates = request.action == "start" and particle.observed_state is State.terminated
        particle.run_transition(Action(request.action))
        detail: dict[str, Any] = {"action": request.action, "generation": spec.generation}
        if creates:
            detail["created"] = True
        self.store.add_history(request.pcf_id, HistoryKind.transition, detail, request.execution)
        output = TransitionOutput(pcf_id=request.pcf_id, action=request.action, generation=spec.generation)
        return self._observe_after(request, spec, particle, last, output)

    def _observe_after(self, request: TransitionInput, spec: StoredSpec, particle: Particle,
                       previous: Observation | None, output: TransitionOutput) -> TransitionOutput:
        """The state the transition left the particle in (``pending`` as a rule), stored at once: the
        resource id is known to event handling before its first event, and followers see the change without
        waiting a poll. Best effort: when AWS throttles this read, the next sync records it instead of the
        whole (already done) transition being retried."""
        try:
            particle.sync_state()
            resource_id = self.store_observation(request, spec, particle, previous).resource_id
        except Exception as error:
            if retryable_error(error) is None:
                raise
            return output
        state = particle.observed_state
        return output.model_copy(update={"state": state.name if state else None, "resource_id": resource_id})

    def store_observation(self, step: ParticleStep, spec: StoredSpec, particle: Particle,
                          previous: Observation | None) -> Observation:
        """Store what ``particle`` was just seen as (newer wins) and a history item when its state changed;
        the observation stored."""
        observation = self.observation_of(step, spec, particle, previous)
        self.store.record_observation(step.pcf_id, observation)
        if previous is None or previous.state != observation.state:
            self.store.add_history(step.pcf_id, HistoryKind.observation,
                                   {"state": observation.state, "resource_id": observation.resource_id},
                                   step.execution)
        return observation

    def observation_of(self, step: ParticleStep, spec: StoredSpec, particle: Particle,
                       previous: Observation | None) -> Observation:
        """What ``particle`` was just seen as, caused by ``step``'s execution, newer than ``previous``: its
        resource id, snapshot (with the last resource ever seen and the values it exports)."""
        observed = particle.observed_state
        assert observed is not None
        resource_id = resource_id_of(particle)
        snapshot = observation_snapshot(particle)
        snapshot[LAST_RESOURCE] = resource_id or (previous.snapshot.get(LAST_RESOURCE) if previous else None)
        if spec.exports:
            snapshot[EXPORTS] = exported_values(particle, spec.exports)
        # The step holds the lease and reads the cloud itself: its reading is the newest, even when the clock
        # has not moved since the last one (equal times are refused by the store's newer-wins rule).
        observed_at = max(self.clock(), previous.observed_at + 1e-6) if previous else self.clock()
        return Observation(state=observed_name(observed), observed_at=observed_at, resource_id=resource_id,
                           snapshot=snapshot, cause=step.execution)

    # -- leases ---------------------------------------------------------------------------------
    def acquire_lease(self, request: LeaseInput) -> LeaseOutput:
        """Take (or renew) the particle's lease for this execution; ``LeaseHeldError`` if another holds it."""
        load_spec(self.store, request.pcf_id)
        if not self.store.acquire_lease(request.pcf_id, request.execution, request.lease_seconds()):
            holder = self.store.current_lease(request.pcf_id)
            raise LeaseHeldError(
                f"{request.pcf_id}: held by {holder.owner if holder else 'another execution'}"
            )
        self.store.add_history(request.pcf_id, HistoryKind.lease, {"acquired": True}, request.execution)
        return LeaseOutput(pcf_id=request.pcf_id, owner=request.execution, held=True)

    def release_lease(self, step: ParticleStep) -> LeaseOutput:
        """Give the lease back (only its owner can); releasing twice is harmless."""
        released = self.store.release_lease(step.pcf_id, step.execution)
        if released:
            self.store.add_history(step.pcf_id, HistoryKind.lease, {"acquired": False}, step.execution)
        return LeaseOutput(pcf_id=step.pcf_id, owner=step.execution, held=False)

    # -- outcomes -------------------------------------------------------------------------------
    def particle_failed(self, failure: ParticleFailure) -> ParticleResult:
        """Record a particle's failed execution in its history, and give its lease back if the execution holds it
        (``converge`` keeps it between visits); its error name and message, short."""
        result = failure_result(failure.pcf_id, failure.failure)
        if failure.run is not None and failure.phase is not None and failure.level is not None:
            self.store.record_failure(failure.run, RunFailure(
                pcf_id=failure.pcf_id, phase=failure.phase, level=failure.level, error=result.error or "ApplyFailed",
                cause=result.cause or "", at=self.clock()))  # with its error history item
        else:
            self.store.add_history(failure.pcf_id, HistoryKind.error,
                                   {"error": result.error, "message": result.cause}, failure.execution)
        self.release_lease(failure)
        return result

    def check_level(self, level: LevelResults) -> LevelOutput:
        """Pass a level whose particles all converged, else raise the first failure, its causes read from the
        history ``particle_failed`` recorded (the level's results carry none; see ``outcome``)."""
        return check_level(level, lambda pcf_ids: self._recorded_causes(pcf_ids, level.execution))

    def _recorded_causes(self, pcf_ids: list[str], execution: str) -> dict[str, str]:
        """The cause of each particle's latest failure in ``execution``, where its history holds one."""
        found: dict[str, str] = {}
        for pcf_id in pcf_ids:
            for item in self.store.list_history(pcf_id, limit=RECENT_HISTORY):
                if item.kind == HistoryKind.error and item.cause == execution:
                    found[pcf_id] = str(item.detail.get("message") or "")
                    break
        return found

    def rollback(self, request: RollbackInput) -> RollbackOutput:
        """Set what this execution created to be terminated (children first); see ``rollback``."""
        return plan_rollback(self.store, request)

    def summarize(self, root: RootStep) -> SummaryOutput:
        """How many of the root's particles ended in each observed state."""
        members = self.store.members_of(root.pcf_id) or [root.pcf_id]
        states: dict[str, int] = {}
        for record in self.store.get_many(members).values():
            state = record.observation.state if record.observation else "unknown"
            states[state] = states.get(state, 0) + 1
        return SummaryOutput(pcf_id=root.pcf_id, particles=len(members), states=dict(sorted(states.items())))

    # -- helpers --------------------------------------------------------------------------------
    def observe(self, spec: Any, parents: Mapping[str, ParticleRecord] | None = None) -> Particle:
        """The particle rebuilt and synced, its $lookup$ and $inherit$ values resolved (from the parents'
        stored observations when they hold them, else from the cloud); ``parents`` when already read."""
        parents = load_parents(self.store, spec) if parents is None else parents
        particle = rebuild(spec, parents, self.clients)
        # The control plane never adopts a foreign resource (custom_config.adopt is library mode's): its role may
        # not retag another deployment's resources, and whoever starts an execution must not gain that power.
        if isinstance(particle, AWSResource):
            particle.adoption_allowed = False
        particle.prepare()
        references = particle.inherit_references()
        if particle.desired_state is State.running and references:
            for parent in particle.parents:
                paths = [ref.key_path for _path, ref in references if ref.parent_pcf_id == parent.pcf_id]
                view = stored_parent_view(parents[parent.pcf_id].observation, paths)
                if view is None:
                    parent.prepare()
                    parent.sync_state()
                else:
                    parent.current_state_definition = view
            particle.get_and_replace_parent_variables()
        particle.sync_state()
        return particle


def idempotency_scope(spec: StoredSpec, last: Observation | None) -> str:
    """The ClientToken scope of a transition: the spec's generation and the last resource ever seen, so a retried
    step never launches twice while a re-creation gets a fresh token."""
    return f"g{spec.generation}:{(last.snapshot.get(LAST_RESOURCE) if last else None) or '-'}"


def _storable_definition(particle: Particle) -> dict[str, Any]:
    """The member's definition as the control plane keeps it: JSON-safe, with its effective parents."""
    definition = dict(particle.normalized_definition)
    for name, callback in (definition.get("callbacks") or {}).items():
        if not isinstance(callback.get("function"), str):
            raise DefinitionError(f"{particle.pcf_id}.callbacks.{name}.function",
                                  "the control plane needs a 'package.module:function' name, not a callable")
    definition["parents"] = sorted(p.pcf_id for p in particle.parents)
    definition["children"] = []
    definition.pop("desired_state", None)
    return _json_safe(definition)


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
