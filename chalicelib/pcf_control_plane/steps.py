"""What the control plane's steps share: the plan of a definition (``planned``, before anything is stored), specs
stored with their ``plan`` history, a particle rebuilt and observed, an observation made, a failure recorded.
The steps themselves are ``run_steps`` (a run's pages) and ``converge`` (a particle's visit).

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
from typing import Any

from pcf.core import State
from pcf.core.apply_engine import PlannedLevel, plan_levels
from pcf.core.aws_resource import AWSResource
from pcf.core.builder import build
from pcf.core.particle import Particle
from pcf.core.pcf_exceptions import DefinitionError
from pcf.core.quasiparticle import Quasiparticle
from pcf.core.resource_table import observation_snapshot, resource_id_of
from pcf.util.aws.clients import ClientFactory
from pcf.util.aws.tag_specifications import deployment_name
from pcf.util.templates import render_batch
from pcf_control_plane.heal_plan import policy
from pcf_control_plane.inherit import EXPORTS, exported_values, exports_by_parent, stored_parent_view
from pcf_control_plane.member_plan import choose_members
from pcf_control_plane.messages import (
    ParticleFailure,
    ParticleResult,
    ParticleStep,
    PlanInput,
)
from pcf_control_plane.outcome import failure_result
from pcf_control_plane.rebuild import rebuild
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
"""Chunks of ``PLAN_CHUNK`` specs written at once (a page's specs are one chunk): each chunk is one read and one
write per particle, one after another, so 1,000 specs take ~25 chunks of 40 writes, ~2 waves of 16 chunks."""
PLAN_CHUNK = 40

LAST_RESOURCE = "last_resource_id"
"""Snapshot key: the last resource id ever seen for the particle, carried across its disappearance so that a
re-creation gets a fresh ClientToken scope while a retried creation keeps its own."""


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
        """Each spec and its ``plan`` history item (``StateStore.plan_specs``: one read for a chunk of
        ``PLAN_CHUNK``, one write each), ``PLAN_WRITERS`` chunks at a time; the generations."""
        chunks = [specs[start:start + PLAN_CHUNK] for start in range(0, len(specs), PLAN_CHUNK)]
        if len(chunks) <= 1:
            return self.store.plan_specs(specs, execution)
        # Each chunk runs in a copy of this invocation's context (its log keys, its credentials in the local cloud).
        contexts = [contextvars.copy_context() for _ in chunks]
        with ThreadPoolExecutor(max_workers=min(PLAN_WRITERS, len(chunks)), thread_name_prefix="plan") as pool:
            written = pool.map(lambda context, chunk: context.run(self.store.plan_specs, chunk, execution),
                               contexts, chunks)
            return {pcf_id: generation for part in written for pcf_id, generation in part.items()}

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

    # -- outcomes -------------------------------------------------------------------------------
    def particle_failed(self, failure: ParticleFailure) -> ParticleResult:
        """Record a particle's failed execution in its history, give its lease back if the execution holds it
        (``converge`` keeps it between visits) and remove its wait for an event; its error name and message, short."""
        result = failure_result(failure.pcf_id, failure.failure)
        if failure.run is not None and failure.phase is not None and failure.level is not None:
            self.store.record_failure(failure.run, RunFailure(
                pcf_id=failure.pcf_id, phase=failure.phase, level=failure.level, error=result.error or "ApplyFailed",
                cause=result.cause or "", at=self.clock()), cause=failure.execution)  # with its error history item
        else:
            self.store.add_history(failure.pcf_id, HistoryKind.error,
                                   {"error": result.error, "message": result.cause}, failure.execution)
        if self.store.release_lease(failure.pcf_id, failure.execution):
            self.store.add_history(failure.pcf_id, HistoryKind.lease, {"acquired": False}, failure.execution)
        self.store.clear_wait(failure.pcf_id, failure.execution)
        return result

    # -- helpers --------------------------------------------------------------------------------
    def observe(self, spec: StoredSpec, parents: Mapping[str, ParticleRecord]) -> Particle:
        """The particle rebuilt and synced, its $lookup$ and $inherit$ values resolved (from ``parents``' stored
        observations when they hold them, else from the cloud)."""
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
