"""``pcf apply/run/stop/terminate --engine stepfunctions``: validate locally, then one ``apply`` execution per
definition on the control plane (deployed into the in-process local cloud, or found on AWS), followed."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.acting import check_ready, print_report
from pcf_cli.aws_control_plane import aws_control_plane, resolve_apply_machine
from pcf_cli.cancel import Cancellation
from pcf_cli.endpoint import ControlPlaneEndpoint
from pcf_cli.environment import CliEnvironment
from pcf_cli.execution_input import (
    check_expressible,
    execution_input,
    execution_settings,
    inline_templates,
    member_input,
    new_execution_name,
)
from pcf_cli.exit_codes import ExitCode
from pcf_cli.local_control_plane import LOCAL_POLL_SECONDS, local_control_plane
from pcf_cli.selection import build_definitions, definition_file, in_dependency_order, load_definitions, select
from pcf_cli.stages import read_stage
from pcf_cli.stepfunctions_engine import PlannedExecution, StepFunctionsApply
from pcf_cli.targets import EPHEMERAL_NOTE, Target, TargetSettings

AWS_ONLY_OPTIONS = (("state_machine_arn", "--state-machine-arn"), ("stack", "--stack"))


def converge_stepfunctions(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """Apply each top-level definition (or the one NAME picks) through the ``apply`` state machine."""
    path = definition_file(args.file, env.cwd)
    definitions = [inline_templates(item, path.parent) for item in load_definitions(path)]  # the Lambdas read none
    built = build_definitions(copy.deepcopy(definitions), root=path.parent)
    selections = select(built, args.name)
    for selection in selections:
        check_expressible(selection, args.cascade)
        if args.state:
            selection.set_desired_state(args.state, args.cascade)
    selections = in_dependency_order(selections)
    check_ready(selections, args.cascade, "set desired_state in the definition, or use pcf run/stop/terminate")
    options = {"timeout": args.timeout, "rollback": args.rollback, "concurrency": args.max_workers}
    execution_settings(wait_seconds=args.wait_seconds or 0, **options)  # refuse bad options before any start
    position = {id(particle): index for index, particle in enumerate(built)}
    cancellation = Cancellation()
    settings = TargetSettings(args.target, args.region, args.pending_seconds)
    with env.open_target(settings) as target, open_endpoint(target, args, env) as endpoint:
        wait = endpoint.default_wait_seconds if args.wait_seconds is None else args.wait_seconds
        run_settings = execution_settings(wait_seconds=wait, **options)
        planned = [
            PlannedExecution(
                selection,
                new_execution_name(f"pcf-{args.command}", f"{selection.top.name}-{selection.particle.name}"
                               if selection.is_member else selection.top.name),
                execution_input(definitions[position[id(selection.top)]], args.state, run_settings,
                                member_input(selection, args.cascade)),
                args.cascade,
            )
            for selection in selections
        ]
        if not args.quiet:
            env.note(f"target: {target.description}")
            env.note(f"engine: stepfunctions, {endpoint.description}; wait {run_settings.wait_seconds}s, "
                     f"max polls {run_settings.max_polls}, concurrency {run_settings.concurrency}"
                     f"{', rollback' if run_settings.rollback else ''}")
        engine = StepFunctionsApply(endpoint, env.err, quiet=args.quiet, note=env.note, cancellation=cancellation)
        with cancellation.on_sigint():
            report = engine.run(planned)
    print_report(env.out, report)
    if report.error:
        env.error(report.error)
    if target.ephemeral and not args.quiet:
        env.note(EPHEMERAL_NOTE)
    return ExitCode.OK if report.ok else ExitCode.FAILED


@contextmanager
def open_endpoint(target: Target, args: SimpleNamespace, env: CliEnvironment) -> Iterator[ControlPlaneEndpoint]:
    """The control plane of ``target``: deployed into its in-process local cloud, or found (see
    ``pcf_cli.aws_control_plane``)."""
    if target.cloud is not None:
        for name, option in AWS_ONLY_OPTIONS:
            if getattr(args, name, None):
                raise DefinitionError(option, "the in-process local cloud deploys its own control plane: "
                                              "this option is for --target aws")
        with local_control_plane(target.cloud, stage=args.stage, verbose=args.verbose,
                                 pending_seconds=args.pending_seconds or 0.0,
                                 function_output=env.stderr if args.verbose else None) as endpoint:
            yield endpoint
        return
    if target.apply_arn:
        yield ControlPlaneEndpoint(
            sfn=target.client_factory.client("stepfunctions"),
            apply_arn=target.apply_arn,
            description=f"state machine {target.apply_arn.rsplit(':', 1)[-1]} (on the local server)",
            default_wait_seconds=1,
            poll_seconds=LOCAL_POLL_SECONDS,
            max_child_reads=None,
            lambda_client=target.client_factory.client("lambda"),
        )
        return
    machine = resolve_apply_machine(
        option=args.state_machine_arn,
        environ=env.environ,
        stack=args.stack or default_stack(args.stage),
        cloudformation=lambda: target.client_factory.client("cloudformation"),
    )
    yield aws_control_plane(target.client_factory, machine)


def default_stack(stage: str) -> str:
    """The stage's stack name, ``<app_name>-<stage>`` (``pcf-serverless-<stage>`` without a Chalice config)."""
    try:
        return read_stage(stage).stack_name
    except DefinitionError:
        return f"pcf-serverless-{stage}"
