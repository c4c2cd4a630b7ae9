"""``pcf run``: set the desired state to running and apply (the original PCF's click command)."""

from __future__ import annotations

import click

from pcf.cli.commands import COMMON_APPLY_OPTIONS, run_command
from pcf.cli.utils import click_options


@click.command(name="run", short_help="Set desired state to 'running' and apply")
@click_options(COMMON_APPLY_OPTIONS)
@click.argument("pcf_name", required=False)
def run(pcf_name: str | None, cascade: bool, quiet: bool, file_: str | None, timeout: int | None) -> None:
    """Set the desired state of PCF_NAME (every definition of the file when omitted) to running and apply."""
    run_command("run", pcf_name, file_, cascade, quiet, timeout)
