"""``pcf apply``: set a desired state and apply (the original PCF's click command)."""

from __future__ import annotations

import click

from pcf.cli.commands import COMMON_APPLY_OPTIONS, run_command
from pcf.cli.utils import click_options


@click.command(name="apply", short_help="Set a desired state and apply")
@click.option("-s", "--state", type=click.Choice(["running", "stopped", "terminated"], case_sensitive=False),
              default=None, help="The desired state to set (default: the states the definition holds)")
@click_options(COMMON_APPLY_OPTIONS)
@click.argument("pcf_name", required=False)
def apply(pcf_name: str | None, cascade: bool, quiet: bool, file_: str | None, timeout: int | None,
          state: str | None) -> None:
    """Set STATE on PCF_NAME (every definition of the file when omitted) and apply."""
    run_command("apply", pcf_name, file_, cascade, quiet, timeout, ["--state", state.lower()] if state else None)
