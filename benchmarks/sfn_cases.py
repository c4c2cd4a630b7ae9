"""The Step Functions benchmark cases: makespan against the critical path, state transitions per particle and
per poll, and the largest history and payload of a big apply. Each returns a result the report prints."""

from __future__ import annotations

import math
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from benchmarks import definitions
from benchmarks import sfn_history as history
from benchmarks.sfn_run import ExecutionRun, run_apply

RATIO_FACTOR = 1.2
RATIO_SLACK_SECONDS = 2.0
"""Makespan target: at most 1.2 x the critical path + 2 s."""
HAPPY_PATH_TARGET = 15
"""State transitions per particle on the happy path (one poll)."""
PER_POLL_TARGET = 4
"""State transitions per extra poll."""
MAX_HISTORY_EVENTS = 25_000
MAX_PAYLOAD_BYTES = 256 * 1024


def _progress(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


# -- 1. makespan --------------------------------------------------------------------------------------


@dataclass
class MakespanResult:
    """One apply against its critical path (levels in waves of ``concurrency``, each one pending phase)."""

    name: str
    run: ExecutionRun
    floor: bool = False
    """A one-particle run: what one level costs with no contention at all."""

    @property
    def waves(self) -> int:
        return sum(math.ceil(size / self.run.concurrency) for size in self.run.level_sizes)

    @property
    def critical_path(self) -> float:
        """Sum over levels of ceil(level size / concurrency) pending phases: no apply can be faster."""
        return self.waves * self.run.pending_seconds

    @property
    def target(self) -> float:
        return RATIO_FACTOR * self.critical_path + RATIO_SLACK_SECONDS

    @property
    def ratio(self) -> float:
        return self.run.makespan / self.critical_path if self.critical_path else float("inf")

    @property
    def meets_target(self) -> bool:
        return self.run.succeeded and self.run.makespan <= self.target

    def level_durations(self) -> list[float]:
        return [(end - start).total_seconds() for start, end in history.state_spans(self.run.parent, "Particles")]

    def children(self) -> list[history.ChildTiming]:
        return history.child_timings(self.run.parent, self.run.tree)

    def lambda_latencies(self) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for events in self.run.tree.values():
            for name, values in history.lambda_durations(events).items():
                found.setdefault(name, []).extend(values)
        return found

    def fixed_seconds(self) -> float:
        """Time in the steps every apply runs once, whatever its size: ``Plan`` and ``Summarize``."""
        spans = [*history.state_spans(self.run.parent, "Plan"), *history.state_spans(self.run.parent, "Summarize")]
        return sum((end - start).total_seconds() for start, end in spans)

    def per_wave_overhead(self) -> float:
        """Of a one-particle run: makespan - pending phase - fixed steps = one particle's own steps and waits."""
        return self.run.makespan - self.run.pending_seconds - self.fixed_seconds()

    def contention_free(self, floor: MakespanResult) -> float:
        """This shape's makespan if every wave cost what the one-particle ``floor`` run's level cost."""
        return floor.fixed_seconds() + self.waves * (self.run.pending_seconds + floor.per_wave_overhead())

    def overshoots(self) -> list[float]:
        pending = self.run.pending_seconds
        found = (history.transition_overshoot(events, pending) for events in self.run.children.values())
        return [value for value in found if value is not None]


def run_makespan(
    name: str, widths: tuple[int, ...], *, pending_seconds: float, wait_seconds: int, concurrency: int,
    sync_check_seconds: float | None = None,
) -> MakespanResult:
    """Apply ``layered(widths)`` with a pending phase on the real clock and time it."""
    run = run_apply(partial(definitions.layered, widths=widths), name="bench-makespan",
                    pending_seconds=pending_seconds, wait_seconds=wait_seconds, concurrency=concurrency,
                    sync_check_seconds=sync_check_seconds)
    return MakespanResult(name, run, floor=run.particles == 1)


# -- 2. state transitions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParticleTransitions:
    """One particle: its polls and the transitions it cost (its execution + its ``RunParticle`` entry)."""

    pcf_id: str
    polls: int
    transitions: int
    by_state: Counter[str]


@dataclass
class TransitionsResult:
    """Transitions per particle from runs with different numbers of polls, and a fit over them."""

    runs: list[ExecutionRun]
    per_run: list[list[ParticleTransitions]] = field(default_factory=list)
    """The particles of each run, in ``runs`` order."""

    @property
    def particles(self) -> list[ParticleTransitions]:
        return [p for particles in self.per_run for p in particles]

    def fit(self) -> tuple[float, float]:
        """Least squares ``transitions = intercept + per_poll x polls`` over every particle of every run."""
        xs = [p.polls for p in self.particles]
        ys = [p.transitions for p in self.particles]
        if len(set(xs)) < 2:  # one number of polls only: the cost of a poll cannot be told apart
            return (float("nan"), float("nan"))
        slope, intercept = statistics.linear_regression(xs, ys)
        return intercept, slope

    @property
    def per_poll(self) -> float:
        return self.fit()[1]

    @property
    def happy_path(self) -> float:
        """Transitions of a particle with one poll (the sync after its transition): the fewest a start makes."""
        intercept, slope = self.fit()
        return intercept + slope

    @property
    def max_residual(self) -> float:
        intercept, slope = self.fit()
        return max((abs(p.transitions - intercept - slope * p.polls) for p in self.particles), default=0.0)

    def per_execution(self, run: ExecutionRun) -> int:
        """Transitions of the parent that are not a particle's ``RunParticle``: per execution and level."""
        parent = history.transitions(run.parent)
        return parent.total - parent.entered[history.RUN_PARTICLE]

    @property
    def meets_target(self) -> bool:
        return self.happy_path <= HAPPY_PATH_TARGET + 1e-9 and self.per_poll <= PER_POLL_TARGET + 1e-9


def particle_transitions(run: ExecutionRun) -> list[ParticleTransitions]:
    """Each particle's transitions: its child execution's, plus its share of the parent's ``RunParticle``."""
    parent = history.transitions(run.parent)
    run_particle = round(parent.entered[history.RUN_PARTICLE] / max(1, len(run.children)))
    found = []
    for timing in history.child_timings(run.parent, run.tree):
        own = history.transitions(run.tree[timing.arn])
        by_state = Counter(own.entered)
        by_state[history.RUN_PARTICLE] += run_particle
        found.append(ParticleTransitions(timing.pcf_id, timing.polls, own.total + run_particle, by_state))
    return found


def run_transitions(
    particles: int, *, long_pending_seconds: float, wait_seconds: int, concurrency: int,
    sync_check_seconds: float | None,
) -> TransitionsResult:
    """Two applies of ``particles`` independent instances: no pending phase (one poll each), then a pending
    phase of ``long_pending_seconds`` polled every ``wait_seconds`` (several polls each)."""
    build = partial(definitions.independent, particles)
    runs = []
    for index, (pending, wait) in enumerate(((0.0, 0), (long_pending_seconds, wait_seconds))):
        _progress(f"{particles} particles, pending {pending:g} s, wait_seconds {wait}")
        runs.append(run_apply(build, name=f"bench-transitions-{index}", pending_seconds=pending, wait_seconds=wait,
                              concurrency=concurrency, sync_check_seconds=sync_check_seconds))
    return TransitionsResult(runs, [particle_transitions(run) for run in runs])


# -- 3. the largest history -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HistorySize:
    """The history figures of one fan-out apply."""

    particles: int
    wall_seconds: float
    parent_events: int
    largest_child_events: int
    total_events: int
    parent_payload: history.Payload
    child_payload: history.Payload
    succeeded: bool
    cpu_seconds: float = 0.0
    handler_cpu: float = 0.0
    """Mean CPU seconds of one handler invocation."""
    dynamodb_latency: float = 0.0
    ec2_latency: float = 0.0

    @property
    def largest_payload(self) -> history.Payload:
        return max(self.parent_payload, self.child_payload, key=lambda p: p.size)


@dataclass
class HistoryResult:
    """Fan-out applies of growing size, the largest run only if its estimated time fits the budget."""

    sizes: list[HistorySize]
    target_particles: int
    budget_seconds: float
    sync_check_seconds: float | None
    skipped: str = ""

    def slope(self, value: Callable[[HistorySize], float]) -> float:
        """Growth of ``value`` per particle between the two largest runs."""
        if len(self.sizes) < 2:
            return 0.0
        small, large = self.sizes[-2], self.sizes[-1]
        return (value(large) - value(small)) / (large.particles - small.particles)

    def particles_at(self, value: Callable[[HistorySize], float], limit: float) -> float:
        """Particles at which ``value`` reaches ``limit``, extrapolated linearly from the two largest runs."""
        slope = self.slope(value)
        last = self.sizes[-1]
        return last.particles + (limit - value(last)) / slope if slope > 0 else float("inf")


def measure_history(run: ExecutionRun) -> HistorySize:
    children = run.children.values()
    child_payloads = [history.largest_payload(events) for events in children]
    return HistorySize(
        particles=run.particles,
        wall_seconds=run.wall_seconds,
        parent_events=len(run.parent),
        largest_child_events=max((len(events) for events in children), default=0),
        total_events=sum(len(events) for events in run.tree.values()),
        parent_payload=history.largest_payload(run.parent),
        child_payload=max(child_payloads, key=lambda p: p.size, default=history.Payload()),
        succeeded=run.succeeded,
        cpu_seconds=run.cpu_seconds,
        handler_cpu=run.handlers.total_cpu / max(1, run.handlers.invocations),
        dynamodb_latency=run.calls.mean_latency("dynamodb"),
        ec2_latency=run.calls.mean_latency("ec2"),
    )


def estimate_seconds(sizes: Sequence[HistorySize], particles: int) -> float:
    """Wall time of a ``particles`` run from the two largest runs so far, as ``a n + b n^2`` through both (the
    local cloud's cost per particle grows with the particles it holds: moto scans, parents' stored specs)."""
    if not sizes:
        return 0.0
    last = sizes[-1]
    if len(sizes) < 2:
        return last.wall_seconds * particles / last.particles
    (n1, t1), (n2, t2) = ((s.particles, s.wall_seconds) for s in sizes[-2:])
    b = max(0.0, (t2 / n2 - t1 / n1) / (n2 - n1))
    a = t2 / n2 - b * n2
    return max(a * particles + b * particles**2, last.wall_seconds * particles / last.particles)


def run_history(
    steps: Sequence[int], target: int, *, budget_seconds: float, concurrency: int, sync_check_seconds: float | None,
) -> HistoryResult:
    """Fan-outs (1 root -> n-1) of each size in ``steps``, then of ``target`` if its wall time, estimated from
    the steps (``estimate_seconds``), fits ``budget_seconds``. No pending phase, ``wait_seconds`` 0."""
    result = HistoryResult([], target, budget_seconds, sync_check_seconds)
    for particles in sorted({*steps, target}):
        if particles == target and result.sizes:
            estimate = estimate_seconds(result.sizes, target)
            if estimate > budget_seconds:
                result.skipped = (f"{target} particles not run: estimated ~{estimate:.0f} s from the runs above "
                                  f"> budget {budget_seconds:.0f} s (--history-budget)")
                break
        _progress(f"fan-out of {particles} particles")
        run = run_apply(partial(definitions.fan_out, children=particles - 1), name=f"bench-history-{particles}",
                        pending_seconds=0.0, wait_seconds=0, concurrency=concurrency,
                        max_polls=50, timeout_s=max(600.0, 3 * budget_seconds), sync_check_seconds=sync_check_seconds)
        result.sizes.append(measure_history(run))
    return result
