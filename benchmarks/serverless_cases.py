"""The serverless cases of ``python -m benchmarks``: Step Functions applies on the local cloud, ``import app``
time and the deployment package. ``jobs`` lists them by name (for ``--case``); ``print_results`` prints them."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from benchmarks import (
    cold_start_bench,
    import_bench,
    local_cloud_scale,
    package_bench,
    reconcile_bench,
    sfn_cases,
    sfn_report,
    sizing_bench,
    throttle_bench,
)

DEFAULT_WIDTHS = (20, 40, 40)
QUICK_WIDTHS = (2, 4, 4)
DEFAULT_WAIT_SECONDS = 1
DEFAULT_CONCURRENCY = 40
DEFAULT_COMPARISON_SYNC_CHECK = 0.25
"""The history case's ``.sync`` check interval: its histories do not depend on it, its wall time does."""
TRANSITIONS_LONG_PENDING = 3.0
DEFAULT_TRANSITION_PARTICLES, QUICK_TRANSITION_PARTICLES = 10, 3
DEFAULT_HISTORY_STEPS, QUICK_HISTORY_STEPS = (10, 100), (10,)
DEFAULT_HISTORY_PARTICLES, QUICK_HISTORY_PARTICLES = 1000, 20
DEFAULT_HISTORY_BUDGET = 600.0
DEFAULT_IMPORT_RUNS, QUICK_IMPORT_RUNS = 5, 3

FLOOR_CASE = "sfn makespan 1 particle"
IMPORT_CASE = "import app"
PACKAGE_CASE = "package size"
SIZING_CASE = "lambda sizing"
COLD_START_CASE = "cold start"


@dataclass(frozen=True)
class Job:
    """A named case: ``run()`` returns its result."""

    name: str
    run: Callable[[], Any]


@dataclass(frozen=True)
class ImportTimes:
    times: list[import_bench.ImportTime]


@dataclass(frozen=True)
class PackageResult:
    built: package_bench.PackageSize | None
    estimate: package_bench.PackageSize | None
    made: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The serverless cases' options."""
    group = parser.add_argument_group("serverless cases (Step Functions on the local cloud, import time, package)")
    group.add_argument("--wait-seconds", type=int, default=DEFAULT_WAIT_SECONDS,
                       help=f"the apply's wait_seconds between polls (integer, default {DEFAULT_WAIT_SECONDS})")
    group.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                       help=f"particles of a level at once, 1..40 (default {DEFAULT_CONCURRENCY})")
    group.add_argument("--sfn-widths", default=None, metavar="N,N,...",
                       help="level widths of the makespan case, each a multiple of the first "
                       f"(default {_text(DEFAULT_WIDTHS)}; {_text(QUICK_WIDTHS)} with --quick)")
    group.add_argument("--sync-check-seconds", type=float, default=None, metavar="S",
                       help="also run the makespan case with the .sync check every S s instead of the local "
                       "cloud's check on each execution's end "
                       f"(default {DEFAULT_COMPARISON_SYNC_CHECK:g}; none with --quick; 0: no such run)")
    group.add_argument("--history-particles", type=int, default=None,
                       help=f"the largest history case (default {DEFAULT_HISTORY_PARTICLES}; "
                       f"{QUICK_HISTORY_PARTICLES} with --quick)")
    group.add_argument("--history-budget", type=float, default=DEFAULT_HISTORY_BUDGET, metavar="S",
                       help="run the largest history case only if its estimated time fits S seconds "
                       f"(default {DEFAULT_HISTORY_BUDGET:g})")
    group.add_argument("--history-levels", default=None, metavar="N,N,...",
                       help="also run one apply of these level widths for the history figures, each a multiple "
                       "of the first (e.g. 100,900,9000; none by default: ~1,000 s at 10,000 particles)")
    group.add_argument("--import-runs", type=int, default=None,
                       help=f"fresh interpreters per module (default {DEFAULT_IMPORT_RUNS}; {QUICK_IMPORT_RUNS} "
                       "with --quick)")
    group.add_argument("--package", action="store_true",
                       help="run `make package` first (network needed) and report build/package/deployment.zip")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill in the ``--quick``-dependent defaults and reject impossible values."""
    try:
        widths = tuple(int(n) for n in args.sfn_widths.split(",")) if args.sfn_widths else None
    except ValueError:
        parser.error("--sfn-widths takes integers separated by commas, e.g. 20,40,40")
    args.sfn_widths = widths or (QUICK_WIDTHS if args.quick else DEFAULT_WIDTHS)
    try:
        args.history_levels = tuple(int(n) for n in args.history_levels.split(",")) if args.history_levels else ()
    except ValueError:
        parser.error("--history-levels takes integers separated by commas, e.g. 100,900,9000")
    if args.history_levels and (min(args.history_levels) < 1
                                or any(w % args.history_levels[0] for w in args.history_levels)):
        parser.error("--history-levels: every width must be a positive multiple of the first")
    if min(args.sfn_widths) < 1 or any(w % args.sfn_widths[0] for w in args.sfn_widths):
        parser.error("--sfn-widths: every width must be a positive multiple of the first")
    if args.sync_check_seconds is None:
        args.sync_check_seconds = 0.0 if args.quick else DEFAULT_COMPARISON_SYNC_CHECK
    if args.history_particles is None:
        args.history_particles = QUICK_HISTORY_PARTICLES if args.quick else DEFAULT_HISTORY_PARTICLES
    if args.import_runs is None:
        args.import_runs = QUICK_IMPORT_RUNS if args.quick else DEFAULT_IMPORT_RUNS
    if not 1 <= args.concurrency <= 40:
        parser.error("--concurrency must be 1..40 (the apply's settings allow no more)")
    if args.wait_seconds < 0 or args.sync_check_seconds < 0 or args.history_particles < 2 or args.import_runs < 1:
        parser.error("--wait-seconds, --sync-check-seconds >= 0; --history-particles >= 2; --import-runs >= 1")


def jobs(args: argparse.Namespace) -> list[Job]:
    """The serverless cases, in the order they run."""
    widths = args.sfn_widths
    common = {"pending_seconds": args.pending_seconds, "wait_seconds": args.wait_seconds,
              "concurrency": args.concurrency}
    makespan = f"sfn makespan {_text(widths, '->')}"
    polling = f"{makespan}, polling"
    chosen = [Job(FLOOR_CASE, lambda: sfn_cases.run_makespan(FLOOR_CASE, (1,), **common)),
              Job(makespan, lambda: sfn_cases.run_makespan(makespan, widths, **common)),
              Job(polling, lambda: sfn_cases.run_makespan(polling, widths, waits="poll", **common))]
    if args.sync_check_seconds:
        compared = f"{makespan}, sync check {args.sync_check_seconds:g} s"
        chosen.append(Job(compared, lambda: sfn_cases.run_makespan(
            compared, widths, sync_check_seconds=args.sync_check_seconds, **common)))
    particles = QUICK_TRANSITION_PARTICLES if args.quick else DEFAULT_TRANSITION_PARTICLES
    chosen.append(Job("sfn transitions", lambda: sfn_cases.run_transitions(
        particles, long_pending_seconds=TRANSITIONS_LONG_PENDING, wait_seconds=max(1, args.wait_seconds),
        concurrency=args.concurrency, sync_check_seconds=None)))
    steps = QUICK_HISTORY_STEPS if args.quick else DEFAULT_HISTORY_STEPS
    chosen.append(Job(f"sfn history 1->{args.history_particles - 1}", lambda: sfn_cases.run_history(
        [n for n in steps if n < args.history_particles], args.history_particles,
        budget_seconds=args.history_budget, concurrency=args.concurrency,
        sync_check_seconds=None)))
    if args.history_levels:
        levels = args.history_levels
        chosen.append(Job(f"sfn history {_text(levels, '->')}", lambda: sfn_cases.run_levels_history(
            levels, concurrency=args.concurrency, timeout_seconds=max(1800.0, 3 * args.history_budget))))
    chosen.append(Job(IMPORT_CASE, lambda: ImportTimes(import_bench.measure(args.import_runs))))
    chosen.append(Job(PACKAGE_CASE, lambda: _package(args.package)))
    sizes = sizing_bench.QUICK_SIZES if args.quick else sizing_bench.SIZES
    chosen.append(Job(SIZING_CASE, lambda: sizing_bench.run(sizes)))
    chosen.append(Job(COLD_START_CASE, _cold_start))
    pages = 1 if args.quick else 2
    chosen.append(Job(reconcile_bench.CASE, lambda: reconcile_bench.run(pages * reconcile_bench.PAGE_SIZE)))
    throttled = throttle_bench.QUICK_PARTICLES if args.quick else throttle_bench.PARTICLES
    chosen.append(Job(throttle_bench.CASE, lambda: throttle_bench.run(throttled)))
    scale = local_cloud_scale.QUICK_PARTICLES if args.quick else local_cloud_scale.PARTICLES
    chosen.append(Job(local_cloud_scale.CASE, lambda: local_cloud_scale.run(scale)))
    return chosen


def _cold_start() -> cold_start_bench.ColdStart | str:
    """The built package's cold start, or why there is none to measure."""
    if not package_bench.PACKAGE.exists():
        return "cold start: no build/package/deployment.zip (run make package, or --package)"
    return cold_start_bench.measure(package_bench.PACKAGE, runs=3)


def _package(make: bool) -> PackageResult:
    made = package_bench.make_package() if make else ""
    built = package_bench.built()
    return PackageResult(built, None if built is not None else package_bench.estimate(), made)


def _text(widths: tuple[int, ...], separator: str = ",") -> str:
    return separator.join(str(w) for w in widths)


def header(args: argparse.Namespace) -> str:
    return (f"Step Functions cases: the deployed control plane (apply.asl.json, one page.asl.json execution per "
            f"page of up to 40 particles) on the local cloud, real clock; pending phase {args.pending_seconds:g} s, "
            f"wait_seconds {args.wait_seconds}, concurrency {args.concurrency}")


def print_results(results: Mapping[str, Any]) -> None:
    """Print whichever serverless results there are: makespan, transitions, history, import, package."""
    values = list(results.values())
    makespans = [r for r in values if isinstance(r, sfn_cases.MakespanResult)]
    if makespans:
        print()
        print(sfn_report.makespan_table(makespans))
        floor = next((r for r in makespans if r.floor), None)
        if floor is not None:
            print(sfn_report.contention_lines(floor, [r for r in makespans if not r.floor]))
        for result in makespans:
            print()
            print(sfn_report.makespan_details(result))
    printers: list[tuple[type, Callable[[Any], str]]] = [
        (sfn_cases.TransitionsResult, sfn_report.transitions_report),
        (sfn_cases.HistoryResult, sfn_report.history_report),
        (ImportTimes, lambda r: sfn_report.import_report(r.times)),
        (PackageResult, lambda r: sfn_report.package_report(r.built, r.estimate, r.made)),
        (sizing_bench.SizingResult, lambda r: r.text()),
        (cold_start_bench.ColdStart, lambda r: r.text()),
        (local_cloud_scale.ScaleResult, lambda r: r.text()),
        (reconcile_bench.ReconcileResult, lambda r: r.text()),
        (throttle_bench.ThrottleResult, lambda r: r.text()),
        (str, lambda r: r),
    ]
    for kind, printer in printers:
        for result in values:
            if isinstance(result, kind):
                print()
                print(printer(result))
