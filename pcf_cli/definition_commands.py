"""The commands that read a definition file: ``apply``, ``run``, ``stop``, ``terminate`` (either engine),
``validate``, ``plan`` and ``schema``."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

from pcf.core.apply_engine import dependency_graph, plan_levels
from pcf.core.definition import definition_json_schema
from pcf.core.particle import Particle
from pcf.core.pcf_exceptions import DefinitionError, DependencyCycleError
from pcf_cli.acting import ActOptions, apply_selections, check_ready, conclude
from pcf_cli.cancel import Cancellation
from pcf_cli.control_plane_guard import refuse_beside_control_plane
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
from pcf_cli.observe import OBSERVE_HEADER, observe_plan
from pcf_cli.output import print_table
from pcf_cli.selection import (
    Selection,
    build_definitions,
    definition_file,
    in_dependency_order,
    is_quasiparticle,
    load_definitions,
    select,
)
from pcf_cli.targets import EPHEMERAL_NOTE, TargetSettings

DIRECT = "direct"
STEPFUNCTIONS = "stepfunctions"
ENGINES = (STEPFUNCTIONS, DIRECT)
DEFAULT_MAX_WORKERS = 16
STEPFUNCTIONS_ONLY = (("wait_seconds", "--wait-seconds"),)
CONVERGE_HINT = "set desired_state in the definition, or use pcf run/stop/terminate"


def load_selections(args: SimpleNamespace, env: CliEnvironment) -> list[Selection]:
    """Read, validate and build the definition file, and pick what NAME names (all when no NAME)."""
    path = definition_file(args.file, env.cwd)
    built = build_definitions(load_definitions(path), root=path.parent)
    return select(built, getattr(args, "name", None))


def desire(selections: list[Selection], args: SimpleNamespace) -> None:
    """Set the command's ``--state`` (or ``run``/``stop``/``terminate``'s) on what is selected, if any."""
    if args.state:
        for selection in selections:
            selection.set_desired_state(args.state, args.cascade)


def converge(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """``apply`` (the definition's desired states) or ``run``/``stop``/``terminate`` (the command's), through
    the ``apply`` state machine (``--engine stepfunctions``) or in this process (``--engine direct``)."""
    if args.engine == STEPFUNCTIONS:
        return converge_stepfunctions(args, env)
    for name, option in STEPFUNCTIONS_ONLY:
        if getattr(args, name, None) is not None:
            raise DefinitionError(option, "applies to --engine stepfunctions only")
    return converge_direct(args, env)


def converge_direct(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """The library-mode apply: particles built and applied in this process against the target."""
    selections = load_selections(args, env)
    desire(selections, args)
    options = ActOptions(args.cascade, args.timeout, args.max_workers or DEFAULT_MAX_WORKERS, args.quiet,
                         args.rollback)
    selections = in_dependency_order(selections)
    check_ready(selections, options.cascade, CONVERGE_HINT)
    cancellation = Cancellation()
    with env.open_target(TargetSettings.of(args)) as target:
        refuse_beside_control_plane(target, args.stage)
        if not args.quiet:
            env.note(f"target: {target.description}")
        with cancellation.on_sigint():
            report = apply_selections(selections, target, options, env.err, hint=CONVERGE_HINT,
                                      cancellation=cancellation)
    return conclude(env, report, [f"{pcf_id}: {reason}" for pcf_id, reason in report.failures],
                    EPHEMERAL_NOTE if target.ephemeral and not args.quiet else "")


def converge_stepfunctions(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """Apply each top-level definition (or the one NAME picks) through the ``apply`` state machine: validated here,
    then one execution each on the target's control plane, followed."""
    from pcf_cli.endpoint import open_endpoint
    from pcf_cli.stepfunctions_engine import PlannedExecution, StepFunctionsApply

    path = definition_file(args.file, env.cwd)
    definitions = [inline_templates(item, path.parent) for item in load_definitions(path)]  # the Lambdas read none
    built = build_definitions(copy.deepcopy(definitions), root=path.parent)
    selections = select(built, args.name)
    for selection in selections:
        check_expressible(selection, args.cascade)
    desire(selections, args)
    selections = in_dependency_order(selections)
    check_ready(selections, args.cascade, CONVERGE_HINT)
    options = {"timeout": args.timeout, "rollback": args.rollback, "concurrency": args.max_workers}
    execution_settings(wait_seconds=args.wait_seconds or 0, **options)  # refuse bad options before any start
    position = {id(particle): index for index, particle in enumerate(built)}
    cancellation = Cancellation()
    with env.open_target(TargetSettings.of(args)) as target, open_endpoint(target, args, env) as endpoint:
        settings = execution_settings(wait_seconds=endpoint.wait_seconds(args.wait_seconds), **options)
        planned = [
            PlannedExecution(
                selection,
                new_execution_name(f"pcf-{args.command}", f"{selection.top.name}-{selection.particle.name}"
                                   if selection.is_member else selection.top.name),
                execution_input(definitions[position[id(selection.top)]], args.state, settings,
                                member_input(selection, args.cascade)),
                args.cascade,
            )
            for selection in selections
        ]
        if not args.quiet:
            env.note(f"target: {target.description}")
            env.note(f"engine: stepfunctions, {endpoint.description}; wait {settings.wait_seconds}s, "
                     f"max polls {settings.max_polls}, events awaited {settings.await_seconds}s at most, "
                     f"concurrency {settings.concurrency}{', rollback' if settings.rollback else ''}")
        engine = StepFunctionsApply(endpoint, env.err, quiet=args.quiet, note=env.note, cancellation=cancellation)
        with cancellation.on_sigint():
            report = engine.run(planned)
    return conclude(env, report, [report.error] if report.error else [],
                    EPHEMERAL_NOTE if target.ephemeral and not args.quiet else "")


def validate(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """Validate only: one ``valid: …`` line per top-level definition."""
    for selection in load_selections(args, env):
        env.stdout.write(describe_valid(selection.top) + "\n")
    return ExitCode.OK


def describe_valid(particle: Particle) -> str:
    """``valid: NAME (FLAVOR): N particles, start order in L levels`` after the checks ``apply`` makes."""
    members = list(particle.members()) if is_quasiparticle(particle) else [particle]
    for member in members:
        member.check_inherit_references()
    graph = dependency_graph(members)
    cycle = graph.find_cycle()
    if cycle:
        raise DependencyCycleError(cycle)
    levels = len(graph.start_levels())
    return (
        f"valid: {particle.name} ({particle.flavor}): {_count(len(members), 'particle')}, "
        f"start order in {_count(levels, 'level')}"
    )


def plan(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """The ordered levels an apply would run; with ``--observe``, each particle's state and next action."""
    selections = load_selections(args, env)
    desire(selections, args)
    check_ready(selections, args.cascade, "set desired_state in the definition, or use --state")
    if not args.observe:
        for selection in selections:
            env.stdout.write(describe_plan(selection, args.cascade))
        return ExitCode.OK
    with env.open_target(TargetSettings.of(args)) as target:
        env.note(f"target: {target.description}")
        for selection in selections:
            env.stdout.write(f"plan: {selection.label}, observed\n")
            print_table(env.out, OBSERVE_HEADER, observe_plan(selection, args.cascade))
    if target.ephemeral:
        env.note("local cloud: it starts empty for every command, so everything is observed terminated; see README")
    return ExitCode.OK


def describe_plan(selection: Selection, cascade: bool) -> str:
    """``plan: LABEL -> STATE (N particles in L levels)`` then one line per level."""
    particles = selection.particles(cascade)
    levels = plan_levels(particles)
    states = sorted({str(p.desired_state) for p in particles})
    lines = [
        f"plan: {selection.label} -> {'/'.join(states)} "
        f"({_count(len(particles), 'particle')} in {_count(len(levels), 'level')})"
    ]
    lines += [f"  {level.phase} level {level.index + 1}: {', '.join(level.pcf_ids)}" for level in levels]
    return "\n".join(lines) + "\n"


def schema(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """Print the JSON Schema of definition files."""
    env.stdout.write(json.dumps(definition_json_schema(), indent=2) + "\n")
    return ExitCode.OK


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
