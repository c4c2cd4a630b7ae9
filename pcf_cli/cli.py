"""The ``pcf`` command line on click: the group, its commands and their options (global ones before or after the
command); each command calls a handler ``(args, env) -> ExitCode`` of the module that does its work."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import click

from pcf import VERSION
from pcf_cli import definition_commands, healing_commands, local_commands, replay, store_commands
from pcf_cli.environment import CliEnvironment
from pcf_cli.stages import DEFAULT_STAGE
from pcf_cli.suggestions import similar_strings
from pcf_cli.targets import TARGETS

Decorator = Callable[[Any], Any]
Handler = Callable[[Any, CliEnvironment], int]
STATES = ("running", "stopped", "terminated")
CONVERGE_COMMANDS = {
    "apply": (None, "converge to the desired states written in the definition"),
    "run": ("running", "set the desired state to running and apply"),
    "stop": ("stopped", "set the desired state to stopped and apply"),
    "terminate": ("terminated", "set the desired state to terminated and apply"),
}
DESCRIPTION = """\
PCF: cloud resources as particles with desired states, grouped in quasiparticles.

The definition FILE (JSON or YAML) holds one definition or a list of them; without -f, the first of
pcf.json, pcf.yml, pcf.yaml in the working directory. NAME picks one top-level definition by pcf_name,
or one member of a quasiparticle by pcf_name or pcf_id (with the relatives an apply brings along).

apply/run/stop/terminate run through the control plane's Step Functions "apply" state machine by
default (one execution per definition, followed as it runs; on the local target it is deployed into
the in-process local cloud first); --engine direct applies in this process instead.
status and history read the control plane's state table (AWS, or a shared local cloud); drift,
reconcile, heal and replay ask its deployed functions, state machine and failed-events queue (likewise).

Exit codes: 0 done, 1 failed while acting, 2 bad input (nothing was done), 3 drift found (pcf drift),
130 interrupted."""
DEFAULT_HISTORY_LIMIT = 20
DEFAULT_REPLAY_LIMIT = 100
CONTEXT = {"help_option_names": ["-h", "--help"]}
GIVEN = "pcf.global_options"
GLOBAL_DEFAULTS = {"target": None, "region": None, "pending_seconds": None, "verbose": 0, "max_workers": None,
                   "no_color": False}


class Number(click.ParamType):
    """A number (``float``, or ``int`` when ``whole``) no smaller than ``minimum``."""

    def __init__(self, *, whole: bool = False, minimum: int = 0) -> None:
        self.whole, self.minimum = whole, minimum
        self.name = "integer" if whole else "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = int(value) if self.whole else float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a {'whole ' if self.whole else ''}number", param, ctx)
        if number < self.minimum:
            self.fail(f"{value} must not be negative" if self.minimum == 0 else f"{value} must be at least "
                      f"{self.minimum}", param, ctx)
        return number


class Choice(click.Choice):
    """One of ``choices``; anything else is ``invalid choice: 'x' (choose from 'a', 'b')``."""

    def get_invalid_choice_message(self, value: Any, ctx: click.Context | None) -> str:
        return f"invalid choice: {value!r} (choose from {', '.join(map(repr, self.choices))})"


NON_NEGATIVE, WHOLE, POSITIVE = Number(), Number(whole=True), Number(whole=True, minimum=1)


class PcfCommand(click.Command):
    """A command whose help and usage go to the environment's stdout, and which, called on its own
    (``pcf.cli.commands.run``), runs as ``pcf_cli.main.run_command`` does."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        env = parent.obj if parent is not None else extra.get("obj")
        shown = env.stdout if isinstance(env, CliEnvironment) else None
        with contextlib.redirect_stdout(shown) if shown else contextlib.nullcontext():
            return super().make_context(info_name, args, parent, **extra)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        from pcf_cli.main import main

        return main(args, extra.get("obj"), command=self, prog_name=prog_name, exit=standalone_mode)


class PcfGroup(PcfCommand, click.Group):
    """The ``pcf`` group: commands listed in the order declared; an unknown command gets the closest ones."""

    command_class = PcfCommand
    required = "COMMAND"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{"no_args_is_help": False, "subcommand_metavar": f"{self.required} [ARGS]...",
                                   **kwargs})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        if not ctx._protected_args:  # click keeps the command's name there
            raise click.UsageError(f"the following arguments are required: {self.required}", ctx)
        return rest

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and self.get_command(ctx, args[0]) is None:
            raise click.UsageError(self.unknown(args[0], self.list_commands(ctx)), ctx)
        return super().resolve_command(ctx, args)

    def unknown(self, given: str, commands: list[str]) -> str:
        """``'apple' is not a pcf command; did you mean 'apply'?``, or the list of commands when none is close."""
        close = similar_strings(given, commands)
        hint = f"did you mean {' or '.join(map(repr, close))}?" if close else f"commands: {', '.join(commands)}"
        return f"{given!r} is not a pcf command; {hint}"


class LocalGroup(PcfGroup):
    """``pcf local``: its actions, an unknown one named as an invalid choice."""

    required = "ACTION"

    def unknown(self, given: str, commands: list[str]) -> str:
        return f"{self.required}: invalid choice: {given!r} (choose from {', '.join(map(repr, commands))})"


def remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Keep a global option given (before or after the command: the later one counts; ``-v`` adds up)."""
    given = ctx.meta.setdefault(GIVEN, {})
    if param.name == "verbose":
        given["verbose"] = given.get("verbose", 0) + value
    elif value is not None and value is not False:  # 0 is a value given (--pending-seconds 0)
        given[str(param.name)] = value


def global_options(function: Any) -> Any:
    """``--target``, ``--region``, ``--pending-seconds``, ``-v``, ``--max-workers``, ``--no-color``."""
    kept: dict[str, Any] = {"expose_value": False, "callback": remember}
    options: list[Decorator] = [
        click.option("--target", type=Choice(TARGETS), **kept, help="where to act: local (an in-process local "
                     "cloud) or aws; default: aws when boto3 finds credentials, else local"),
        click.option("--region", **kept, help="AWS region (default: the session's; us-east-1 local)"),
        click.option("--pending-seconds", type=NON_NEGATIVE, metavar="SECONDS", **kept,
                     help="local target only: how long instances and new volumes stay in transition (default 0)"),
        click.option("-v", "--verbose", count=True, **kept,
                     help="log what happens (-vv for debug); show tracebacks of unexpected errors"),
        click.option("--max-workers", type=POSITIVE, metavar="N", **kept,
                     help="particles of one level applied at once (default 16; --engine stepfunctions: the "
                          "machine's concurrency, 1..1000, default 40)"),
        click.option("--no-color", is_flag=True, **kept, help="plain text even on a terminal (as NO_COLOR=1)"),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def handled_by(handler: Handler, fixed: dict[str, Any]) -> Callable[..., int]:
    """The click callback calling ``handler(args, env)``; ``args`` holds every option, ``fixed`` and ``command``."""

    @click.pass_context
    def callback(ctx: click.Context, **params: Any) -> int:
        from pcf_cli.main import verbose_logging, with_stage_callbacks

        env: CliEnvironment = ctx.obj
        args = SimpleNamespace(**{**GLOBAL_DEFAULTS, **ctx.meta.get(GIVEN, {}), **params, **fixed,
                                 "command": ctx.info_name})
        env.color, env.verbose = not args.no_color, args.verbose
        with verbose_logging(args.verbose, env.stderr), with_stage_callbacks(params.get("stage")):
            return int(handler(args, env))

    return callback


def command(group: click.Group, name: str, summary: str, handler: Handler, *options: Decorator,
            description: str = "", **fixed: Any) -> click.Command:
    """Add ``name`` to ``group``: its options (first shown first), the global ones, and ``handler``."""
    callback: Any = global_options(handled_by(handler, fixed))
    for option in reversed(options):
        callback = option(callback)
    return group.command(name, cls=PcfCommand, short_help=summary, help=description or summary,
                         context_settings=CONTEXT)(callback)


NAME_ARGUMENT = click.argument("name", required=False, metavar="[NAME]")
FILE_OPTION = click.option("-f", "--file", metavar="FILE", help="definition file (default: pcf.json, pcf.yml, "
                                                                "pcf.yaml)")
QUIET_OPTION = click.option("-q", "--quiet", is_flag=True, help="print only the final summary")
CASCADE_OPTION = click.option("-c", "--cascade", is_flag=True,
                              help="for a member stopped or terminated: its children first, likewise")
TIMEOUT_OPTION = click.option("-t", "--timeout", type=NON_NEGATIVE, metavar="SECONDS",
                              help="give up on a particle after this long (max_timeout)")
WAIT_OPTION = click.option("--wait-seconds", type=WHOLE, metavar="S",
                           help="seconds between two polls of a particle (default 5 on aws; on the local cloud 1, "
                                "or 0 when --pending-seconds is 0)")
CONVERGE_OPTIONS = [FILE_OPTION, QUIET_OPTION, CASCADE_OPTION, TIMEOUT_OPTION]
"""The original PCF's options of apply/run/stop/terminate (``pcf.cli.commands.COMMON_APPLY_OPTIONS``)."""


def stage_option(help_text: str = "the control plane's stage (.chalice/config.json)") -> Decorator:
    return click.option("--stage", default=DEFAULT_STAGE, show_default=True, help=help_text)


MACHINE_OPTIONS = [  # where the apply state machine is on AWS
    click.option("--state-machine-arn", metavar="ARN", help="on aws: the apply state machine (default: "
                 "$PCF_STATE_MACHINE_ARN, else the stack's output ApplyStateMachineArn)"),
    click.option("--stack", metavar="NAME", help="on aws: the CloudFormation stack (default pcf-serverless-<stage>)"),
]
ENGINE_OPTIONS = [
    click.option("--engine", type=Choice(definition_commands.ENGINES), default=definition_commands.STEPFUNCTIONS,
                 show_default=True, help="stepfunctions: one execution of the control plane's apply state machine "
                                         "per definition; direct: apply in this process"),
    click.option("--rollback", is_flag=True, help="on failure, terminate what this apply created (never "
                                                  "pre-existing or persisted resources)"),
    WAIT_OPTION,
    stage_option("the control plane's stage; direct is refused where its control plane is deployed"),
    *MACHINE_OPTIONS,
]
STORE_OPTIONS = [stage_option("the stage whose table and deployment to read (.chalice/config.json)"),
                 click.option("--table", metavar="TABLE", help="the state table (default: the stage's)")]


@click.group("pcf", cls=PcfGroup, help=DESCRIPTION, context_settings=CONTEXT)
@click.version_option(VERSION, message=f"Particle Cloud Framework (PCF Serverless)\n\nv{VERSION}",
                      help="show the version and exit")
@global_options
def cli() -> None:
    """The ``pcf`` group: its options are kept for the command (``remember``)."""


def converge_command(name: str, state: str | None, summary: str) -> click.Command:
    """``apply`` (with ``-s``), ``run``, ``stop`` or ``terminate``."""
    state_option = [click.option("-s", "--state", type=Choice(STATES), help="set this desired state first "
                                 "(default: the states the definition holds)")] if state is None else []
    fixed = {} if state is None else {"state": state}
    return command(cli, name, summary, definition_commands.converge, NAME_ARGUMENT, *CONVERGE_OPTIONS, *state_option,
                   *ENGINE_OPTIONS, **fixed)


apply, run, stop, terminate = (converge_command(name, *spec) for name, spec in CONVERGE_COMMANDS.items())
validate = command(cli, "validate", "validate the definition file only", definition_commands.validate, FILE_OPTION,
                   description="validate the definition file; nothing touches AWS")
plan = command(
    cli, "plan", "show the ordered levels an apply would run", definition_commands.plan, NAME_ARGUMENT,
    FILE_OPTION,
    click.option("--state", type=Choice(STATES), help="plan as run/stop/terminate would (default: the file's)"),
    click.option("--cascade", is_flag=True, help="as the --cascade of run/stop/terminate"),
    click.option("--observe", is_flag=True,
                 help="sync each particle (read-only calls) and show its state and next action"),
    description="show the ordered levels an apply would run, without acting")
schema = command(cli, "schema", "print the JSON Schema of definitions", definition_commands.schema,
                 description="print the JSON Schema of definition files")
status = command(
    cli, "status", "what the state table holds of each particle (no EC2 call)", store_commands.status,
    NAME_ARGUMENT, FILE_OPTION, *STORE_OPTIONS,
    click.option("--deployment", metavar="NAME", help="list this deployment (default: the stage's)"),
    description="what the state table holds of each particle (no EC2 call); NAME: a definition or member of FILE, "
                "or a stored pcf_id (default: every particle of the stage's deployment)")
history = command(
    cli, "history", "a particle's recorded history, newest first", store_commands.history,
    click.argument("pcf_id", metavar="PCF_ID"),
    click.option("--limit", type=POSITIVE, default=DEFAULT_HISTORY_LIMIT, show_default=True,
                 metavar="N", help="at most N items"),
    *STORE_OPTIONS)
drift = command(
    cli, "drift", "what differs from the desired states, per particle (a dry run: nothing recorded or started)",
    healing_commands.drift, stage_option(),
    description="what differs from the desired states, per particle (a dry run: nothing recorded or started). "
                "Runs the stage's reconcile state machine with {\"act\": false} and waits for it. Exit 0: no drift; "
                "3: drift found; 2: bad input or a target without a deployed control plane.")
reconcile = command(
    cli, "reconcile", "reconcile now: drift recorded, then reverted (a healing apply) or reported, per particle "
    "policy", healing_commands.reconcile, stage_option(),
    description="reconcile now: drift recorded, then reverted (a healing apply) or reported, per particle policy. "
                "Runs the stage's reconcile state machine, as its schedule does, and waits for it.")
heal = command(
    cli, "heal", "heal a stored particle now: an apply of it and its dependants at their stored desired states",
    healing_commands.heal, click.argument("pcf_id", metavar="PCF_ID"),
    click.option("--wait-seconds", type=WHOLE, metavar="S", help="seconds between two polls of a "
                 "particle (default 5 on aws, 1 on the local server)"),
    click.option("--timeout", type=NON_NEGATIVE, metavar="SECONDS",
                 help="give up on a particle after this long (default 120 polls)"),
    QUIET_OPTION, stage_option(), *MACHINE_OPTIONS,
    description="heal a stored particle (PCF_ID: flavor:name, pcf status lists them) now: an apply of it and its "
                "dependants at their stored desired states, followed as pcf run is (its heal: false policy applies "
                "to automatic healing only)")
replay_command = command(
    cli, "replay", "run again the event and schedule invocations that failed after Lambda's retries",
    replay.replay_command,
    click.option("--dry-run", is_flag=True, help="list the records; invoke and delete nothing"),
    click.option("--limit", type=POSITIVE, default=DEFAULT_REPLAY_LIMIT, show_default=True,
                 metavar="N", help="at most N records"),
    stage_option(),
    description="run again the event and schedule invocations that failed after Lambda's retries: each record of "
                "the stage's failed-events queue is invoked again with its event, and deleted once it succeeds. "
                "Exit 0: all replayed (or none waiting); 1: one failed again (it stays queued).")


@cli.group("local", cls=LocalGroup, short_help=local_commands.SUMMARY, help=local_commands.DESCRIPTION,
           context_settings=CONTEXT)
@global_options
def local() -> None:
    """``pcf local start|stop|status``."""


STATE_DIR_OPTION = click.option("--state-dir", metavar="DIR", help=f"the server's directory (default: "
                                f"${local_commands.STATE_DIR_ENV}, else ~/.pcf/local)")
command(local, "start", "start the server in the background", local_commands.start_command, STATE_DIR_OPTION,
        description=f"start the server in the background; --pending-seconds (default "
                    f"{local_commands.DEFAULT_PENDING_SECONDS:g}) is how long instances and new volumes stay in "
                    "transition, --region the clients' default region")
command(local, "stop", "stop the server", local_commands.stop_command, STATE_DIR_OPTION,
        description="stop the server (SIGTERM, SIGKILL after 10 s); exit 0 if none runs")
command(local, "status", "show where the server listens", local_commands.status_command, STATE_DIR_OPTION,
        description="show where the server listens; exit 1 if none runs or it does not answer")
