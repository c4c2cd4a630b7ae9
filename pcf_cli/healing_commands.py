"""``pcf drift``, ``pcf reconcile`` and ``pcf heal PCF_ID``: the control plane's drift detection and healing, on
demand, on a target that keeps state (``docs/cli.md``, "drift, reconcile, heal and replay")."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from typing import Any

from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.acting import conclude
from pcf_cli.cancel import Cancellation
from pcf_cli.endpoint import open_endpoint
from pcf_cli.environment import CliEnvironment
from pcf_cli.execution_input import execution_settings, new_execution_name
from pcf_cli.exit_codes import ExitCode
from pcf_cli.output import print_table
from pcf_cli.stages import read_stage
from pcf_cli.stepfunctions_engine import follow_started
from pcf_cli.store_commands import lasting, missing_table, no_table
from pcf_cli.targets import Target, TargetSettings

DRIFT_HEADER = ("pcf_id", "observed -> desired", "differences", "action", "outcome")


RECONCILE_POLL_SECONDS = 1.0
"""Seconds between two reads of a running reconciliation's progress."""


def reconcile_machine_arn(target: Target, stage: str) -> str:
    """The ARN of the stage's ``reconcile`` state machine on ``target`` (its account asked of STS, else found by
    name); ``DefinitionError`` on ``--stage`` when it is not deployed there."""
    name = f"{read_stage(stage).stack_name}-reconcile"
    sfn = target.client_factory.client("stepfunctions")
    try:
        account = target.client_factory.client("sts").get_caller_identity()["Account"]
        return f"arn:aws:states:{target.region}:{account}:stateMachine:{name}"
    except Exception:  # no STS here: look the machine up by name
        for page in sfn.get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                if machine["name"] == name:
                    return str(machine["stateMachineArn"])
    raise _not_deployed(name, target)


def _not_deployed(name: str, target: Target) -> DefinitionError:
    return DefinitionError("--stage", f"no state machine {name} on {target.name} in {target.region}: deploy the "
                                      "stage (docs/deploying.md), or pass --stage")


def start_reconcile(target: Target, stage: str, act: bool, env: CliEnvironment) -> dict[str, Any]:
    """Start a run of the stage's ``reconcile`` machine on ``target``, follow it to its end (a progress line per
    page done) and return its report, read from the stage's table."""
    from pcf_control_plane.reconcile import Reconciler
    from pcf_control_plane.reconcile_start import execution_name, start_run
    from pcf_control_plane.store import DynamoDBStateStore

    settings = read_stage(stage)
    machine = reconcile_machine_arn(target, stage)
    sfn = target.client_factory.client("stepfunctions")
    run = str(uuid.uuid4())
    try:
        started = start_run(sfn, machine, execution_name(run), act=act, cause=f"reconcile:{run}",
                            skip_if_running=False)
    except sfn.exceptions.StateMachineDoesNotExist:
        raise _not_deployed(machine.rsplit(":", 1)[-1], target) from None
    store = DynamoDBStateStore(target.client_factory.client("dynamodb"), settings.table_name)
    reader = Reconciler(store, None, None, deployment=settings.deployment, clock=target.now)
    env.note(f"execution: {started.execution.rsplit(':', 1)[-1]} ({'reconcile' if act else 'dry run'})")
    status = _follow(sfn, started.execution, reader, target, env)
    if status["status"] != "SUCCEEDED":
        raise RuntimeError(f"{started.execution.rsplit(':', 1)[-1]} {status['status'].lower()}: "
                           f"{status.get('error', '')}: {status.get('cause', '')}")
    return reader.report(started.execution).model_dump(mode="json")


def _follow(sfn: Any, execution: str, reader: Any, target: Target, env: CliEnvironment) -> dict[str, Any]:
    """Wait (the target's sleep) until ``execution`` ends, noting the pages done as they grow."""
    from pcf_control_plane.reconcile_items import META_KEY, PAGE_PREFIX

    done = -1
    while True:
        status = sfn.describe_execution(executionArn=execution)
        meta = reader.store.get_run_items(execution, [META_KEY]).get(META_KEY)
        if meta is not None:
            pages = sum(len(found) for found in _pages_done(reader.store, execution, PAGE_PREFIX))
            if pages != done:
                done = pages
                env.note(f"reconcile: {pages}/{meta['pages']} page(s) done")
        if status["status"] != "RUNNING":
            return dict(status)
        target.sleep(RECONCILE_POLL_SECONDS)


def _pages_done(store: Any, execution: str, prefix: str) -> Any:
    cursor = None
    while True:
        found, cursor = store.query_run_items(execution, prefix, cursor, 1000)
        yield found
        if cursor is None:
            return


def drift_rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per drifted particle of a reconcile report."""
    rows: list[tuple[str, ...]] = []
    for item in report.get("drifted", []):
        differences = "; ".join(f"{name}: {old} -> {new}" for name, (old, new) in item.get("differences", {}).items())
        outcome = str(item.get("outcome", ""))
        execution = (item.get("heal") or {}).get("execution")
        rows.append((str(item["pcf_id"]), f"{item.get('observed')} -> {item.get('desired')}", differences or "-",
                     str(item.get("action", "-")), f"{outcome} ({execution})" if execution else outcome))
    return rows


def print_reconcile(env: CliEnvironment, report: dict[str, Any], dry_run: bool) -> None:
    """The drifted particles as a table (none: a line saying so), then a summary line."""
    drifted = report.get("drifted", [])
    if drifted:
        print_table(env.out, DRIFT_HEADER, drift_rows(report))
    else:
        env.stdout.write("no drift\n")
    verb = "dry run, nothing recorded or started" if dry_run else f"{report.get('observations_written', 0)} " \
                                                                  "observation(s) written"
    env.stdout.write(f"{report.get('cause', 'reconcile')}: {report.get('particles', 0)} particle(s), "
                     f"{len(drifted)} drifted; {verb}; {report.get('ec2_calls', 0)} EC2 call(s) in "
                     f"{float(report.get('seconds', 0.0)):.2f}s\n")


def run_reconcile(args: SimpleNamespace, env: CliEnvironment, *, act: bool) -> dict[str, Any]:
    """Run the stage's reconcile machine on the command's target (``act``: or a dry run); print its report."""
    with env.open_target(TargetSettings.of(args)) as target:
        report = start_reconcile(lasting(target), args.stage, act, env)
    print_reconcile(env, report, dry_run=not act)
    return report


def reconcile(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """Reconcile now: drift recorded, then reverted or reported per particle policy."""
    run_reconcile(args, env, act=True)
    return ExitCode.OK


def drift(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """What differs, per particle, without recording or starting anything: exit 0 none, 3 drift found."""
    return ExitCode.DRIFT if run_reconcile(args, env, act=False).get("drifted") else ExitCode.OK


def heal(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """Start a healing ``apply`` of PCF_ID and its dependants at their stored desired states; follow it."""
    from pcf_control_plane.store import DynamoDBStateStore

    table = read_stage(args.stage).table_name
    if args.wait_seconds is not None:
        execution_settings(wait_seconds=args.wait_seconds, timeout=None, rollback=False, concurrency=None)
    cancellation = Cancellation()
    with env.open_target(TargetSettings.of(args)) as target:
        store = DynamoDBStateStore(lasting(target).client_factory.client("dynamodb"), table)
        with missing_table("--stage", no_table(table, target)):
            record = store.get_particle(args.pcf_id)
        if record is None or record.spec is None:
            raise DefinitionError("PCF_ID", f"no particle {args.pcf_id!r} is stored in table {table} "
                                            "(pcf status lists them)")
        with open_endpoint(target, args, env) as endpoint:
            settings = execution_settings(wait_seconds=endpoint.wait_seconds(args.wait_seconds), timeout=args.timeout,
                                          rollback=False, concurrency=None)
            name = new_execution_name("heal", "manual")
            payload = {"heal": args.pcf_id, "wait_seconds": settings.wait_seconds, "max_polls": settings.max_polls,
                       "await_seconds": settings.await_seconds}
            arn = endpoint.sfn.start_execution(stateMachineArn=endpoint.apply_arn, name=name,
                                               input=json.dumps(payload))["executionArn"]
            if not args.quiet:
                env.note(f"target: {target.description}")
                env.note(f"execution: {name} (heal {args.pcf_id} and its dependants)")
            with cancellation.on_sigint():
                report = follow_started(endpoint, arn, env.err, quiet=args.quiet, note=env.note,
                                        cancellation=cancellation)
    return conclude(env, report, [report.error] if report.error else [])
