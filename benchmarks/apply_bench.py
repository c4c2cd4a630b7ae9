"""One benchmark case: apply a quasiparticle of EC2 instances from nothing on a fresh local cloud.

The local cloud runs on the real clock, so each instance really stays ``pending`` for
``pending_seconds`` and the apply's threads really wait: the makespan is wall time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.counting import ApiCallCounter, CallCounts, PollPhases
from pcf.core import State
from pcf.core.apply_engine import ApplyResult
from pcf.core.quasiparticle import Quasiparticle
from pcf.core.runtime import PollPolicy, Runtime
from pcf_local_cloud import LocalCloud, RealClock

EC2 = "ec2"


@dataclass(frozen=True)
class Case:
    """A benchmark case: a definition builder (image id -> quasiparticle definition) and a worker bound.

    ``baseline`` cases are run for comparison and are not judged against the targets.
    """

    name: str
    build: Callable[[str], dict[str, Any]]
    max_workers: int
    baseline: bool = False
    one_by_one: bool = False  # apply each particle alone, one after another (the original PCF's field apply)


@dataclass
class CaseResult:
    """What one case measured."""

    case: Case
    pending_seconds: float
    particles: int
    levels: int
    makespan: float
    calls: CallCounts
    polls: int
    sleeps: int
    running: int
    not_converged: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0
    level_durations: list[float] = field(default_factory=list)
    start_delays: list[float] = field(default_factory=list)
    overshoots: list[float] = field(default_factory=list)

    @property
    def critical_path(self) -> float:
        """Levels x pending phase: no apply can be faster than one pending phase per level."""
        return self.levels * self.pending_seconds

    @property
    def ratio(self) -> float:
        """Makespan / critical path (``inf`` with a zero pending phase)."""
        return self.makespan / self.critical_path if self.critical_path else float("inf")

    @property
    def ec2_calls(self) -> int:
        return self.calls.total(EC2)

    @property
    def calls_per_particle(self) -> float:
        return self.ec2_calls / self.particles

    @property
    def call_budget_per_particle(self) -> float:
        """The target for a start from nothing: 6 EC2 calls per particle plus 2 per poll it made."""
        from benchmarks.report import CALLS_PER_POLL_TARGET, SETUP_CALLS_TARGET

        return SETUP_CALLS_TARGET + CALLS_PER_POLL_TARGET * self.polls_per_particle

    @property
    def polls_per_particle(self) -> float:
        return self.polls / self.particles

    @property
    def describes_per_tick(self) -> float:
        """DescribeInstances calls per poll tick of the apply loop (a tick looks at every due particle)."""
        describes = self.calls.by_operation(EC2).get("DescribeInstances", {})
        return sum(describes.values()) / self.sleeps if self.sleeps else 0.0

    @property
    def cpu_share(self) -> float:
        """Process CPU time during the apply / makespan: near 1.0 means one core (the GIL) was saturated."""
        return self.cpu_seconds / self.makespan if self.makespan else 0.0

    @property
    def mean_overshoot(self) -> float:
        return statistics.fmean(self.overshoots) if self.overshoots else 0.0

    @property
    def max_overshoot(self) -> float:
        return max(self.overshoots, default=0.0)

    @property
    def mean_start_delay(self) -> float:
        return statistics.fmean(self.start_delays) if self.start_delays else 0.0

    @property
    def max_start_delay(self) -> float:
        return max(self.start_delays, default=0.0)


def first_amazon_image(cloud: LocalCloud) -> str:
    """An AMI id the local cloud knows (this call also warms up moto's EC2 backend).

    Filtered by name first: moto knows ~1,300 Amazon images and listing them all takes ~2 s.
    """
    ec2 = cloud.client(EC2)
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*"]}])
    if not images["Images"]:
        images = ec2.describe_images(Owners=["amazon"])
    return str(images["Images"][0]["ImageId"])


def count_running(cloud: LocalCloud) -> int:
    """How many instances the cloud says are ``running``."""
    pages = cloud.client(EC2).get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
    )
    return sum(len(r["Instances"]) for page in pages for r in page["Reservations"])


def run_case(
    case: Case, pending_seconds: float, poll: PollPolicy | None = None, region: str = "us-east-1"
) -> CaseResult:
    """Apply ``case`` from nothing on a fresh local cloud and measure it."""
    with LocalCloud(region=region, pending_seconds=pending_seconds, clock=RealClock()) as cloud:
        quasi = Quasiparticle(case.build(first_amazon_image(cloud)))
        quasi.set_desired_state(State.running)
        phases = PollPhases(sleep=time.sleep)
        counter = ApiCallCounter(phases.current)
        cloud.client_factory.add_hook(counter.hook)
        runtime = Runtime(
            clock=time.monotonic,
            sleep=phases.sleep,
            max_workers=case.max_workers,
            poll=poll or PollPolicy(),
            on_event=phases.on_event,
        )
        counter.reset()
        cpu_started = time.process_time()
        started = time.monotonic()
        result = _one_by_one(quasi, runtime) if case.one_by_one else quasi.apply(runtime=runtime)
        makespan = time.monotonic() - started
        cpu_seconds = time.process_time() - cpu_started
        calls = counter.snapshot()
        running = count_running(cloud)
    return _measure(case, pending_seconds, result, (makespan, cpu_seconds), calls, phases, running)


def _one_by_one(quasi: Quasiparticle, runtime: Runtime) -> ApplyResult:
    """Apply every member alone, in turn; one result whose levels are those applies."""
    merged = ApplyResult({}, [], runtime.clock())
    for member in sorted(quasi.members(), key=lambda p: p.pcf_id):
        single = member.apply(runtime=runtime)
        merged.outcomes.update(single.outcomes)
        merged.levels += single.levels
    merged.finished_at = runtime.clock()
    return merged


def _measure(
    case: Case,
    pending_seconds: float,
    result: ApplyResult,
    times: tuple[float, float],
    calls: CallCounts,
    phases: PollPhases,
    running: int,
) -> CaseResult:
    makespan, cpu_seconds = times
    outcomes = result.outcomes.values()
    ends = [*phases.level_starts[1:], result.finished_at]
    level_start_of = {
        pcf_id: start for start, ids in zip(phases.level_starts, result.levels, strict=True) for pcf_id in ids
    }
    start_delays = [at - level_start_of[pcf_id] for pcf_id, at in phases.first_transition.items()]
    overshoots = [
        phases.finished[pcf_id] - at - pending_seconds
        for pcf_id, at in phases.last_transition.items()
        if pcf_id in phases.finished
    ]
    return CaseResult(
        case=case,
        pending_seconds=pending_seconds,
        particles=len(result.outcomes),
        levels=1 if case.one_by_one else len(result.levels),
        makespan=makespan,
        calls=calls,
        polls=sum(o.polls for o in outcomes),
        sleeps=phases.sleeps,
        running=running,
        cpu_seconds=cpu_seconds,
        not_converged=sorted(o.pcf_id for o in outcomes if not o.converged or o.final_state is not State.running),
        level_durations=[end - start for start, end in zip(phases.level_starts, ends, strict=True)],
        start_delays=start_delays,
        overshoots=overshoots,
    )
