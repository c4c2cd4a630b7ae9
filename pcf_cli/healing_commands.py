"""``pcf drift``, ``pcf reconcile`` and ``pcf heal PCF_ID``: the control plane's drift detection and healing, on
demand, on a target that keeps state (``docs/cli.md``, "drift, reconcile, heal and replay")."""

from __future__ import annotations

import json
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
from pcf_control_plane.aws_events import reconcile_request

DRIFT_HEADER = ("pcf_id", "observed -> desired", "differences", "action", "outcome")


def invoke_reconcile(target: Target, stage: str, act: bool) -> dict[str, Any]:
    """Invoke the stage's ``reconcile`` function on ``target``; its report."""
    function = read_stage(stage).function_name("reconcile")
    try:
        account = target.client_factory.client("sts").get_caller_identity()["Account"]
    except Exception:  # the account is informative only; the function checks no schedule's account
        account = ""
    client = target.client_factory.client("lambda")
    request = reconcile_request(account, target.region, act=act)
    try:
        response = client.invoke(FunctionName=function, Payload=json.dumps(request).encode())
    except client.exceptions.ResourceNotFoundException:
        raise DefinitionError("--stage", f"no function {function} on {target.name} in {target.region}: deploy the "
                                         "stage (docs/deploying.md), or pass --stage") from None
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        message = payload.get("errorMessage", payload) if isinstance(payload, dict) else payload
        raise RuntimeError(f"{function} failed: {message}")
    return dict(payload or {})


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
    """Invoke the stage's reconcile function on the command's target (``act``: or a dry run); print its report."""
    with env.open_target(TargetSettings.of(args)) as target:
        report = invoke_reconcile(lasting(target), args.stage, act=act)
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
