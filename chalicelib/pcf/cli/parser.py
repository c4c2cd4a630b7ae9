"""The ``pcf`` argument parser. Global options are accepted before or after the command."""

from __future__ import annotations

import argparse
from typing import NoReturn

from pcf.cli import commands
from pcf.cli.targets import TARGETS

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
Exit codes: 0 done, 1 failed while acting, 2 bad input (nothing was done), 130 interrupted."""


class UsageError(Exception):
    """A bad command line; the message names the option and the reason."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises ``UsageError`` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message.removeprefix("argument "))


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
    group.add_argument("--max-workers", type=positive_int, default=default(16), metavar="N",
                       help="particles of one level applied at once (default 16)")


def add_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--file", metavar="FILE", help="definition file (default: pcf.json, pcf.yml, pcf.yaml)")


def build_parser() -> Parser:
    """The whole command line."""
    parser = Parser(prog="pcf", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_global_options(parser, suppress=False)
    shared = Parser(add_help=False)
    add_global_options(shared, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for name, (state, summary) in CONVERGE_COMMANDS.items():
        command = sub.add_parser(name, parents=[shared], help=summary, description=summary)
        command.add_argument("name", nargs="?", metavar="NAME", help="one definition or member (default: all)")
        add_file_option(command)
        command.add_argument("--cascade", action="store_true",
                             help="for a member stopped or terminated: its children first, likewise")
        command.add_argument("--timeout", type=non_negative, metavar="SECONDS",
                             help="give up on a particle after this long (max_timeout)")
        command.add_argument("-q", "--quiet", action="store_true", help="print only the final summary")
        command.set_defaults(handler=commands.converge, state=state)

    command = sub.add_parser("validate", parents=[shared], help="validate the definition file only",
                             description="validate the definition file; nothing touches AWS")
    add_file_option(command)
    command.set_defaults(handler=commands.validate)

    command = sub.add_parser("plan", parents=[shared], help="show the ordered levels an apply would run",
                             description="show the ordered levels an apply would run, without acting")
    command.add_argument("name", nargs="?", metavar="NAME", help="one definition or member (default: all)")
    add_file_option(command)
    command.add_argument("--state", choices=STATES, help="plan as run/stop/terminate would (default: the file's)")
    command.add_argument("--cascade", action="store_true", help="as the --cascade of run/stop/terminate")
    command.add_argument("--observe", action="store_true",
                         help="sync each particle (read-only calls) and show its state and next action")
    command.set_defaults(handler=commands.plan)

    command = sub.add_parser("schema", parents=[shared], help="print the JSON Schema of definitions",
                             description="print the JSON Schema of definition files")
    command.set_defaults(handler=commands.schema)
    return parser
