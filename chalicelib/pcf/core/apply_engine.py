"""Library-mode apply: the one in-process loop over the decision function.

``apply_particles`` checks everything it can without acting (cycles, desired states, ``$inherit$``
targets, ``$lookup$`` resolution, ``validate_config``), then converges particles level by level: the
stop phase first (children before parents) for particles desired ``stopped``/``terminated``, then the
start phase (parents before children) for those desired ``running``. A level must finish before the next
begins; its particles converge together in ticks (see ``_run_level``).

A flavor may offer ``sync_states(particles) -> {pcf_id: error}`` as a classmethod: the loop then syncs
all its due particles with that one call (``EC2Instance`` makes one ``describe_instances``) instead of one
``sync_state()`` each. Transitions run in parallel, bounded by ``Runtime.max_workers``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pcf.core import State
from pcf.core.decision import Action, decide_for
from pcf.core.graph import DependencyGraph
from pcf.core.level_plan import Phase, phase_levels, rollback_levels
from pcf.core.pcf_exceptions import (
    ApplyFailed,
    ApplyTimedOut,
    DefinitionError,
    DependencyCycleError,
    MaxTimeoutException,
    ParticleTimeoutError,
    PCFError,
    TransitionError,
)
from pcf.core.runtime import EventKind, Runtime

if TYPE_CHECKING:
    from pcf.core.particle import Particle

logger = logging.getLogger(__name__)

MAX_TRANSITIONS_PER_APPLY = 8
"""Without ``max_timeout``, a particle whose transitions do not move it is given up after this many (the original
PCF tried forever); with ``max_timeout``, it is tried until the timeout, as in the original."""


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

    phase: Phase
    index: int
    pcf_ids: list[str]


def dependency_graph(particles: Iterable[Particle]) -> DependencyGraph:
    """The graph of the particles' linked parents, restricted to ``particles``."""
    return DependencyGraph.from_parents({p.pcf_id: [parent.pcf_id for parent in p.parents] for p in particles})


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
    desired = {p.pcf_id: p.desired_state.name for p in particles if p.desired_state is not None}
    return [PlannedLevel(phase, i, ids) for phase, levels in phase_levels(graph, desired)
            for i, ids in enumerate(levels)]


def apply_particles(
    particles: Iterable[Particle], options: ApplyOptions | None = None, runtime: Runtime | None = None
) -> ApplyResult:
    """Converge ``particles`` to their desired states (see the module docstring).

    Raises the particle's own error when one particle fails (``ApplyFailed`` when several do, ``ApplyTimedOut``, also
    a ``MaxTimeoutException``, when all of them timed out), after rolling back what this apply created if
    ``options.rollback``.
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
        errors = {i: error for i in planned.pcf_ids if (error := result.outcomes[i].error) is not None}
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
    if all(isinstance(error, MaxTimeoutException) for error in errors.values()):
        return ApplyTimedOut(errors)
    return ApplyFailed(errors)


@dataclass
class _Run:
    """One particle's progress through a level."""

    particle: Particle
    outcome: ParticleOutcome
    deadline: float | None
    delays: Iterator[float]
    due: float
    last_seen: State | None = None
    finished: bool = False

    def finish(self, error: BaseException | None = None) -> None:
        self.finished = True
        self.outcome.error = error


def _run_level(level: list[Particle], options: ApplyOptions, runtime: Runtime, result: ApplyResult) -> None:
    """Converge one level: sync, decide, act, wait with backoff, until every particle is done or failed.

    The loop ticks: the particles due for a look are synced together (one batch per flavor that offers
    ``sync_states``, otherwise in parallel), each decides, the transitions run in parallel, and the loop
    sleeps until the next particle is due. Batching keeps API calls per poll tick flat as a level grows.
    """
    now = runtime.clock()
    runs = []
    for particle in level:
        desired = particle.desired_state
        assert desired is not None, "check_before_acting refuses a particle without a desired state"
        outcome = ParticleOutcome(particle.pcf_id, desired)
        result.outcomes[particle.pcf_id] = outcome
        deadline = None if options.max_timeout is None else now + options.max_timeout
        runs.append(_Run(particle, outcome, deadline, runtime.poll.delays(), now))
    workers = min(runtime.max_workers, len(level))
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="pcf-apply") as pool:
        for run in runs:
            _guarded(run, runtime, _resolve_inherits, run)
        while active := [run for run in runs if not run.finished]:
            now = runtime.clock()
            due = [run for run in active if run.due <= now]
            if not due:
                runtime.sleep(min(run.due for run in active) - now)
                continue
            _sync(due, pool, runtime)
            acting = [run for run in due if not run.finished and _decide(run, options, runtime)]
            list(pool.map(lambda run: _guarded(run, runtime, _transition, run, options, runtime), acting))


def _guarded(run: _Run, runtime: Runtime, step: Callable[..., None], *args: object) -> None:
    """Run one step of a particle, recording (not raising) its failure."""
    try:
        step(*args)
    except Exception as error:  # recorded per particle; apply_particles raises after the level
        run.finish(error)
        logger.warning("%s failed: %s: %s", run.particle.pcf_id, type(error).__name__, error)
        runtime.emit(EventKind.failed, run.particle.pcf_id, state=run.particle.observed_state,
                     detail=f"{type(error).__name__}: {error}")


def _resolve_inherits(run: _Run) -> None:
    if run.particle.desired_state is State.running and run.particle.inherit_references():
        run.particle.get_and_replace_parent_variables()


def _sync(due: list[_Run], pool: ThreadPoolExecutor, runtime: Runtime) -> None:
    """Sync every due particle: batched per flavor where the flavor can, in parallel otherwise."""
    by_class: dict[type, list[_Run]] = {}
    for run in due:
        by_class.setdefault(type(run.particle), []).append(run)
    singles: list[_Run] = []
    for particle_class, runs in by_class.items():
        batch = getattr(particle_class, "sync_states", None)
        if batch is None or len(runs) == 1:
            singles += runs
            continue
        errors = batch([run.particle for run in runs])
        for run in runs:
            if run.particle.pcf_id in errors:
                _guarded(run, runtime, _raise, errors[run.particle.pcf_id])
    list(pool.map(lambda run: _guarded(run, runtime, run.particle.sync_state), singles))
    synced_at = runtime.clock()
    for run in due:
        run.particle.state_last_refresh_time = synced_at


def _raise(error: BaseException) -> None:
    raise error


def _decide(run: _Run, options: ApplyOptions, runtime: Runtime) -> bool:
    """Decide the next step after a sync; True when a transition is to be run."""
    particle, outcome = run.particle, run.outcome
    desired = particle.desired_state
    assert desired is not None
    observed = particle.observed_state
    if observed is None:
        run.finish(PCFError(f"{particle.pcf_id}: sync_state() left the state unset"))
        return False
    outcome.final_state = observed
    if observed is not run.last_seen:
        runtime.emit(EventKind.observed, particle.pcf_id, state=observed)
        run.last_seen = observed
    try:
        decision = decide_for(particle, observed)
    except Exception as error:
        _guarded(run, runtime, _raise, error)
        return False
    outcome.reason = decision.reason
    if decision.action is Action.done:
        runtime.emit(EventKind.done, particle.pcf_id, state=observed, detail=decision.reason)
        run.finish()
        return False
    now = runtime.clock()
    if run.deadline is not None and now >= run.deadline:
        _guarded(run, runtime, _raise, ParticleTimeoutError(particle.pcf_id, observed, options.max_timeout or 0))
        return False
    if not options.sync and (decision.action is Action.wait or outcome.transitions):
        outcome.reason = f"pending: {decision.reason}"
        run.finish()
        return False
    if decision.action is Action.wait:
        _schedule(run, now)
        return False
    if run.deadline is None and len(outcome.transitions) >= MAX_TRANSITIONS_PER_APPLY:
        _guarded(run, runtime, _raise, TransitionError(
            particle.pcf_id,
            f"no convergence after {len(outcome.transitions)} transitions "
            f"({', '.join(outcome.transitions)}); last decision: {decision.reason}",
        ))
        return False
    if decision.action is Action.start and observed is State.terminated:
        outcome.created = True
    runtime.emit(EventKind.transition, particle.pcf_id, state=observed, action=decision.action,
                 detail=decision.reason)
    outcome.transitions.append(decision.action)
    return True


def _schedule(run: _Run, now: float) -> None:
    """Next look after the backoff delay (never past the deadline)."""
    delay = next(run.delays)
    if run.deadline is not None:
        delay = max(0.0, min(delay, run.deadline - now))
    run.due = now + delay
    run.outcome.polls += 1


def _transition(run: _Run, options: ApplyOptions, runtime: Runtime) -> None:
    """Run the decided transition; the first look after it waits one poll interval (it is moving)."""
    run.particle.run_transition(run.outcome.transitions[-1])
    now = runtime.clock()
    if not options.sync:
        run.due = now
        return
    run.delays = runtime.poll.delays()
    _schedule(run, now)


def _rollback(result: ApplyResult, by_id: dict[str, Particle], graph: DependencyGraph, runtime: Runtime) -> None:
    """Terminate what this apply created (never pre-existing or persisted resources), children first."""
    created = [i for i in result.created() if not by_id[i].persist_on_termination]
    for pcf_id in created:
        by_id[pcf_id].desired_state = State.terminated
    for level in rollback_levels(graph, created):
        for pcf_id in level:
            runtime.emit(EventKind.rollback, pcf_id, detail="terminating what this apply created")
        undo = ApplyResult({}, [], runtime.clock())
        _run_level([by_id[i] for i in level], ApplyOptions(), runtime, undo)
        for pcf_id, outcome in undo.outcomes.items():
            if outcome.error is not None:
                logger.error("rollback of %s failed: %s", pcf_id, outcome.error)
