"""Library-mode apply: the one in-process loop over the decision function.

``apply_particles`` checks everything it can without acting (cycles, desired states, ``$inherit$``
targets, ``$lookup$`` resolution, ``validate_config``), then converges particles level by level: the
stop phase first (children before parents) for particles desired ``stopped``/``terminated``, then the
start phase (parents before children) for those desired ``running``. Particles of one level converge
concurrently, bounded by ``Runtime.max_workers``; a level must finish before the next begins.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pcf.core import State
from pcf.core.decision import Action, decide
from pcf.core.graph import DependencyGraph
from pcf.core.pcf_exceptions import (
    ApplyFailed,
    DefinitionError,
    DependencyCycleError,
    ParticleTimeoutError,
    PCFError,
    TransitionError,
)
from pcf.core.runtime import EventKind, Runtime

if TYPE_CHECKING:
    from pcf.core.particle import Particle

logger = logging.getLogger(__name__)

MAX_TRANSITIONS_PER_APPLY = 8


@dataclass(frozen=True)
class ApplyOptions:
    """How to apply: wait for convergence (``sync``), per-particle ``max_timeout`` in seconds,
    call ``_validate_config`` first, and ``rollback`` what this apply created when it fails."""

    sync: bool = True
    max_timeout: float | None = None
    validate_config: bool = False
    rollback: bool = False


@dataclass
class ParticleOutcome:
    """What happened to one particle during an apply."""

    pcf_id: str
    desired: State
    final_state: State | None = None
    transitions: list[Action] = field(default_factory=list)
    created: bool = False
    polls: int = 0
    reason: str = ""
    error: BaseException | None = None

    @property
    def converged(self) -> bool:
        return self.error is None and self.reason != "" and not self.reason.startswith("pending:")


@dataclass
class ApplyResult:
    """Outcomes by pcf_id, the levels run (in order) and the apply's start and end times."""

    outcomes: dict[str, ParticleOutcome]
    levels: list[list[str]]
    started_at: float
    finished_at: float = 0.0

    @property
    def elapsed(self) -> float:
        return self.finished_at - self.started_at

    def created(self) -> list[str]:
        return sorted(pcf_id for pcf_id, outcome in self.outcomes.items() if outcome.created)


@dataclass(frozen=True)
class PlannedLevel:
    """One level of a plan: its phase (``stop`` or ``start``), position and particles."""

    phase: str
    index: int
    pcf_ids: list[str]


def dependency_graph(particles: Iterable[Particle]) -> DependencyGraph:
    """The graph of the particles' linked parents, restricted to ``particles``."""
    chosen = list(particles)
    ids = {p.pcf_id for p in chosen}
    edges = [(parent.pcf_id, p.pcf_id) for p in chosen for parent in p.parents if parent.pcf_id in ids]
    return DependencyGraph(ids, edges)


def check_before_acting(particles: list[Particle]) -> DependencyGraph:
    """Everything that can be checked without AWS: unique ids, desired states, cycles, ``$inherit$``."""
    seen: dict[str, Particle] = {}
    for particle in particles:
        other = seen.setdefault(particle.pcf_id, particle)
        if other is not particle:
            raise DefinitionError(f"{particle.pcf_id}", "two different particles share this pcf_id")
        if particle.desired_state is None:
            raise DefinitionError(
                f"{particle.pcf_id}.desired_state", "is not set: call set_desired_state() or set it in the definition"
            )
    graph = dependency_graph(particles)
    cycle = graph.find_cycle()
    if cycle:
        raise DependencyCycleError(cycle)
    for particle in particles:
        if particle.desired_state is State.running:
            for parent in particle.parents:
                if parent.pcf_id in seen and parent.desired_state is not State.running:
                    raise DefinitionError(
                        f"{particle.pcf_id}.desired_state",
                        f"running needs parent {parent.pcf_id} running, but it is desired {parent.desired_state}",
                    )
            particle.check_inherit_references()
    return graph


def plan_levels(particles: Iterable[Particle]) -> list[PlannedLevel]:
    """The ordered levels an apply would run, without touching AWS."""
    chosen = list(particles)
    graph = check_before_acting(chosen)
    return _levels(chosen, graph)


def _levels(particles: list[Particle], graph: DependencyGraph) -> list[PlannedLevel]:
    down = [p.pcf_id for p in particles if p.desired_state in (State.stopped, State.terminated)]
    up = [p.pcf_id for p in particles if p.desired_state is State.running]
    planned = [PlannedLevel("stop", i, ids) for i, ids in enumerate(graph.subgraph(down).stop_levels())]
    planned += [PlannedLevel("start", i, ids) for i, ids in enumerate(graph.subgraph(up).start_levels())]
    return planned


def apply_particles(
    particles: Iterable[Particle], options: ApplyOptions | None = None, runtime: Runtime | None = None
) -> ApplyResult:
    """Converge ``particles`` to their desired states (see the module docstring).

    Raises the particle's own error when one particle fails (``ApplyFailed`` when several do), after
    rolling back what this apply created if ``options.rollback``.
    """
    options = options or ApplyOptions()
    runtime = runtime or Runtime()
    chosen = list(particles)
    graph = check_before_acting(chosen)
    by_id = {p.pcf_id: p for p in chosen}
    run_id = uuid.uuid4().hex[:16]
    for particle in chosen:
        particle.clock = runtime.clock
        particle.idempotency_scope = run_id
        if options.validate_config:
            particle._validate_config()
        particle.prepare()

    result = ApplyResult({}, [], runtime.clock())
    for planned in _levels(chosen, graph):
        runtime.emit(EventKind.level, ",".join(planned.pcf_ids), detail=f"{planned.phase} level {planned.index + 1}")
        result.levels.append(planned.pcf_ids)
        _run_level([by_id[i] for i in planned.pcf_ids], options, runtime, result)
        errors = {i: result.outcomes[i].error for i in planned.pcf_ids if result.outcomes[i].error is not None}
        if errors:
            if options.rollback:
                _rollback(result, by_id, graph, runtime)
            result.finished_at = runtime.clock()
            raise _failure(errors)
        if not options.sync and any(_pending(result, i) for i in planned.pcf_ids):
            break
    result.finished_at = runtime.clock()
    return result


def _pending(result: ApplyResult, pcf_id: str) -> bool:
    return result.outcomes[pcf_id].reason.startswith("pending:")


def _failure(errors: dict[str, BaseException]) -> BaseException:
    if len(errors) == 1:
        (pcf_id, error), = errors.items()
        error.add_note(f"while applying {pcf_id}")
        return error
    return ApplyFailed(errors)


def _run_level(level: list[Particle], options: ApplyOptions, runtime: Runtime, result: ApplyResult) -> None:
    for particle in level:
        result.outcomes[particle.pcf_id] = ParticleOutcome(particle.pcf_id, particle.desired_state)  # type: ignore[arg-type]
    if len(level) == 1 or runtime.max_workers <= 1:
        for particle in level:
            _converge_safely(particle, options, runtime, result.outcomes[particle.pcf_id])
        return
    with ThreadPoolExecutor(max_workers=min(runtime.max_workers, len(level)), thread_name_prefix="pcf-apply") as pool:
        futures = [
            pool.submit(_converge_safely, p, options, runtime, result.outcomes[p.pcf_id]) for p in level
        ]
        for future in futures:
            future.result()


def _converge_safely(particle: Particle, options: ApplyOptions, runtime: Runtime, outcome: ParticleOutcome) -> None:
    try:
        converge(particle, options, runtime, outcome)
    except Exception as error:  # recorded per particle; raised by apply_particles after the level
        outcome.error = error
        logger.warning("%s failed: %s: %s", particle.pcf_id, type(error).__name__, error)
        runtime.emit(EventKind.failed, particle.pcf_id, state=particle.state, detail=f"{type(error).__name__}: {error}")


def converge(particle: Particle, options: ApplyOptions, runtime: Runtime, outcome: ParticleOutcome) -> None:
    """Sync, decide, act, wait with backoff, until the decision is ``done`` (or a named error)."""
    desired = particle.desired_state
    assert desired is not None
    deadline = None if options.max_timeout is None else runtime.clock() + options.max_timeout
    delays = runtime.poll.delays()
    if desired is State.running and particle.inherit_references():
        particle.get_and_replace_parent_variables()
    last_seen: State | None = None
    while True:
        particle.sync_state()
        particle.state_last_refresh_time = runtime.clock()
        observed = particle.state
        if observed is None:
            raise PCFError(f"{particle.pcf_id}: sync_state() left the state unset")
        outcome.final_state = observed
        if observed is not last_seen:
            runtime.emit(EventKind.observed, particle.pcf_id, state=observed)
            last_seen = observed
        equivalent = True
        if desired is State.running and particle.is_state_equivalent(observed, State.running):
            equivalent = particle.is_state_definition_equivalent()
        decision = decide(
            observed,
            desired,
            definition_equivalent=equivalent,
            protection=particle.protection,
            equivalent_states=particle.equivalent_states,
        )
        if decision.action is Action.done:
            outcome.reason = decision.reason
            runtime.emit(EventKind.done, particle.pcf_id, state=observed, detail=decision.reason)
            return
        if deadline is not None and runtime.clock() >= deadline:
            raise ParticleTimeoutError(particle.pcf_id, observed, options.max_timeout or 0)
        if not options.sync and (decision.action is Action.wait or outcome.transitions):
            outcome.reason = f"pending: {decision.reason}"
            return
        if decision.action is Action.wait:
            delay = next(delays)
            if deadline is not None:
                delay = max(0.0, min(delay, deadline - runtime.clock()))
            runtime.sleep(delay)
            outcome.polls += 1
            continue
        if len(outcome.transitions) >= MAX_TRANSITIONS_PER_APPLY:
            raise TransitionError(
                particle.pcf_id,
                f"no convergence after {len(outcome.transitions)} transitions "
                f"({', '.join(outcome.transitions)}); last decision: {decision.reason}",
            )
        if decision.action is Action.start and observed is State.terminated:
            outcome.created = True
        runtime.emit(EventKind.transition, particle.pcf_id, state=observed, action=decision.action,
                     detail=decision.reason)
        particle.run_transition(decision.action)
        outcome.transitions.append(decision.action)
        if not options.sync:
            continue
        delays = runtime.poll.delays()
        runtime.sleep(next(delays))  # the resource is moving: the first look is worth a short wait
        outcome.polls += 1


def _rollback(result: ApplyResult, by_id: dict[str, Particle], graph: DependencyGraph, runtime: Runtime) -> None:
    """Terminate what this apply created (never pre-existing or persisted resources), children first."""
    created = [i for i in result.created() if not by_id[i].persist_on_termination]
    for pcf_id in created:
        by_id[pcf_id].desired_state = State.terminated
    for level in graph.subgraph(created).stop_levels():
        for pcf_id in level:
            runtime.emit(EventKind.rollback, pcf_id, detail="terminating what this apply created")
            outcome = ParticleOutcome(pcf_id, State.terminated)
            _converge_safely(by_id[pcf_id], ApplyOptions(), runtime, outcome)
            if outcome.error is not None:
                logger.error("rollback of %s failed: %s", pcf_id, outcome.error)
