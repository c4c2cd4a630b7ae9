"""The original PCF's entry point, ``pcf.cli.cli:cli``: the ``pcf`` command line's click group itself
(``pcf_cli.cli.cli``), so both entry points are one."""

from __future__ import annotations

from pcf_cli.cli import cli

__all__ = ["cli"]

if __name__ == "__main__":
    cli()
