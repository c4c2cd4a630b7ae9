"""``sfn throttled 30 %``: one apply with 30 % of its EC2, DynamoDB, Step Functions and Lambda calls throttled (the
handlers' calls and those Step Functions makes for its states), on the real clock (issue 13, part 6).

Reported: whether it converged (SUCCEEDED, every particle running, one instance per ``PCFName``), requests and
injected throttles per service, the failed attempts the histories show by error name (each retried, or the
execution would have failed), failure states entered (a Task that gave up), wall and CPU time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial

from benchmarks import definitions
from benchmarks.sfn_run import Throttle, run_apply

CASE = "sfn throttled 30 %"
PARTICLES, QUICK_PARTICLES = 1_000, 100
RATE = 0.3
SERVICES = ("ec2", "dynamodb", "stepfunctions", "lambda")
CONCURRENCY = 200
"""Five pages of 40 at once."""
FAILURE_STATES = frozenset({"RecordFailure", "PageFailed"})
WARM_UP_NAMES = 1
"""The instance the warm-up apply launches before the measured one."""


@dataclass(frozen=True)
class ThrottleResult:
    particles: int
    status: str
    running: int
    wall_seconds: float
    cpu_seconds: float
    requests: dict[str, int]
    injected: dict[str, int]
    retried: dict[str, int]
    """Failed attempts in every history of the run (parent and pages), by error name."""
    gave_up: int
    """Failure states entered (``RecordFailure``, ``PageFailed``)."""
    names: int
    duplicated: int
    """``PCFName`` values carried by more than one instance."""
    executions: int

    @property
    def converged(self) -> bool:
        return self.status == "SUCCEEDED" and self.running == self.particles and not self.duplicated

    def text(self) -> str:
        rows = [f"{CASE}: an apply of {self.particles} instances (1 root, {self.particles - 1} children; "
                f"concurrency {CONCURRENCY}, no pending phase), {RATE:.0%} of {', '.join(SERVICES)} throttled",
                f"  {self.status}, {self.running} running, {self.names} names with "
                f"{self.duplicated} duplicated, converged: {'yes' if self.converged else 'NO'}; "
                f"{self.executions} executions; wall {self.wall_seconds:.0f} s, CPU {self.cpu_seconds:.0f} s",
                f"  {'service':<14} {'requests':>9} {'injected':>9} {'share':>6}"]
        for service in SERVICES:
            asked, hit = self.requests.get(service, 0), self.injected.get(service, 0)
            rows.append(f"  {service:<14} {asked:9d} {hit:9d} {hit / asked if asked else 0:6.1%}")
        retried = ", ".join(f"{name} {count}" for name, count in sorted(self.retried.items())) or "none"
        rows.append(f"  failed attempts in the histories (retried): {retried}; Tasks that gave up: {self.gave_up}")
        return "\n".join(rows)


def run(particles: int, seed: int = 0) -> ThrottleResult:
    """Apply ``particles`` instances with every service throttled at :data:`RATE`."""
    result = run_apply(partial(definitions.fan_out, children=particles - 1), name=f"bench-throttled-{particles}",
                       pending_seconds=0.0, wait_seconds=1, concurrency=CONCURRENCY, max_polls=60,
                       timeout_s=3600.0, throttle=Throttle(RATE, SERVICES, seed))
    assert result.throttling is not None
    retried: Counter[str] = Counter()
    gave_up = 0
    for events in result.tree.values():
        for event in events:
            for key, details in event.items():
                if key.endswith("FailedEventDetails") and key != "executionFailedEventDetails":
                    retried[details.get("error", key)] += 1
            entered = event.get("stateEnteredEventDetails")
            gave_up += bool(entered and entered["name"] in FAILURE_STATES)
    counts = result.throttling.instances_per_name
    return ThrottleResult(
        particles=particles, status=result.status, running=result.running, wall_seconds=result.wall_seconds,
        cpu_seconds=result.cpu_seconds, requests=result.throttling.requests, injected=result.throttling.injected,
        retried=dict(retried), gave_up=gave_up, names=len(counts) - WARM_UP_NAMES,
        duplicated=sum(1 for count in counts.values() if count > 1), executions=len(result.tree))
