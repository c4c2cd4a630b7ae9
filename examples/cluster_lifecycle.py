"""The main job: the master/worker cluster of ``examples/cluster.yml`` through run -> stop -> run -> terminate.

It runs on the local cloud (an in-process AWS emulator) with a visible pending phase, printing one progress
line per event and, after each phase, every particle's state and instance/volume id. It uses the ``pcf``
CLI's target setup and progress printer. Run it from anywhere::

    .venv/bin/python examples/cluster_lifecycle.py [--pending-seconds 2] [--quiet]

Exit codes: 0 every phase converged, 1 a phase failed, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parent.parent
CLUSTER_FILE = REPO / "examples" / "cluster.yml"
PHASES = ("running", "stopped", "running", "terminated")
VERBS = {"running": "run", "stopped": "stop", "terminated": "terminate"}
WHAT_HAPPENS = {
    "running": "parents first: the master, the workers (told the master's IP), then each worker's volume",
    "stopped": "children first; an EBS volume has no stopped state, so stopping deletes it (as in PCF)",
    "terminated": "children first: volumes, workers, master",
}
MAX_TIMEOUT = 120.0

try:  # a checkout without `pip install -e .` still runs
    import pcf  # noqa: F401
except ImportError:
    sys.path.insert(0, str(REPO / "chalicelib"))

from pcf.cli.acting import ApplyReport, ApplySettings, apply_selections, format_report  # noqa: E402
from pcf.cli.cancel import Cancellation  # noqa: E402
from pcf.cli.selection import Selection  # noqa: E402
from pcf.cli.targets import LOCAL, LocalCloudFactory, TargetSettings, local_cloud_factory, open_target  # noqa: E402
from pcf.core.builder import build  # noqa: E402
from pcf.core.definition import load_definition  # noqa: E402
from pcf.core.pcf_exceptions import DefinitionError  # noqa: E402


@dataclass
class PhaseResult:
    """One phase: the state the cluster was driven to, and what happened."""

    state: str
    report: ApplyReport


def anchor_template_paths(definition: dict[str, Any], base: Path) -> dict[str, Any]:
    """A copy of ``definition`` whose relative ``userdata_template_file`` paths are resolved against ``base``
    (EC2 particles read them from the working directory; the job may be started from anywhere)."""
    anchored = copy.deepcopy(definition)
    for member in anchored.get("particles") or [anchored]:
        custom = (member.get("aws_resource") or {}).get("custom_config") or {}
        template = custom.get("userdata_template_file")
        if template and not Path(template).is_absolute():
            custom["userdata_template_file"] = str(base / template)
    return anchored


def run_lifecycle(
    out: TextIO,
    *,
    pending_seconds: float = 2.0,
    quiet: bool = False,
    clock: Any = None,
    local_cloud: LocalCloudFactory | None = None,
    phases: tuple[str, ...] = PHASES,
    cancellation: Cancellation | None = None,
) -> list[PhaseResult]:
    """Drive the cluster through ``phases`` on a fresh local cloud (on ``clock``, the real one by default; or
    the one ``local_cloud`` makes); stops after the first failed phase."""
    cluster = build(anchor_template_paths(load_definition(CLUSTER_FILE), REPO))
    selection = Selection(cluster, cluster)
    settings = ApplySettings(max_timeout=MAX_TIMEOUT, quiet=quiet)
    target_settings = TargetSettings(LOCAL, pending_seconds=pending_seconds)
    results: list[PhaseResult] = []
    with open_target(target_settings, local_cloud=local_cloud or local_cloud_factory(clock)) as target:
        say(out, f"target: {target.description}")
        say(out, f"cluster: {cluster.name} ({cluster.flavor}), {len(selection.particles())} particles, "
                 f"from {CLUSTER_FILE.relative_to(REPO)}")
        for number, state in enumerate(phases, 1):
            say(out, f"\n== phase {number}/{len(phases)}: pcf {VERBS[state]} -> {state} ==")
            say(out, f"   {WHAT_HAPPENS[state]}")
            selection.set_desired_state(state)
            report = apply_selections([selection], target, settings, out, cancellation=cancellation)
            out.write(format_report(report))
            for pcf_id, reason in report.failures:
                say(out, f"failed: {pcf_id}: {reason}")
            results.append(PhaseResult(state, report))
            if not report.ok:
                break
    return results


def say(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cluster_lifecycle", description="run, stop, run and terminate the example cluster on the local cloud"
    )
    parser.add_argument("--pending-seconds", type=float, default=2.0, metavar="SECONDS",
                        help="how long instances and new volumes stay in transition (default 2)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only each phase's summary")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, out: TextIO | None = None, clock: Any = None) -> int:
    """Run the job; returns the exit code."""
    args = parse_args(argv)
    stream = out or sys.stdout
    cancellation = Cancellation()
    run: Callable[[], list[PhaseResult]] = lambda: run_lifecycle(  # noqa: E731
        stream, pending_seconds=args.pending_seconds, quiet=args.quiet, clock=clock, cancellation=cancellation
    )
    try:
        with cancellation.on_sigint():
            results = run()
    except DefinitionError as error:
        say(sys.stderr, f"cluster_lifecycle: error: {error}")
        return 2
    except KeyboardInterrupt:
        say(sys.stderr, "cluster_lifecycle: interrupted")
        return 130
    done = [r.state for r in results if r.report.ok]
    total = sum(r.report.elapsed for r in results)
    if len(done) == len(PHASES):
        say(stream, f"\nlifecycle done: {' -> '.join(done)} in {total:.1f}s")
        return 0
    say(stream, f"\nlifecycle FAILED in phase {len(results)} ({results[-1].state})")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
