"""``pcf``: the entry point. Runs the click command line and maps every outcome to an ``ExitCode`` and a line or
two: bad input is one ``pcf: error: <field>: <reason>`` line, never a traceback."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

import click

from pcf.core.pcf_exceptions import DefinitionError, DefinitionErrors
from pcf.core.printable import escape_unprintable
from pcf_cli.environment import CliEnvironment
from pcf_cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from pcf_cli.cli import PcfCommand


def main(argv: Sequence[str] | None = None, env: CliEnvironment | None = None, *, command: PcfCommand | None = None,
         prog_name: str | None = None, exit: bool = False) -> int:
    """Run one command line (``sys.argv[1:]`` by default) of ``command`` (the ``pcf`` group by default) and return
    its exit code, or, with ``exit``, exit with it."""
    from pcf_cli.cli import cli

    code = run_command(command or cli, sys.argv[1:] if argv is None else list(argv), env or CliEnvironment(),
                       prog_name or "pcf")
    if exit:
        sys.exit(code)
    return code


def run_cli(argv: list[str], env: CliEnvironment) -> int:
    """``main`` with its streams, working directory and target hooks given (for tests and embedding)."""
    return main(argv, env)


def run_command(command: click.Command, argv: list[str], env: CliEnvironment, prog_name: str = "pcf") -> int:
    """Parse ``argv`` for ``command`` and run it in ``env``; its exit code."""
    env.color = "--no-color" not in argv  # known before parsing, for a mistake in the command line too
    try:
        if not argv and isinstance(command, click.Group):  # as the original PCF: the help, and success
            argv = ["--help"]
        with command.make_context(prog_name, argv, obj=env) as ctx:
            return int(command.invoke(ctx))
    except click.exceptions.Exit as done:  # --help, --version
        return int(done.exit_code)
    except click.ClickException as error:
        return fail(env, describe_click_error(error), ExitCode.USAGE)
    except DefinitionError as error:
        return fail(env, describe_definition_error(error), ExitCode.USAGE)
    except KeyboardInterrupt as stop:  # a run's engine says what it stopped (``RunInterrupted``)
        summary = getattr(stop, "summary", "")
        return fail(env, f"interrupted: {summary}" if summary else "interrupted", ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return ExitCode.FAILED
    except Exception as error:
        first_line = str(error).split("\n", 1)[0]
        if env.verbose:
            traceback.print_exc(file=env.stderr)
            return fail(env, f"{type(error).__name__}: {first_line}", ExitCode.FAILED)
        return fail(env, f"{type(error).__name__}: {first_line} (-v shows the traceback)", ExitCode.FAILED)


def fail(env: CliEnvironment, message: str, code: ExitCode) -> ExitCode:
    """Write ``pcf: error: <message>``; ``code``."""
    env.error(message)
    return code


def describe_click_error(error: click.ClickException) -> str:
    """A command-line mistake as ``<option or argument>: <reason>`` where click knows the parameter."""
    param = getattr(error, "param", None)
    if not isinstance(error, click.BadParameter) or param is None:
        return error.format_message()
    name = "/".join(param.opts) if isinstance(param, click.Option) else param.human_readable_name
    return f"{name}: is required" if isinstance(error, click.MissingParameter) else f"{name}: {error.message}"


def describe_definition_error(error: DefinitionError) -> str:
    """``<field>: <reason>``, with where it was found and how many more problems there are."""
    field, reason = escape_unprintable(error.field or ""), escape_unprintable(error.reason)
    text = f"{field}: {reason}" if field else reason
    notes = [n for n in getattr(error, "__notes__", []) if n.startswith("in definition")]
    if notes:
        text += f" ({'; '.join(notes)})"
    if isinstance(error, DefinitionErrors) and len(error.errors) > 1:
        text += f" (and {len(error.errors) - 1} more problem(s))"
    return text


@contextlib.contextmanager
def with_stage_callbacks(stage: str | None) -> Iterator[None]:
    """The callbacks the stage's Lambdas allow (its ``PCF_CALLBACKS``) are allowed while the command validates,
    so the CLI refuses what the control plane would; no stage configuration, no extra names."""
    from pcf.util.callbacks import allow_callbacks, disallow_callbacks
    from pcf_cli.stages import DEFAULT_STAGE, read_stage

    try:
        names = read_stage(stage or DEFAULT_STAGE).callbacks
    except DefinitionError:
        names = ()
    allow_callbacks(names)
    try:
        yield
    finally:
        disallow_callbacks(names)


@contextlib.contextmanager
def verbose_logging(verbose: int, stream: TextIO) -> Iterator[None]:
    """Without ``-v`` the framework logs nothing (its warnings repeat the progress lines); with it,
    INFO (``-vv``: DEBUG) goes to ``stream``."""
    framework = logging.getLogger("pcf")
    handler: logging.Handler = logging.StreamHandler(stream) if verbose else logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous_level, previous_propagate = framework.level, framework.propagate
    framework.addHandler(handler)
    framework.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.CRITICAL)
    framework.propagate = False
    try:
        yield
    finally:
        framework.removeHandler(handler)
        framework.setLevel(previous_level)
        framework.propagate = previous_propagate
