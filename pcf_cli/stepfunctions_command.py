"""``pcf apply/run/stop/terminate --engine stepfunctions``: validate locally, then one ``apply`` execution per
definition on the control plane (deployed into the in-process local cloud, or found on AWS), followed."""

from __future__ import annotations

import copy
from types import SimpleNamespace

from pcf_cli.acting import check_ready, conclude
from pcf_cli.cancel import Cancellation
from pcf_cli.endpoint import open_endpoint
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
from pcf_cli.selection import build_definitions, definition_file, in_dependency_order, load_definitions, select
from pcf_cli.stepfunctions_engine import PlannedExecution, StepFunctionsApply
from pcf_cli.targets import EPHEMERAL_NOTE, TargetSettings


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
        run_settings = execution_settings(wait_seconds=endpoint.wait_seconds(args.wait_seconds), **options)
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
    return conclude(env, report, [report.error] if report.error else [],
                    EPHEMERAL_NOTE if target.ephemeral and not args.quiet else "")

