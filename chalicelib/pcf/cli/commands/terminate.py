"""``pcf terminate``: set the desired state to terminated and apply (the original PCF's click command)."""

from __future__ import annotations

import click

from pcf.cli.commands import COMMON_APPLY_OPTIONS, run_command
from pcf.cli.utils import click_options


@click.command(name="terminate", short_help="Set desired state to 'terminated' and apply")
@click_options(COMMON_APPLY_OPTIONS)
@click.argument("pcf_name", required=False)
def terminate(pcf_name: str | None, cascade: bool, quiet: bool, file_: str | None, timeout: int | None) -> None:
    """Set the desired state of PCF_NAME (every definition of the file when omitted) to terminated and apply."""
    run_command("terminate", pcf_name, file_, cascade, quiet, timeout)
