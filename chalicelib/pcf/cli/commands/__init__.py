"""The original PCF's click commands, ``pcf.cli.commands.<apply|run|stop|terminate>``, as thin shims over the
``pcf`` command line (``pcf_cli.main``): the same options, passed on to it.

Each module holds one ``click`` command of its name; ``COMMON_APPLY_OPTIONS`` are the options they share.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

COMMON_APPLY_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("-f", "--file", "file_", type=click.Path(dir_okay=False), default=None,
                 help="The JSON or YAML file defining your infrastructure (default: pcf.json, pcf.yml, pcf.yaml)"),
    click.option("-q", "--quiet", is_flag=True, help="Execute in quiet mode (only the summary and errors)"),
    click.option("-c", "--cascade", is_flag=True, help="Apply state transitions to all family members"),
    click.option("-t", "--timeout", type=click.IntRange(min=0), default=None,
                 help="The maximum number of seconds to wait before a timeout error is thrown"),
]


def run_command(command: str, pcf_name: str | None, file_: str | None, cascade: bool, quiet: bool,
                timeout: int | None, extra: list[str] | None = None) -> None:
    """Run ``pcf <command>`` with these options and exit with its code."""
    from pcf_cli.main import main

    argv = [command, *([pcf_name] if pcf_name else []), *(["-f", file_] if file_ else [])]
    argv += ["--cascade"] * cascade + ["--quiet"] * quiet + (["--timeout", str(timeout)] if timeout is not None else [])
    sys.exit(main([*argv, *(extra or [])]))
