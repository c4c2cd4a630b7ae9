"""The main job: the master/worker cluster of ``examples/cluster.yml`` through run -> stop -> run -> heal ->
terminate, each phase one execution of the control plane's ``apply`` state machine.

It runs on the local cloud (an in-process AWS emulator) where the control plane is deployed as on AWS: the
state table, every Lambda function of ``app.py`` (run in this process) and the Step Functions state machines.
Instances spend a visible pending phase (2 s by default) in every transition, new volumes 1 s creating. Each
phase starts one ``apply`` execution and follows its history, printing one progress line per particle event
(state changes with the resource id, transitions), then every particle's state and instance/volume id. It
uses the ``pcf`` CLI's Step Functions engine.

The ``heal`` act, with the cluster running, stops one worker behind the framework's back (a plain EC2
``stop_instances``): the local cloud publishes EC2's state-change events to EventBridge, whose rule invokes
the ``on_ec2_event`` Lambda, which records the observation and starts a healing ``apply`` execution
(``heal-<event id>``) for the worker and its volume. The job follows it and prints the worker's history.
Run it from anywhere::

    .venv/bin/python examples/cluster_lifecycle.py [--pending-seconds 2] [--quiet]

Exit codes: 0 every phase converged, 1 a phase failed, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parent.parent
CLUSTER_FILE = REPO / "examples" / "cluster.yml"
HEAL = "heal"
PHASES = ("running", "stopped", "running", HEAL, "terminated")
VERBS = {"running": "run", "stopped": "stop", "terminated": "terminate"}
WHAT_HAPPENS = {
    "running": "parents first: the master, the workers (told the master's IP), then each worker's volume",
    "stopped": "children first; an EBS volume has no stopped state, so stopping deletes it (as in PCF)",
    "terminated": "children first: volumes, workers, master",
}
MAX_TIMEOUT = 120.0
HEALED_WORKER = "ec2_instance:worker-1"

try:  # a checkout without `pip install -e .` still runs
    import pcf  # noqa: F401
except ImportError:
    sys.path.insert(0, str(REPO / "chalicelib"))

from pcf.core.builder import build  # noqa: E402
from pcf.core.definition import load_definition  # noqa: E402
from pcf.core.pcf_exceptions import DefinitionError  # noqa: E402
from pcf_cli.acting import ApplyReport, check_ready, format_report  # noqa: E402
from pcf_cli.cancel import Cancellation  # noqa: E402
from pcf_cli.execution_input import (  # noqa: E402
    execution_input,
    execution_settings,
    inline_templates,
    new_execution_name,
)
from pcf_cli.local_control_plane import local_control_plane  # noqa: E402
from pcf_cli.selection import Selection  # noqa: E402
from pcf_cli.self_healing import heal_behind_the_back  # noqa: E402
from pcf_cli.stepfunctions_engine import PlannedExecution, StepFunctionsApply  # noqa: E402
from pcf_cli.targets import LOCAL, LocalCloudFactory, TargetSettings, open_target  # noqa: E402


@dataclass
class PhaseResult:
    """One phase: the state the cluster was driven to, the execution that did it, and what happened."""

    state: str
    execution: str
    report: ApplyReport
    history: list[Any] = field(default_factory=list)


def cluster_cloud(pending_seconds: float, volume_pending_seconds: float, clock: Any = None) -> LocalCloudFactory:
    """Makes the job's local cloud: instances spend ``pending_seconds`` in each transition, new volumes
    ``volume_pending_seconds`` creating."""

    def make(region: str, pending: float) -> Any:
        from pcf_local_cloud.cloud import LocalCloud

        return LocalCloud(region=region, pending_seconds=pending_seconds,
                          volume_pending_seconds=volume_pending_seconds, clock=clock)

    return make


def run_lifecycle(
    out: TextIO,
    *,
    pending_seconds: float = 2.0,
    volume_pending_seconds: float = 1.0,
    wait_seconds: int | None = None,
    quiet: bool = False,
    clock: Any = None,
    local_cloud: LocalCloudFactory | None = None,
    phases: tuple[str, ...] = PHASES,
    cancellation: Cancellation | None = None,
    after_phase: Callable[[PhaseResult, Any], None] | None = None,
) -> list[PhaseResult]:
    """Drive the cluster through ``phases`` on a fresh local cloud (on ``clock``, the real one by default; or
    the one ``local_cloud`` makes), one ``apply`` execution per phase; stops after the first failed phase.
    Particles are polled every ``wait_seconds`` (default: 1, or 0 when ``pending_seconds`` is 0).
    ``after_phase(result, cloud)`` is called after each phase (tests look at the cloud there)."""
    definition = inline_templates(load_definition(CLUSTER_FILE), CLUSTER_FILE.parent)  # as pcf sends it
    cluster = build(copy.deepcopy(definition))
    selection = Selection(cluster, cluster)
    results: list[PhaseResult] = []
    target_settings = TargetSettings(LOCAL, pending_seconds=pending_seconds)
    maker = local_cloud or cluster_cloud(pending_seconds, volume_pending_seconds, clock)
    with open_target(target_settings, local_cloud=maker) as target, \
            local_control_plane(target.cloud, pending_seconds=pending_seconds) as endpoint:
        wait = endpoint.default_wait_seconds if wait_seconds is None else wait_seconds
        settings = execution_settings(wait_seconds=wait, timeout=MAX_TIMEOUT, rollback=False, concurrency=None)
        say(out, f"target: {target.description}")
        say(out, f"control plane: {endpoint.description}; particles polled every {settings.wait_seconds}s")
        say(out, f"cluster: {cluster.name} ({cluster.flavor}), {len(selection.particles())} particles, "
                 f"from {CLUSTER_FILE.relative_to(REPO)}")
        for number, state in enumerate(phases, 1):
            if state == HEAL:
                say(out, f"\n== phase {number}/{len(phases)}: self-healing ==")
                act = heal_behind_the_back(out, target.cloud, endpoint, HEALED_WORKER, quiet=quiet,
                                           cancellation=cancellation)
                results.append(PhaseResult(HEAL, act.execution, act.report, act.history))
                if after_phase is not None:
                    after_phase(results[-1], target.cloud)
                if not act.report.ok:
                    say(out, f"failed: {act.report.error}")
                    break
                continue
            say(out, f"\n== phase {number}/{len(phases)}: pcf {VERBS[state]} -> {state} ==")
            say(out, f"   {WHAT_HAPPENS[state]}")
            selection.set_desired_state(state)
            check_ready([selection], False, "set desired_state")
            plan = PlannedExecution(selection, new_execution_name(f"pcf-{VERBS[state]}", cluster.name),
                                    execution_input(definition, state, settings))
            engine = StepFunctionsApply(endpoint, out, quiet=quiet, note=lambda line: say(out, line),
                                        cancellation=cancellation)
            report = engine.run([plan])
            out.write(format_report(report))
            if report.error:
                say(out, f"failed: {report.error}")
            results.append(PhaseResult(state, plan.name, report))
            if after_phase is not None:
                after_phase(results[-1], target.cloud)
            if not report.ok:
                break
    return results


def say(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


def phase_list(text: str) -> tuple[str, ...]:
    """``run,stop,run,heal,terminate`` (verbs or states) as states; ``heal`` only while the cluster runs."""
    states = {**{verb: state for state, verb in VERBS.items()}, **{state: state for state in VERBS}, HEAL: HEAL}
    phases = tuple(word.strip() for word in text.split(",") if word.strip())
    unknown = [word for word in phases if word not in states]
    if unknown or not phases:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a comma-separated list of {', '.join(VERBS.values())}, {HEAL}")
    result = tuple(states[word] for word in phases)
    before = "terminated"
    for state in result:
        if state == HEAL and before != "running":
            raise argparse.ArgumentTypeError(f"{text!r}: {HEAL} needs the cluster running: put it after run")
        before = before if state == HEAL else state
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cluster_lifecycle",
        description="run, stop, run, heal and terminate the example cluster on the local cloud",
    )
    parser.add_argument("--pending-seconds", type=float, default=2.0, metavar="SECONDS",
                        help="how long instances stay pending, stopping, shutting down (default 2)")
    parser.add_argument("--volume-pending-seconds", type=float, default=1.0, metavar="SECONDS",
                        help="how long new volumes stay creating (default 1)")
    parser.add_argument("--wait-seconds", type=int, default=None, metavar="SECONDS",
                        help="seconds between two polls of a particle in the state machine (default 1; 0 when "
                             "--pending-seconds is 0)")
    parser.add_argument("--phases", type=phase_list, default=PHASES, metavar="LIST",
                        help="the phases, in order (default run,stop,run,heal,terminate; heal: a worker stopped "
                             "behind pcf's back comes back on its own)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only each phase's summary")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, out: TextIO | None = None, clock: Any = None) -> int:
    """Run the job; returns the exit code."""
    args = parse_args(argv)
    stream = out or sys.stdout
    cancellation = Cancellation()
    run: Callable[[], list[PhaseResult]] = lambda: run_lifecycle(  # noqa: E731
        stream, pending_seconds=args.pending_seconds, volume_pending_seconds=args.volume_pending_seconds,
        wait_seconds=args.wait_seconds, quiet=args.quiet, clock=clock, phases=args.phases, cancellation=cancellation,
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
    if len(done) == len(args.phases):
        say(stream, f"\nlifecycle done: {' -> '.join(done)} in {total:.1f}s")
        return 0
    say(stream, f"\nlifecycle FAILED in phase {len(results)} ({results[-1].state})")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
