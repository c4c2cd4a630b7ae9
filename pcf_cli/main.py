"""``pcf``: the command-line entry point. Maps every outcome to an exit code and at most a few lines.

0 done; 1 failed while acting (one line per failed particle) or an unexpected error; 2 bad input
(``pcf: error: <field>: <reason>``, nothing done); 130 interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Iterator
from typing import TextIO

from pcf.core.pcf_exceptions import DefinitionError, DefinitionErrors
from pcf.core.printable import escape_unprintable
from pcf_cli.environment import CliEnvironment
from pcf_cli.parser import UsageError, build_parser

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    """Run one command line (``sys.argv[1:]`` by default) and return its exit code."""
    return run_cli(sys.argv[1:] if argv is None else argv, CliEnvironment())


def run_cli(argv: list[str], env: CliEnvironment) -> int:
    """``main`` with its streams, working directory and target hooks given (for tests and embedding)."""
    parser = build_parser()
    if not argv:  # as the original PCF: the help, and success
        parser.print_help(env.stdout)
        return 0
    verbose = 0
    try:
        with contextlib.redirect_stdout(env.stdout):
            args = parser.parse_args(argv)
        verbose = args.verbose
        with _logging(verbose, env.stderr), _stage_callbacks(getattr(args, "stage", None)):
            return int(args.handler(args, env))
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else 0
    except UsageError as error:
        return _fail(env, str(error), EXIT_USAGE)
    except DefinitionError as error:
        return _fail(env, describe_definition_error(error), EXIT_USAGE)
    except KeyboardInterrupt as stop:  # a run's engine says what it stopped (``RunInterrupted``)
        summary = getattr(stop, "summary", "")
        return _fail(env, f"interrupted: {summary}" if summary else "interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        return EXIT_FAILED
    except Exception as error:
        if verbose:
            traceback.print_exc(file=env.stderr)
            return _fail(env, f"{type(error).__name__}: {error}", EXIT_FAILED)
        return _fail(env, f"{type(error).__name__}: {error} (-v shows the traceback)", EXIT_FAILED)


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


def _fail(env: CliEnvironment, message: str, code: int) -> int:
    """One line: the message's first line, with control characters (a definition's ESC, BEL, RTL override…)
    written as escapes, never sent to the terminal raw."""
    first_line = message.split("\n", 1)[0] if message else "failed"
    env.stderr.write(f"pcf: error: {escape_unprintable(first_line)}\n")
    return code


@contextlib.contextmanager
def _stage_callbacks(stage: str | None) -> Iterator[None]:
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
def _logging(verbose: int, stream: TextIO) -> Iterator[None]:
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
