"""The original PCF's entry point, ``pcf.cli.cli:cli``: a click command that runs the ``pcf`` command line
(``pcf_cli.main``) with whatever arguments it is given, so both entry points behave the same."""

from __future__ import annotations

import sys

import click

from pcf_cli.main import main


@click.command(
    name="pcf",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def cli(args: tuple[str, ...]) -> None:
    """Particle Cloud Framework."""
    sys.exit(main(list(args)))


if __name__ == "__main__":
    cli()
