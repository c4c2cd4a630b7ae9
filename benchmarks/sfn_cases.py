"""The Step Functions benchmark cases: makespan against the critical path, state transitions per particle and
per extra visit, and the largest history (parent and page) and payload of a big apply. Each returns a result the
report prints. A particle is visited inside its page's execution (``page.asl.json``); what a page or the parent
spends per page is shared among the page's particles."""

from __future__ import annotations

import math
import statistics
import sys
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
"""State transitions per particle on the happy path (one visit, no poll)."""
PER_POLL_TARGET = 4
"""State transitions per extra visit (a poll)."""
RATIO_TARGET = 1.5
"""Issue 13's target for the makespan over the critical path on the local cloud (a looser bound than ``target``'s
for the 3 x 5 s case: 22.5 s against 20 s)."""
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

    @property
    def meets_ratio(self) -> bool:
        return self.run.succeeded and self.ratio <= RATIO_TARGET

    def level_durations(self) -> list[float]:
        return [(end - start).total_seconds() for start, end in history.state_spans(self.run.parent, "Pages")]

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
        return [value for events in self.run.children.values()
                for value in history.transition_overshoots(events, pending)]

    def visits(self) -> list[int]:
        """Visits (``converge`` calls) of each particle, over every page."""
        return [p.visits for p in particle_transitions(self.run)]


def run_makespan(
    name: str, widths: tuple[int, ...], *, pending_seconds: float, wait_seconds: int, concurrency: int,
    sync_check_seconds: float | None = None, waits: str = "events",
) -> MakespanResult:
    """Apply ``layered(widths)`` with a pending phase on the real clock and time it (``waits``: the apply's)."""
    run = run_apply(partial(definitions.layered, widths=widths), name="bench-makespan",
                    pending_seconds=pending_seconds, wait_seconds=wait_seconds, concurrency=concurrency,
                    sync_check_seconds=sync_check_seconds, waits=waits)
    return MakespanResult(name, run, floor=run.particles == 1)


# -- 2. state transitions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParticleTransitions:
    """One particle: its visits and the transitions it cost (its own in its page, plus its share of the page's
    and of the parent's per-page states); fractional where shared."""

    pcf_id: str
    visits: int
    transitions: float
    by_state: dict[str, float]


@dataclass
class TransitionsResult:
    """Transitions per particle from runs with different numbers of visits, and a fit over them."""

    runs: list[ExecutionRun]
    per_run: list[list[ParticleTransitions]] = field(default_factory=list)
    """The particles of each run, in ``runs`` order."""

    @property
    def particles(self) -> list[ParticleTransitions]:
        return [p for particles in self.per_run for p in particles]

    def fit(self) -> tuple[float, float]:
        """Least squares ``transitions = intercept + per_visit x visits`` over every particle of every run."""
        xs = [p.visits for p in self.particles]
        ys = [p.transitions for p in self.particles]
        if len(set(xs)) < 2:  # one number of visits only: the cost of a visit cannot be told apart
            return (float("nan"), float("nan"))
        slope, intercept = statistics.linear_regression(xs, ys)
        return intercept, slope

    @property
    def per_poll(self) -> float:
        """Transitions per extra visit."""
        return self.fit()[1]

    @property
    def happy_path(self) -> float:
        """Transitions of a particle done in one visit (no poll): the fewest a start makes."""
        intercept, slope = self.fit()
        return intercept + slope

    @property
    def max_residual(self) -> float:
        intercept, slope = self.fit()
        return max((abs(p.transitions - intercept - slope * p.visits) for p in self.particles), default=0.0)

    def per_execution(self, run: ExecutionRun) -> int:
        """Transitions of the parent that are not per page: per execution and per level."""
        parent = history.transitions(run.parent)
        return parent.total - _per_page(parent)

    @property
    def meets_target(self) -> bool:
        return self.happy_path <= HAPPY_PATH_TARGET + 1e-9 and self.per_poll <= PER_POLL_TARGET + 1e-9


def _per_page(parent: history.Transitions) -> int:
    """The parent's transitions spent per page: its per-page states and their retries (``RunPage`` is the
    parent's only Task entered per page, so every retry in the parent past the per-level ones is ``RunPage``'s;
    retries are counted with the per-page states, an over-estimate of the per-particle cost)."""
    return sum(parent.entered[name] for name in history.PER_PAGE_STATES) + parent.retries


def particle_transitions(run: ExecutionRun) -> list[ParticleTransitions]:
    """Each particle's transitions: the states its visits entered in its page execution, plus an equal share
    of the page's own states (``LoadPage``, the Map) among the page's particles, plus an equal share of the
    parent's per-page transitions (``RunPage``) among all particles."""
    pages = [history.page_transitions(events) for events in run.children.values()]
    particles = sum(len(page.particles) for page in pages)
    parent_share = _per_page(history.transitions(run.parent)) / max(1, particles)
    found = []
    for page in pages:
        page_share = page.own.total / max(1, len(page.particles))
        for pcf_id, own in page.particles.items():
            by_state: dict[str, float] = dict(own.entered)
            if own.retries:
                by_state["(retries)"] = own.retries
            by_state["(page's own)"] = page_share
            by_state["(parent per page)"] = parent_share
            found.append(ParticleTransitions(pcf_id, page.visits(pcf_id), own.total + page_share + parent_share,
                                             by_state))
    return found


def run_transitions(
    particles: int, *, long_pending_seconds: float, wait_seconds: int, concurrency: int,
    sync_check_seconds: float | None,
) -> TransitionsResult:
    """Two applies of ``particles`` independent instances from nothing to running: no pending phase (one visit
    each), then a pending phase of ``long_pending_seconds`` visited every ``wait_seconds`` (several each)."""
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
    """The largest page execution's history."""
    total_events: int
    parent_payload: history.Payload
    child_payload: history.Payload
    succeeded: bool
    cpu_seconds: float = 0.0
    handler_cpu: float = 0.0
    """Mean CPU seconds of one handler invocation."""
    dynamodb_latency: float = 0.0
    ec2_latency: float = 0.0
    transitions: int = 0
    """State transitions of the whole execution tree (parent and pages), as AWS bills them."""
    ec2_calls: int = 0
    dynamodb_calls: int = 0
    """By the Lambda handlers, plus the page machine's ``Await`` tasks (Step Functions' own DynamoDB calls)."""
    levels: tuple[int, ...] = ()

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
    shape: str = "1 root -> n-1 children"

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
        transitions=history.tree_transitions(run.tree).total,
        ec2_calls=run.calls.total("ec2"),
        dynamodb_calls=run.calls.total("dynamodb") + sum(history.awaits(events) for events in children),
        levels=tuple(run.level_sizes),
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


def run_levels_history(widths: Sequence[int], *, concurrency: int, timeout_seconds: float) -> HistoryResult:
    """One apply of ``widths[0]`` roots, ``widths[1]`` children, ... (``definitions.layered``), no pending phase,
    ``wait_seconds`` 0: the history figures and the per-particle costs of a deep apply."""
    shape = " / ".join(f"{width:,}" for width in widths) + " in levels"
    result = HistoryResult([], sum(widths), timeout_seconds, None, shape=shape)
    _progress(f"{shape}: {sum(widths)} particles")
    run = run_apply(partial(definitions.layered, widths=tuple(widths)), name=f"bench-levels-{sum(widths)}",
                    pending_seconds=0.0, wait_seconds=0, concurrency=concurrency, max_polls=50,
                    timeout_s=timeout_seconds, sync_check_seconds=None)
    result.sizes.append(measure_history(run))
    return result
