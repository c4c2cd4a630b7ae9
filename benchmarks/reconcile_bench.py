"""Reconciliation in pages on the local cloud (issue 13 part 3): per page, the AWS calls by service, CPU, wall time
and peak memory of the deployed ``reconcile_page`` function, and the totals projected at 10,000 and 100,000.

    PYTHONPATH=chalicelib:. .venv/bin/python -m benchmarks.reconcile_bench            # 2 pages (1,000 particles)
    PYTHONPATH=chalicelib:. .venv/bin/python -m benchmarks.reconcile_bench --quick    # 1 page (500)

Particles are seeded as ``events_bench.seed_particles`` does (running instances with their specs and observations).
Each step is invoked as the machine invokes it, through the deployed functions (so under their roles), twice: CPU
(less moto's, ``sizing_bench.EmulatedCalls``) and calls from the first, ``tracemalloc`` peak from the second.
Projection (figures printed, never asserted), as ``sizing_bench`` projects a function on Lambda:

- a step's duration at its configured memory = ``cpu * max(1, 1769 / memory) + calls * 10 ms``;
- ``begin`` is linear in the particles (keys-only Queries), ``end`` constant without drift;
- total(N) = begin(N) + ceil(pages(N) / MaxConcurrency) * page + end, pages(N) = ceil(N / 500), MaxConcurrency 20
  (``state_machines/reconcile.asl.json``), against the schedule's interval (``rate(5 minutes)``: 300 s).
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

from benchmarks.events_bench import DEPLOYMENT, ServiceCalls, invoke, quiet, seed_particles
from benchmarks.sizing_bench import CALL_SECONDS, EmulatedCalls

CASE = "reconcile pages"
PAGE_SIZE = 500
MAX_CONCURRENCY = 20
SCHEDULE_SECONDS = 300
PROJECTED = (10_000, 100_000)
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:pcf-serverless-dev-reconcile:bench"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:pcf-serverless-dev-reconcile"


@dataclass(frozen=True)
class StepCost:
    """One invocation of a step."""

    step: str
    particles: int
    calls: dict[str, int]
    cpu_s: float
    wall_s: float
    peak_mb: float
    memory_mb: int

    def projected_s(self) -> float:
        return self.cpu_s * max(1.0, 1769 / self.memory_mb) + sum(self.calls.values()) * CALL_SECONDS


@dataclass
class ReconcileResult:
    particles: int
    seeding_s: float
    steps: list[StepCost] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"## {CASE}: {self.particles:,} particles seeded in {self.seeding_s:.0f} s; pages of {PAGE_SIZE}, "
                 f"MaxConcurrency {MAX_CONCURRENCY}, {CALL_SECONDS * 1000:.0f} ms per AWS call",
                 "| step | particles | DynamoDB calls | EC2 calls | CPU here (s) | wall here (s) | peak alloc (MB) "
                 "| memory (MB) | projected (s) |", "|---|---|---|---|---|---|---|---|---|"]
        for s in self.steps:
            lines.append(f"| {s.step} | {s.particles:,} | {s.calls.get('dynamodb', 0)} | {s.calls.get('ec2', 0)} | "
                         f"{s.cpu_s:.2f} | {s.wall_s:.2f} | {s.peak_mb:.1f} | {s.memory_mb} | {s.projected_s():.1f} |")
        begin = next(s for s in self.steps if s.step == "reconcile_begin")
        pages = [s for s in self.steps if s.step == "reconcile_page"]
        end = next(s for s in self.steps if s.step == "reconcile_end")
        page = max(p.projected_s() for p in pages)
        lines.append(f"\nprojected total(N) = begin * N / {begin.particles:,} + ceil(ceil(N / {PAGE_SIZE}) / "
                     f"{MAX_CONCURRENCY}) * {page:.1f} s (slowest page) + {end.projected_s():.1f} s (end, no drift)")
        for n in PROJECTED:
            waves = math.ceil(math.ceil(n / PAGE_SIZE) / MAX_CONCURRENCY)
            total = begin.projected_s() * n / begin.particles + waves * page + end.projected_s()
            verdict = "within" if total <= SCHEDULE_SECONDS else "OVER"
            lines.append(f"- {n:,} particles: {math.ceil(n / PAGE_SIZE)} pages in {waves} wave(s): {total:.0f} s, "
                         f"{verdict} the {SCHEDULE_SECONDS} s schedule interval")
        return "\n".join(lines)


def _measure(cloud: Any, emulated: EmulatedCalls, counter: ServiceCalls, step: str, payload: dict[str, Any],
             particles: int, memory_mb: int) -> StepCost:
    limits = cloud.patches.lambdas.limits
    with limits.unenforced():
        emulated.take()
        counter.take()
        started, cpu = time.perf_counter(), time.process_time()
        invoke(cloud, step, payload)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - started
        calls = counter.take()
        _, aws_cpu = emulated.take()
        calls.pop("lambda", None)
        tracemalloc.start()
        invoke(cloud, step, payload)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return StepCost(step, particles, dict(calls), max(cpu - aws_cpu, 0.0), wall, peak / 1e6, memory_mb)


def run(particles: int) -> ReconcileResult:
    """Seed ``particles`` in a fresh local cloud and measure begin, every page and end."""
    from deploy.model import stage_model
    from pcf_control_plane import wiring
    from pcf_local_cloud import LocalCloud, RealClock
    from pcf_local_cloud.control_plane import deploy_control_plane

    memory = {name: f.memory_mb for name, f in stage_model("dev").functions.items()}
    with LocalCloud(clock=RealClock()) as cloud:
        deploy_control_plane(cloud, environment={"PCF_DEPLOYMENT": DEPLOYMENT, "PCF_HEAL_WAIT_SECONDS": "0"})
        counter = ServiceCalls(cloud.client_factory)
        emulated = EmulatedCalls()
        restore = emulated.install()
        try:
            began = time.perf_counter()
            seed_particles(cloud, wiring.control_plane().store, particles)
            result = ReconcileResult(particles, time.perf_counter() - began)
            request = {"execution": EXECUTION, "cause": "reconcile:bench", "act": True}
            begin = _measure(cloud, emulated, counter, "reconcile_begin", request, particles,
                             memory["reconcile_begin"])
            result.steps.append(begin)
            pages, _ = invoke(cloud, "reconcile_begin", request)
            for index, page in enumerate(pages["pages"]):
                result.steps.append(_measure(cloud, emulated, counter, "reconcile_page",
                                             {**request, "index": index, "page": page}, page["count"],
                                             memory["reconcile_page"]))
            result.steps.append(_measure(cloud, emulated, counter, "reconcile_end",
                                         {"execution": EXECUTION, "cursor": None, "machine": MACHINE}, particles,
                                         memory["reconcile_end"]))
        finally:
            restore()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one page (500 particles)")
    parser.add_argument("--particles", type=int, help=f"particles to seed (default {2 * PAGE_SIZE})")
    args = parser.parse_args(argv)
    quiet()
    print(run(args.particles or (PAGE_SIZE if args.quick else 2 * PAGE_SIZE)).text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
