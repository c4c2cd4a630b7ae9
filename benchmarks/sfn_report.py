"""The printed report of the Step Functions, import-time and package cases."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence

from benchmarks import import_bench, package_bench
from benchmarks.sfn_cases import (
    HAPPY_PATH_TARGET,
    MAX_HISTORY_EVENTS,
    MAX_PAYLOAD_BYTES,
    PER_POLL_TARGET,
    RATIO_FACTOR,
    RATIO_SLACK_SECONDS,
    RATIO_TARGET,
    HistoryResult,
    HistorySize,
    MakespanResult,
    TransitionsResult,
)
from benchmarks.sfn_history import tree_transitions
from benchmarks.sfn_run import ExecutionRun

MIB = 1024 * 1024


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _mean_max(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    if not values:
        return "-"
    return f"mean {statistics.fmean(values) * scale:.{digits}f}, max {max(values) * scale:.{digits}f}"


# -- makespan -----------------------------------------------------------------------------------------------


def makespan_table(results: Sequence[MakespanResult]) -> str:
    header = (f"{'case':<46}  {'particles':>9}  {'levels':>12}  {'waves':>5}  {'crit.path s':>11}  "
              f"{'target s':>8}  {'makespan s':>10}  {'ratio':>6}  verdict")
    lines = [header, "-" * len(header)]
    for r in results:
        levels = "->".join(str(n) for n in r.run.level_sizes)
        lines.append(
            f"{r.name:<46}  {r.run.particles:>9}  {levels:>12}  {r.waves:>5}  {r.critical_path:>11.1f}  "
            f"{r.target:>8.1f}  {r.run.makespan:>10.2f}  {r.ratio:>6.2f}  {_verdict(r.meets_target)}"
        )
    lines.append(
        f"target: makespan <= {RATIO_FACTOR:g} x critical path + {RATIO_SLACK_SECONDS:g} s; critical path = sum over "
        "levels of ceil(level / concurrency) pending phases (each wave of a level must wait one pending phase)"
    )
    lines.append(f"ratio <= {RATIO_TARGET:g} (issue 13): "
                 + "; ".join(f"{r.name} {r.ratio:.2f} {_verdict(r.meets_ratio)}" for r in results if not r.floor))
    return "\n".join(lines)


def contention_lines(floor: MakespanResult, others: Sequence[MakespanResult]) -> str:
    """What each larger run would take if its waves cost what the one-particle run's level did."""
    lines = [
        f"one particle alone: fixed steps (Plan, Summarize) {floor.fixed_seconds():.2f} s; one level = pending "
        f"{floor.run.pending_seconds:g} s + {floor.per_wave_overhead():.2f} s of the particle's own steps and waits"
    ]
    for r in others:
        estimate = r.contention_free(floor)
        lines.append(
            f"{r.name}: contention-free estimate {floor.fixed_seconds():.2f} + {r.waves} x "
            f"({r.run.pending_seconds:g} + {floor.per_wave_overhead():.2f}) = {estimate:.1f} s; measured "
            f"{r.run.makespan:.1f} s: {r.run.makespan - estimate:+.1f} s from contention"
        )
    return "\n".join(lines)


def makespan_details(result: MakespanResult) -> str:
    run = result.run
    lines = [f"{result.name}:"]
    lines.append(
        f"  {run.status}, {run.running}/{run.particles} running; pending {run.pending_seconds:g} s, wait_seconds "
        f"{run.wait_seconds}, concurrency {run.concurrency}, .sync check {sync_checking(run.sync_check_seconds)}; "
        f"wall (client) {run.wall_seconds:.2f} s, makespan (history) {run.makespan:.2f} s"
    )
    lines.append("  level durations s: " + ", ".join(f"{d:.2f}" for d in result.level_durations())
                 + f" (one pending phase: {run.pending_seconds:g})")
    lines.extend(cpu_lines(run))
    latencies = result.lambda_latencies()
    steps = "; ".join(f"{name} x{len(v)} {_mean_max(v, 1000, 0)}" for name, v in sorted(latencies.items()))
    lines.append(f"  Lambda step, scheduled -> succeeded in the history, ms (includes waiting for the GIL): {steps}")
    lines.append("  handler CPU per invocation, ms (its own thread): " + ", ".join(
        f"{name} {stats.mean_cpu * 1000:.1f}" for name, stats in sorted(run.handlers.stats.items())))
    children = result.children()
    lines.append(
        f"  page executions ({len(children)}): StartExecution call s {_mean_max([c.start_call for c in children])}; "
        f"StartDate -> ExecutionStarted (worker thread, ASL parse) s {_mean_max([c.worker_start for c in children])}; "
        f"child end -> parent noticed s {_mean_max([c.notice for c in children])}; at most "
        f"{_peak(result)} running at once (concurrency {run.concurrency})"
    )
    polls = result.visits()
    lines.append(
        f"  visits per particle {_mean_max(polls)}; visit that acted -> visit that saw it done, beyond the pending "
        f"phase, s "
        f"{_mean_max(result.overshoots())}"
    )
    lines.extend(call_lines(run))
    transitions = tree_transitions(run.tree).total
    mean_polls = statistics.fmean(polls) if polls else 0.0
    lines.append(f"  state transitions {transitions} = {transitions / run.particles:.1f} per particle, the parent's "
                 f"own included (at {mean_polls:.2f} visits each); parent history {len(run.parent)} events")
    if not result.meets_target:
        lines.append(f"  missed: makespan {run.makespan:.2f} s > {result.target:.1f} s"
                     if run.succeeded else f"  missed: {run.status}, {run.running}/{run.particles} running")
    return "\n".join(lines)


def _peak(result: MakespanResult) -> int:
    from benchmarks.sfn_history import peak_overlap

    return peak_overlap((c.started, c.ended) for c in result.children())


def sync_checking(seconds: float | None) -> str:
    """How waiting ``.sync`` Tasks checked their child: on each execution's end, or every ``seconds``."""
    return "on each execution's end" if seconds is None else f"every {seconds:g} s"


def cpu_lines(run: ExecutionRun) -> list[str]:
    """Process CPU over the makespan, and where it went."""
    share = run.cpu_seconds / run.wall_seconds if run.wall_seconds else 0.0
    handlers = run.handlers.total_cpu
    checks = run.sync_checks * run.costs.describe_execution
    executions = len(run.tree)
    parses = (executions - 1) * run.costs.parse.get("page", 0.0) + run.costs.parse.get("apply", 0.0)
    rest = run.cpu_seconds - handlers - checks - parses
    bound = "CPU-bound: one interpreter, one GIL" if share >= 0.85 else "not CPU-bound"
    return [
        f"  process CPU {run.cpu_seconds:.1f} s = {share:.0%} of one core over the wall time ({bound}); "
        f"peak threads {run.peak_threads}",
        f"  CPU by cause: Lambda handlers {handlers:.1f} s ({run.handlers.invocations} invocations); "
        f".sync checks {run.sync_checks} x {run.costs.describe_execution * 1000:.1f} ms = {checks:.1f} s; "
        f"ASL parses {executions} x ~{run.costs.parse.get('page', 0.0) * 1000:.0f} ms = {parses:.1f} s; "
        f"the rest (moto's interpreter, history events, Lambda plumbing) {rest:.1f} s",
    ]


def call_lines(run: ExecutionRun) -> list[str]:
    """The control plane's AWS calls per particle by operation, then per invocation of each handler."""
    lines = []
    for service in ("ec2", "dynamodb"):
        ops = run.calls.by_operation(service)
        if ops:
            total = run.calls.total(service)
            lines.append(
                f"  {service} calls per particle {total / run.particles:.2f} (mean latency "
                f"{run.calls.mean_latency(service) * 1000:.0f} ms): "
                + ", ".join(f"{op} {sum(c.values()) / run.particles:.2f}" for op, c in ops.items())
            )
    per_handler: dict[str, Counter[str]] = {}
    for (service, op, handler), n in run.calls.calls.items():
        if service in ("ec2", "dynamodb") and handler in run.handlers.stats:
            per_handler.setdefault(handler, Counter())[op] += n
    if per_handler:
        parts = []
        for handler, ops in sorted(per_handler.items()):
            count = run.handlers.stats[handler].count
            detail = " ".join(f"{op} {n / count:.1f}" for op, n in sorted(ops.items()))
            parts.append(f"{handler} {sum(ops.values()) / count:.1f} ({detail})")
        lines.append("  AWS calls per invocation: " + "; ".join(parts))
    if run.stdout_lines:
        lines.append(f"  handlers printed {run.stdout_lines} lines to stdout (suppressed): Powertools metrics")
    return lines


# -- transitions ----------------------------------------------------------------------------------------------


def transitions_report(result: TransitionsResult) -> str:
    lines = ["sfn transitions (state transitions as AWS bills them: each state entered, plus each retry):"]
    for run, particles in zip(result.runs, result.per_run, strict=True):
        pairs = sorted(Counter((p.visits, round(p.transitions, 2)) for p in particles).items())
        lines.append(
            f"  {run.particles} particles in {len(run.children)} pages, pending {run.pending_seconds:g} s, "
            f"wait_seconds {run.wait_seconds}: {run.status}; (visits, transitions) per particle: "
            + ", ".join(f"({visits}, {n:g}) x{count}" for (visits, n), count in pairs)
            + f"; per execution, not per particle: {result.per_execution(run)} ({len(run.level_sizes)} level)"
        )
        lines.extend("  " + line for line in call_lines(run))
    intercept, slope = result.fit()
    lines.append(f"  fit over {len(result.particles)} particles: transitions = {intercept:.2f} + {slope:.2f} x visits "
                 f"(largest residual {result.max_residual:.2f})")
    lines.append(f"  happy path (1 visit, no poll: acted and read back done): {result.happy_path:.2f} per particle, "
                 f"target <= {HAPPY_PATH_TARGET}; per extra visit: {result.per_poll:.2f}, target <= {PER_POLL_TARGET}: "
                 f"{_verdict(result.meets_target)}")
    fewest = min(result.particles, key=lambda p: p.visits, default=None)
    if fewest is not None:
        lines.append("  one particle with the fewest visits, by state: "
                     + ", ".join(f"{name} {n:.3g}" for name, n in fewest.by_state.items()))
    return "\n".join(lines)


# -- history ----------------------------------------------------------------------------------------------------


def history_report(result: HistoryResult) -> str:
    lines = [f"sfn history ({result.shape}, pending 0, wait_seconds 0, .sync check "
             f"{sync_checking(result.sync_check_seconds)}: history content does not depend on it):"]
    header = (f"  {'particles':>9}  {'wall s':>7}  {'CPU s':>6}  {'handler ms':>10}  {'ddb ms':>6}  {'ec2 ms':>6}  "
              f"{'parent events':>13}  {'largest page':>13}  {'all events':>10}  {'largest payload B':>17}  where")
    lines.extend([header, "  " + "-" * (len(header) - 2)])
    for size in result.sizes:
        payload = size.largest_payload
        status = "" if size.succeeded else "  (did not succeed)"
        lines.append(
            f"  {size.particles:>9}  {size.wall_seconds:>7.1f}  {size.cpu_seconds:>6.1f}  "
            f"{size.handler_cpu * 1000:>10.1f}  {size.dynamodb_latency * 1000:>6.1f}  {size.ec2_latency * 1000:>6.1f}  "
            f"{size.parent_events:>13}  "
            f"{size.largest_child_events:>13}  {size.total_events:>10}  {payload.size:>17}  "
            f"{payload.state} {payload.event_type}.{payload.field}{status}"
        )
    lines.append("  (handler ms: mean CPU of one Lambda invocation; ddb/ec2 ms: mean call latency, GIL waits included)")
    for size in result.sizes:
        n = max(1, size.particles)
        lines.append(f"  {size.particles} particles ({len(size.levels)} levels): per particle "
                     f"{size.transitions / n:.2f} state transitions (whole tree), EC2 {size.ec2_calls / n:.2f} "
                     f"and DynamoDB {size.dynamodb_calls / n:.2f} calls (Lambdas and Await tasks)")
    lines.append(f"  limits: {MAX_HISTORY_EVENTS:,} events per execution history, {MAX_PAYLOAD_BYTES:,} B per "
                 "input/output (UTF-8)")
    if len(result.sizes) >= 2:
        events_at = result.particles_at(lambda s: s.parent_events, MAX_HISTORY_EVENTS)
        payload_at = result.particles_at(lambda s: s.largest_payload.size, MAX_PAYLOAD_BYTES)
        lines.append(
            f"  growth per particle: parent +{result.slope(lambda s: s.parent_events):.1f} events, largest payload "
            f"+{result.slope(lambda s: s.largest_payload.size):.0f} B; limits reached at ~{events_at:,.0f} particles "
            f"(events) and ~{payload_at:,.0f} particles in one level (payload)"
        )
    largest = result.sizes[-1] if result.sizes else None
    if largest is not None:
        lines.append(f"  largest run: {_history_verdict(largest)}")
    if result.skipped:
        lines.append(f"  {result.skipped}")
    return "\n".join(lines)


def _history_verdict(size: HistorySize) -> str:
    events_ok = size.parent_events <= MAX_HISTORY_EVENTS and size.largest_child_events <= MAX_HISTORY_EVENTS
    payload_ok = size.largest_payload.size <= MAX_PAYLOAD_BYTES
    return (f"{size.particles} particles: parent {size.parent_events / MAX_HISTORY_EVENTS:.1%}, largest page "
            f"{size.largest_child_events / MAX_HISTORY_EVENTS:.1%} of the event limit, "
            f"largest payload {size.largest_payload.size / MAX_PAYLOAD_BYTES:.1%} of 256 KiB: "
            f"{_verdict(events_ok and payload_ok and size.succeeded)}")


# -- import time and package -------------------------------------------------------------------------------------


def import_report(times: Sequence[import_bench.ImportTime]) -> str:
    runs = len(times[0].runs_us) if times else 0
    lines = [f"import time (python -X importtime, {runs} fresh interpreters each, median cumulative):"]
    lines.append(f"  {'module':<24}  {'alone ms':>8}  {'within app ms':>13}  runs ms")
    for t in times:
        inside = "-" if t.module == import_bench.APP else (f"{t.inside_app_us / 1000:.1f}"
                                                           if t.inside_app_us is not None else "not imported")
        lines.append(f"  {t.module:<24}  {t.median_us / 1000:>8.1f}  {inside:>13}  "
                     + ", ".join(f"{us / 1000:.0f}" for us in t.runs_us))
    app = next((t for t in times if t.module == import_bench.APP), None)
    if app is not None:
        lines.append(f"  import app {app.median_seconds:.3f} s, target <= {import_bench.TARGET_SECONDS:g} s: "
                     f"{_verdict(app.median_seconds <= import_bench.TARGET_SECONDS)}")
    return "\n".join(lines)


def package_report(size: package_bench.PackageSize | None, estimate: package_bench.PackageSize | None,
                   made: str = "") -> str:
    lines = ["deployment package:"]
    if made:
        lines.append("  make package: " + made.replace("\n", " | "))
    if size is None:
        lines.append("  build/package/deployment.zip is not built: run `make package` (chalice package downloads "
                     "Linux wheels: needs network), or `python -m benchmarks --package --case package`")
    for found in (size, estimate):
        if found is not None:
            lines.append(
                f"  {found.source}: {found.zipped_bytes / MIB:.2f} MiB zipped ({found.unzipped_bytes / MIB:.1f} MiB "
                f"unzipped), target <= {package_bench.TARGET_BYTES / MIB:g} MiB: {_verdict(found.within_target)}"
                + (f"; {found.note}" if found.note else "")
            )
            lines.append("    largest, zipped: " + ", ".join(f"{name} {n / MIB:.2f} MiB" for name, n in found.largest))
    return "\n".join(lines)
