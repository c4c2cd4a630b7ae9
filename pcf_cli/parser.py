"""The ``pcf`` argument parser. Global options are accepted before or after the command."""

from __future__ import annotations

import argparse
import re
from typing import Any, NoReturn

from pcf import VERSION
from pcf_cli import definition_commands, healing_commands, local_commands, replay, store_commands
from pcf_cli.stages import DEFAULT_STAGE
from pcf_cli.targets import TARGETS

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


class UsageError(Exception):
    """A bad command line; the message names the option and the reason."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help laid out as the original PCF's: ``Usage:`` and capitalised section headings."""

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "Usage: " if prefix is None else prefix)

    def start_section(self, heading: str | None) -> None:
        super().start_section(heading[:1].upper() + heading[1:] if heading else heading)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises ``UsageError`` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        unknown = _INVALID_COMMAND.search(message)
        if unknown and message.startswith("argument COMMAND"):
            raise UsageError(unknown_command(unknown.group(1), _CHOICE.findall(unknown.group(2))))
        raise UsageError(message.removeprefix("argument "))


_INVALID_COMMAND = re.compile(r"invalid choice: '(.*)' \(choose from (.*)\)")
_CHOICE = re.compile(r"'([^']*)'")


def unknown_command(given: str, commands: list[str]) -> str:
    """``'apple' is not a pcf command; did you mean 'apply'?``: the suggestions are the original PCF's (edit
    distance at most 40 % of the length); with none close, the list of commands."""
    from pcf_cli.suggestions import similar_strings

    close = similar_strings(given, commands)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else f"commands: {', '.join(commands)}"
    return f"{given!r} is not a pcf command; {hint}"


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must not be negative")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must not be negative")
    return value


def add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """``--target``, ``--region``, ``--pending-seconds``, ``-v``, ``--max-workers``. On subcommands the
    defaults are suppressed, so an option given before the command is not reset after it."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options")
    group.add_argument("--target", choices=TARGETS, default=default(None),
                       help="where to act: local (an in-process local cloud) or aws; "
                            "default: aws when boto3 finds credentials, else local")
    group.add_argument("--region", default=default(None), help="AWS region (default: the session's; us-east-1 local)")
    group.add_argument("--pending-seconds", type=non_negative, default=default(None), metavar="SECONDS",
                       help="local target only: how long instances and new volumes stay in transition (default 0)")
    group.add_argument("-v", "--verbose", action="count", default=default(0),
                       help="log what happens (-vv for debug); show tracebacks of unexpected errors")
    group.add_argument("--max-workers", type=positive_int, default=default(None), metavar="N",
                       help="particles of one level applied at once (default 16; --engine stepfunctions: "
                            "the machine's concurrency, 1..40, default 40)")


def version_text() -> str:
    """What ``pcf --version`` prints (the original's two lines)."""
    return f"Particle Cloud Framework (PCF Serverless)\n\nv{VERSION}"


def add_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--file", metavar="FILE", help="definition file (default: pcf.json, pcf.yml, pcf.yaml)")


def build_parser() -> Parser:
    """The whole command line."""
    parser = Parser(prog="pcf", description=DESCRIPTION, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=version_text(), help="show the version and exit")
    add_global_options(parser, suppress=False)
    shared = Parser(add_help=False)
    add_global_options(shared, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for name, (state, summary) in CONVERGE_COMMANDS.items():
        command = sub.add_parser(name, parents=[shared], help=summary, description=summary)
        command.add_argument("name", nargs="?", metavar="NAME", help="one definition or member (default: all)")
        add_file_option(command)
        command.add_argument("-c", "--cascade", action="store_true",
                             help="for a member stopped or terminated: its children first, likewise")
        command.add_argument("-t", "--timeout", type=non_negative, metavar="SECONDS",
                             help="give up on a particle after this long (max_timeout)")
        if state is None:
            command.add_argument("-s", "--state", choices=STATES, default=None,
                                 help="set this desired state first (default: the states the definition holds)")
        command.add_argument("-q", "--quiet", action="store_true", help="print only the final summary")
        add_engine_options(command)
        command.set_defaults(handler=definition_commands.converge, state=state)

    command = sub.add_parser("validate", parents=[shared], help="validate the definition file only",
                             description="validate the definition file; nothing touches AWS")
    add_file_option(command)
    command.set_defaults(handler=definition_commands.validate)

    command = sub.add_parser("plan", parents=[shared], help="show the ordered levels an apply would run",
                             description="show the ordered levels an apply would run, without acting")
    command.add_argument("name", nargs="?", metavar="NAME", help="one definition or member (default: all)")
    add_file_option(command)
    command.add_argument("--state", choices=STATES, help="plan as run/stop/terminate would (default: the file's)")
    command.add_argument("--cascade", action="store_true", help="as the --cascade of run/stop/terminate")
    command.add_argument("--observe", action="store_true",
                         help="sync each particle (read-only calls) and show its state and next action")
    command.set_defaults(handler=definition_commands.plan)

    command = sub.add_parser("schema", parents=[shared], help="print the JSON Schema of definitions",
                             description="print the JSON Schema of definition files")
    command.set_defaults(handler=definition_commands.schema)

    summary = "what the state table holds of each particle (no EC2 call)"
    command = sub.add_parser("status", parents=[shared], help=summary, description=summary)
    command.add_argument("name", nargs="?", metavar="NAME",
                         help="a definition or member of FILE, or a stored pcf_id (default: every particle of "
                              "the stage's deployment)")
    add_file_option(command)
    add_store_options(command)
    command.add_argument("--deployment", metavar="NAME", help="list this deployment (default: the stage's)")
    command.set_defaults(handler=store_commands.status)

    summary = "a particle's recorded history, newest first"
    command = sub.add_parser("history", parents=[shared], help=summary, description=summary)
    command.add_argument("pcf_id", metavar="PCF_ID", help="the particle (flavor:name)")
    command.add_argument("--limit", type=positive_int, default=DEFAULT_HISTORY_LIMIT, metavar="N",
                         help=f"at most N items (default {DEFAULT_HISTORY_LIMIT})")
    add_store_options(command)
    command.set_defaults(handler=store_commands.history)
    add_healing_parsers(sub, shared)
    local_commands.add_parser(sub, shared)
    return parser


def add_healing_parsers(sub: Any, shared: argparse.ArgumentParser) -> None:
    """``drift``, ``reconcile`` and ``heal``: the control plane's reconciliation and healing, on demand."""
    summary = "what differs from the desired states, per particle (a dry run: nothing recorded or started)"
    command = sub.add_parser("drift", parents=[shared], help=summary, description=summary + (
        ". Invokes the stage's reconcile function with {\"act\": false}. Exit 0: no drift; 3: drift found; "
        "2: bad input or a target without a deployed control plane."))
    add_stage_option(command)
    command.set_defaults(handler=healing_commands.drift)
    summary = "reconcile now: drift recorded, then reverted (a healing apply) or reported, per particle policy"
    command = sub.add_parser("reconcile", parents=[shared], help=summary,
                             description=summary + ". Invokes the stage's reconcile function as its schedule does.")
    add_stage_option(command)
    command.set_defaults(handler=healing_commands.reconcile)
    summary = "heal a stored particle now: an apply of it and its dependants at their stored desired states"
    command = sub.add_parser("heal", parents=[shared], help=summary, description=summary + (
        ", followed as pcf run is (its heal: false policy applies to automatic healing only)"))
    command.add_argument("pcf_id", metavar="PCF_ID", help="the stored particle (flavor:name; pcf status lists them)")
    command.add_argument("--wait-seconds", type=whole, metavar="S",
                         help="seconds between two polls of a particle (default 5 on aws, 1 on the local server)")
    command.add_argument("--timeout", type=non_negative, metavar="SECONDS",
                         help="give up on a particle after this long (default 120 polls)")
    command.add_argument("-q", "--quiet", action="store_true", help="print only the final summary")
    add_stage_option(command)
    command.add_argument("--state-machine-arn", metavar="ARN",
                         help="on aws: the apply state machine (default: $PCF_STATE_MACHINE_ARN, else the stack's "
                              "output ApplyStateMachineArn)")
    command.add_argument("--stack", metavar="NAME",
                         help="on aws: the CloudFormation stack (default pcf-serverless-<stage>)")
    command.set_defaults(handler=healing_commands.heal)
    summary = "run again the event and schedule invocations that failed after Lambda's retries"
    command = sub.add_parser("replay", parents=[shared], help=summary, description=summary + (
        ": each record of the stage's failed-events queue is invoked again with its event, and deleted once it "
        "succeeds. Exit 0: all replayed (or none waiting); 1: one failed again (it stays queued)."))
    command.add_argument("--dry-run", action="store_true", help="list the records; invoke and delete nothing")
    command.add_argument("--limit", type=positive_int, default=DEFAULT_REPLAY_LIMIT, metavar="N",
                         help=f"at most N records (default {DEFAULT_REPLAY_LIMIT})")
    add_stage_option(command)
    command.set_defaults(handler=replay.replay_command)


def add_stage_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--stage", default=DEFAULT_STAGE,
                         help=f"the control plane's stage (default {DEFAULT_STAGE}; .chalice/config.json)")


def add_engine_options(command: argparse.ArgumentParser) -> None:
    """How apply/run/stop/terminate act: the engine, and the Step Functions engine's settings."""
    command.add_argument("--engine", choices=definition_commands.ENGINES, default=definition_commands.STEPFUNCTIONS,
                         help="stepfunctions (default): one execution of the control plane's apply state machine "
                              "per definition; direct: apply in this process")
    command.add_argument("--rollback", action="store_true",
                         help="on failure, terminate what this apply created (never pre-existing or persisted "
                              "resources)")
    command.add_argument("--wait-seconds", type=whole, metavar="S",
                         help="stepfunctions: seconds between two polls of a particle (default 5 on aws; on the "
                              "local cloud 1, or 0 when --pending-seconds is 0)")
    command.add_argument("--stage", default=DEFAULT_STAGE,
                         help=f"the control plane's stage (default {DEFAULT_STAGE}); direct is refused where "
                              "its control plane is deployed")
    command.add_argument("--state-machine-arn", metavar="ARN",
                         help="stepfunctions on aws: the apply state machine (default: $PCF_STATE_MACHINE_ARN, "
                              "else the stack's output ApplyStateMachineArn)")
    command.add_argument("--stack", metavar="NAME",
                         help="stepfunctions on aws: the CloudFormation stack (default pcf-serverless-<stage>)")


def add_store_options(command: argparse.ArgumentParser) -> None:
    """Which state table ``status``/``history`` read."""
    command.add_argument("--stage", default=DEFAULT_STAGE,
                         help=f"the stage whose table and deployment to read (default {DEFAULT_STAGE}; "
                              ".chalice/config.json)")
    command.add_argument("--table", metavar="TABLE", help="the state table (default: the stage's)")
