"""Command line of ``python -m benchmarks``: choose the cases, run them in turn, print the report.

The library-mode apply cases come first, then the serverless ones (``serverless_cases``: Step Functions on the
local cloud, ``import app`` time, the deployment package); ``--case`` selects from both by name."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from functools import partial

from benchmarks import definitions, report, serverless_cases
from benchmarks.apply_bench import Case, CaseResult, run_case
from benchmarks.serverless_cases import Job
from pcf.core.runtime import PollPolicy

DEFAULT_PENDING_SECONDS = 5.0
QUICK_PENDING_SECONDS = 1.0
DEFAULT_MAX_WORKERS = 100

FLAT_1 = "1 instance"
FLAT_10 = "10 instances"
SEQUENTIAL_10 = "10 instances, sequential"
FLAT_100 = "100 instances"
TREE_100 = "tree of 100 (1->9->90)"
LAYERED_100 = "library 100 in levels 20->40->40"
"""The Step Functions makespan case's shape (``sfn makespan 20->40->40``) in library mode, for the side-by-side."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Apply EC2 instances from nothing on the local cloud; print makespan / critical path "
        "and EC2 API calls per particle and per poll. Then the same through the deployed Step Functions control "
        "plane (makespan, state transitions, history sizes), import time of app.py and the package size.",
    )
    parser.add_argument(
        "--pending-seconds", type=float, default=None,
        help=f"how long instances stay pending (default {DEFAULT_PENDING_SECONDS:g}; {QUICK_PENDING_SECONDS:g} "
        "with --quick)",
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="a fast smoke run: 1 s pending phase, no 100-tree, small Step Functions cases",
    )
    parser.add_argument(
        "--max-workers", type=int, default=DEFAULT_MAX_WORKERS,
        help=f"apply threads for the parallel cases (default {DEFAULT_MAX_WORKERS}: a level of 100 at once)",
    )
    defaults = PollPolicy()
    parser.add_argument("--poll-initial", type=float, default=defaults.initial, help="first poll delay, s")
    parser.add_argument("--poll-factor", type=float, default=defaults.factor, help="poll delay growth factor")
    parser.add_argument("--poll-max", type=float, default=defaults.maximum, help="longest poll delay, s")
    parser.add_argument(
        "--case", action="append", dest="cases", metavar="NAME",
        help="run only the cases whose name contains NAME (repeatable)",
    )
    serverless_cases.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.pending_seconds is None:
        args.pending_seconds = QUICK_PENDING_SECONDS if args.quick else DEFAULT_PENDING_SECONDS
    if args.pending_seconds <= 0:
        parser.error("--pending-seconds must be positive (the critical path is a multiple of it)")
    if args.max_workers < 1:
        parser.error("--max-workers must be at least 1")
    if args.poll_initial <= 0 or args.poll_factor < 1 or args.poll_max < args.poll_initial:
        parser.error("poll backoff needs 0 < --poll-initial <= --poll-max and --poll-factor >= 1")
    serverless_cases.check_arguments(parser, args)
    return args


def cases(max_workers: int, quick: bool) -> list[Case]:
    """The cases, in the order they run."""
    chosen = [
        Case(FLAT_1, partial(definitions.independent, 1), max_workers),
        Case(FLAT_10, partial(definitions.independent, 10), max_workers),
        Case(SEQUENTIAL_10, partial(definitions.independent, 10), max_workers, baseline=True, one_by_one=True),
        Case(FLAT_100, partial(definitions.independent, 100), max_workers),
    ]
    if not quick:
        chosen.append(Case(TREE_100, definitions.tree, max_workers))
        chosen.append(Case(LAYERED_100, partial(definitions.layered, widths=(20, 40, 40)), max_workers))
    return chosen


def all_jobs(args: argparse.Namespace) -> list[Job]:
    """Every case as a named job: the library cases, then the serverless ones."""
    poll = PollPolicy(args.poll_initial, args.poll_factor, args.poll_max)
    library = cases(args.max_workers, args.quick)
    return [*(Job(c.name, partial(run_case, c, args.pending_seconds, poll)) for c in library),
            *serverless_cases.jobs(args)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; 0 unless a case crashed (missed targets are information, not failure)."""
    args = parse_args(argv)
    selected = [j for j in all_jobs(args) if not args.cases or any(n in j.name for n in args.cases)]
    poll = PollPolicy(args.poll_initial, args.poll_factor, args.poll_max)
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(
        f"PCF apply benchmarks on the local cloud: pending phase {args.pending_seconds:g} s (real clock), "
        f"poll backoff {poll.initial:g} s x{poll.factor:g} up to {poll.maximum:g} s, "
        f"{args.max_workers} workers for parallel cases, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load}",
        flush=True,
    )
    library_names = {c.name for c in cases(args.max_workers, args.quick)}
    if any(job.name not in library_names for job in selected):
        print(serverless_cases.header(args), flush=True)
    results: dict[str, object] = {}
    crashed: list[str] = []
    for job in selected:
        print(f"  running {job.name} ...", file=sys.stderr, flush=True)
        began = time.monotonic()
        try:
            results[job.name] = job.run()
        except Exception:
            crashed.append(job.name)
            print(f"  {job.name} crashed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        print(f"  ... {job.name} took {time.monotonic() - began:.1f} s", file=sys.stderr, flush=True)
    library = [r for r in results.values() if isinstance(r, CaseResult)]
    if library:
        _print_report(library)
    serverless_cases.print_results(results)
    if crashed:
        print(f"\ncrashed: {', '.join(crashed)}")
        return 1
    return 0


def _print_report(results: list[CaseResult]) -> None:
    print()
    print(report.table(results))
    print()
    print(
        f"targets: makespan <= {report.RATIO_TARGET:g} x critical path (levels x pending phase); from nothing "
        f"<= {report.SETUP_CALLS_TARGET:g} EC2 calls per particle plus {report.CALLS_PER_POLL_TARGET:g} per poll "
        f"(budget/part, against calls/part)"
    )
    by_name = {r.case.name: r for r in results}
    if FLAT_10 in by_name and SEQUENTIAL_10 in by_name:
        print(report.comparison(by_name[FLAT_10], by_name[SEQUENTIAL_10], by_name.get(FLAT_100)))
    print()
    for result in results:
        print(report.details(result))
