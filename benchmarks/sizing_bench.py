"""Each Lambda function's size, from measurement: CPU, peak memory and AWS calls per invocation at 100, 300 and
1,000 particles, projected to Lambda at the memory and timeout the stage configures, and extended to the largest
sizes the docs promise (10,000 particles in one apply, 100,000 reconciled).

    PYTHONPATH=chalicelib:. .venv/bin/python -m benchmarks.sizing_bench              # 100, 300, 1,000
    PYTHONPATH=chalicelib:. .venv/bin/python -m benchmarks.sizing_bench --quick      # 100, 300

How it is scaled (figures are printed, never asserted):

- **CPU** is the process's CPU time during the invocation (every thread the handler uses), less the CPU moto
  spent answering its AWS calls in-process (that is AWS's work on Lambda). Lambda gives a function CPU in
  proportion to its memory, one vCPU at 1,769 MB:
  ``projected = cpu * max(1, 1769 / memory)``, assuming this machine's single-thread speed is Lambda's.
- **Waiting on AWS** is not CPU: each call the handler makes is counted and charged ``CALL_SECONDS`` (10 ms, a
  conservative DynamoDB / EC2 round trip inside a region), as if made one after another (calls a handler makes
  from a thread pool overlap on Lambda: the projection is pessimistic there); a batch call counts once.
- **Memory** is the ``import app`` resident size of a fresh interpreter (what every invocation carries) plus
  the invocation's own peak Python allocations (``tracemalloc``, measured in a second, identical invocation).
- A size **fits** when the projected duration is at most half the timeout and the memory at most half the
  configured memory (2x headroom).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.events_bench import AMI, DEPLOYMENT, invoke, quiet, seed_particles

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CALL_SECONDS = 0.010
HEADROOM = 2.0
SIZES = (100, 300, 1_000)
QUICK_SIZES = (100, 300)
DOCUMENTED_MAX = {"plan": 10_000, "plan_page": 40, "check_level": 10_000, "summarize": 2_000, "rollback": 10_000,
                  "rollback_page": 40, "reconcile_page": 500}
"""The largest size ``docs/sizing.md`` promises per function: one apply of 10,000 particles planned (a file's most),
a page of 40 stored, a level of 10,000 checked, 2,000 particles summarized per call, the rollback of an apply of
10,000 begun, a page of 40 rolled back, a page of 500 reconciled (a deployment is reconciled a page per invocation:
``benchmarks/reconcile_bench.py`` projects the whole run)."""
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:pcf-serverless-dev-apply:sizing"


@dataclass(frozen=True)
class Measurement:
    """One function at one size."""

    function: str
    particles: int
    cpu_s: float
    calls: int
    peak_mb: float

    def projected_s(self, memory_mb: int) -> float:
        return self.cpu_s * max(1.0, 1769 / memory_mb) + self.calls * CALL_SECONDS


def import_rss_mb() -> float:
    """Resident size, in MB, of a fresh interpreter warmed as a function is after its first invocation: ``app``,
    the control plane's modules and its three AWS clients loaded (what every later invocation starts from)."""
    code = ("import sys, resource; sys.path[:0] = ['.', 'chalicelib']; import app, boto3; "
            "import pcf_control_plane.wiring, pcf_control_plane.steps, pcf_control_plane.reconcile; "
            "[boto3.client(s, region_name='us-east-1') for s in ('dynamodb', 'ec2', 'stepfunctions')]; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    output = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            check=True).stdout
    return int(output.strip().splitlines()[-1]) / 1024


class EmulatedCalls:
    """Every AWS call answered by moto in this process (any thread), and the CPU moto spent answering it: that CPU
    is AWS's on Lambda, not the function's, so it is taken out of the function's. The ``lambda`` service is left
    out (the benchmark's own ``Invoke``, inside which the handler runs)."""

    def __init__(self) -> None:
        self.calls = 0
        self.cpu_s = 0.0
        self._lock = threading.Lock()

    def install(self) -> Callable[[], None]:
        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.__call__
        counter = self

        def __call__(stubber: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
            if ".lambda." in f"{event_name}.":
                return original(stubber, event_name, request, **kwargs)
            started = time.thread_time()
            try:
                return original(stubber, event_name, request, **kwargs)
            finally:
                with counter._lock:
                    counter.calls += 1
                    counter.cpu_s += time.thread_time() - started

        BotocoreStubber.__call__ = __call__  # type: ignore[method-assign]

        def restore() -> None:
            BotocoreStubber.__call__ = original  # type: ignore[method-assign]

        return restore

    def take(self) -> tuple[int, float]:
        with self._lock:
            taken = (self.calls, self.cpu_s)
            self.calls, self.cpu_s = 0, 0.0
        return taken


def measure(cloud: Any, emulated: EmulatedCalls, function: str, payload: Callable[[], dict[str, Any]],
            particles: int, baseline_mb: float) -> Measurement:
    """Invoke ``function`` twice with ``payload()``: CPU (every thread's, less moto's) and AWS calls from the first,
    allocations from the second."""
    limits = cloud.patches.lambdas.limits
    started = time.perf_counter()
    with limits.unenforced():
        emulated.take()
        cpu_started = time.process_time()
        invoke(cloud, function, payload())
        cpu = time.process_time() - cpu_started
        calls, aws_cpu = emulated.take()
        tracemalloc.start()
        invoke(cloud, function, payload())
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(f"  {function} at {particles}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return Measurement(function, particles, max(cpu - aws_cpu, 0.0), calls, baseline_mb + peak / 1e6)


def flat_definition(count: int) -> dict[str, Any]:
    return {"pcf_name": "sizing", "flavor": "quasiparticle", "particles": [
        {"pcf_name": "node", "flavor": "ec2_instance", "multiplier": count,
         "aws_resource": {"ImageId": AMI, "InstanceType": "t3.micro", "custom_config": {"instance_name": "node"}}}]}


def size_case(count: int, baseline_mb: float) -> list[Measurement]:
    """Every size-dependent function at ``count`` particles, in a fresh local cloud."""
    from pcf_control_plane import wiring
    from pcf_local_cloud import LocalCloud, RealClock
    from pcf_local_cloud.control_plane import deploy_control_plane

    found: list[Measurement] = []
    with LocalCloud(clock=RealClock()) as cloud:
        deploy_control_plane(cloud, environment={"PCF_DEPLOYMENT": DEPLOYMENT, "PCF_HEAL_WAIT_SECONDS": "0"})
        emulated = EmulatedCalls()
        restore = emulated.install()
        store = wiring.control_plane().store
        plan = {"definition": flat_definition(count), "desired_state": "running", "execution": EXECUTION}
        found.append(measure(cloud, emulated, "plan", lambda: plan, count, baseline_mb))
        planned = store.get_run(EXECUTION)
        assert planned is not None
        pages = [{"run": EXECUTION, "execution": EXECUTION, "phase": level.phase, "level": level.level, "page": page}
                 for level in planned.levels for page in range(level.pages)]
        found.append(measure(cloud, emulated, "plan_page", lambda: pages[0], min(count, 40), baseline_mb))
        for page in pages[1:]:  # the other pages' specs, as the workflow stores them
            invoke(cloud, "plan_page", page)
        level = {"run": EXECUTION, "phase": "start", "level": 0, "particles": count}
        found.append(measure(cloud, emulated, "check_level", lambda: level, count, baseline_mb))
        summary = {"run": EXECUTION, "pcf_id": "quasiparticle:sizing"}
        found.append(measure(cloud, emulated, "summarize", lambda: summary, min(count, 2_000), baseline_mb))
        root = {"pcf_id": "quasiparticle:sizing", "execution": EXECUTION, "error": {"Error": "TransitionError"}}
        found.append(measure(cloud, emulated, "rollback", lambda: root, count, baseline_mb))
        rolled = created_pages(store, pages[:2])  # two pages, each measured once: a retried page is answered as is
        found.append(measure(cloud, emulated, "rollback_page", lambda: next(rolled), min(count, 40), baseline_mb))
        seed_particles(cloud, store, count)
        request = {"execution": EXECUTION + "-reconcile", "cause": "reconcile:sizing", "act": True}
        first = invoke(cloud, "reconcile_begin", request)[0]["pages"][0]
        page = {**request, "index": 0, "page": first}
        found.append(measure(cloud, emulated, "reconcile_page", lambda: page, first["count"], baseline_mb))
        restore()
    return found


def created_pages(store: Any, pages: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each of ``pages`` as a ``rollback_page`` payload, its particles marked created and converged by the execution
    (as ``converge`` marks them) before this returns, so the marking is not measured: every particle of each page
    is set to be terminated."""
    from pcf_control_plane.store import ConvergeCommit, Observation, commit_token

    for page in pages:
        ids = store.get_page(EXECUTION, page["phase"], page["level"], page["page"]).ids
        for n, pcf_id in enumerate(ids):
            store.commit_converge(ConvergeCommit(
                pcf_id=pcf_id, execution=EXECUTION, token=commit_token(EXECUTION, pcf_id), created=True,
                converged=True, observation=Observation(state="running", observed_at=time.time(),
                                                        resource_id=f"i-{page['page']:08x}{n:09x}", cause=EXECUTION)))
    return iter([{"execution": EXECUTION, "error": "TransitionError",
                  **{key: page[key] for key in ("phase", "level", "page")}} for page in pages])


def configured() -> dict[str, tuple[int, int]]:
    """``function -> (timeout_s, memory_mb)`` of the dev stage, as Chalice resolves them."""
    from deploy.model import stage_model

    return {name: (f.timeout_s, f.memory_mb) for name, f in stage_model("dev").functions.items()}


def report(measurements: list[Measurement], sizes: dict[str, tuple[int, int]], baseline_mb: float) -> str:
    lines = [f"## Lambda sizing (warm function: {baseline_mb:.0f} MB resident; {CALL_SECONDS * 1000:.0f} ms per "
             f"AWS call; fits = projected <= timeout/{HEADROOM:g} and memory <= configured/{HEADROOM:g})",
             "| function | particles | CPU here (s) | AWS calls | projected (s) at its memory | timeout (s) | "
             "peak memory (MB) | memory (MB) | fits |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m in measurements:
        timeout, memory = sizes[m.function]
        projected = m.projected_s(memory)
        fits = projected * HEADROOM <= timeout and m.peak_mb * HEADROOM <= memory
        lines.append(f"| {m.function} | {m.particles:,} | {m.cpu_s:.2f} | {m.calls:,} | {projected:.1f} | {timeout} "
                     f"| {m.peak_mb:.0f} | {memory} | {'yes' if fits else 'NO'} |")
    return "\n".join(lines)


def projected_at(measurements: list[Measurement], function: str, particles: int) -> Measurement:
    """``function`` at ``particles``, extended linearly from its two largest measured sizes (CPU, calls and
    memory each: every size-dependent function does a fixed amount of work per particle)."""
    own = sorted((m for m in measurements if m.function == function), key=lambda m: m.particles)
    low, high = own[-2], own[-1]
    span = high.particles - low.particles
    if span == 0:  # a function bounded per invocation (a page): measured at its bound every time
        return Measurement(function, particles, high.cpu_s, high.calls, high.peak_mb)

    def extend(a: float, b: float) -> float:
        return max(0.0, b + (b - a) / span * (particles - high.particles))  # a flat cost measured as falling

    return Measurement(function, particles, extend(low.cpu_s, high.cpu_s), round(extend(low.calls, high.calls)),
                       extend(low.peak_mb, high.peak_mb))


def report_projection(measurements: list[Measurement], sizes: dict[str, tuple[int, int]]) -> str:
    lines = ["## Projected at the documented maximum (linear from the two largest measured sizes)",
             "| function | particles | projected (s) at its memory | timeout (s) | peak memory (MB) | memory (MB) "
             "| fits |",
             "|---|---|---|---|---|---|---|"]
    for function, particles in DOCUMENTED_MAX.items():
        m = projected_at(measurements, function, particles)
        timeout, memory = sizes[function]
        projected = m.projected_s(memory)
        fits = projected * HEADROOM <= timeout and m.peak_mb * HEADROOM <= memory
        lines.append(f"| {function} | {particles:,} | {projected:.0f} | {timeout} | {m.peak_mb:.0f} | {memory} | "
                     f"{'yes' if fits else 'NO'} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class SizingResult:
    """Every measurement, and the warm function's resident size they started from."""

    measurements: list[Measurement]
    baseline_mb: float

    def text(self) -> str:
        sizes = configured()
        return (f"{report(self.measurements, sizes, self.baseline_mb)}\n\n"
                f"{report_projection(self.measurements, sizes)}")


def run(sizes: tuple[int, ...]) -> SizingResult:
    """Measure every size-dependent function at each of ``sizes`` (each in a fresh local cloud)."""
    quiet()
    baseline = import_rss_mb()
    measurements: list[Measurement] = []
    for count in sizes:
        started = time.perf_counter()
        measurements += size_case(count, baseline)
        print(f"  {count} particles measured in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return SizingResult(measurements, baseline)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 and 300 particles")
    parser.add_argument("--sizes", help="comma-separated particle counts (default 100,300,1000)")
    args = parser.parse_args(argv)
    sizes = tuple(int(n) for n in args.sizes.split(",")) if args.sizes else (QUICK_SIZES if args.quick else SIZES)
    print(run(sizes).text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
