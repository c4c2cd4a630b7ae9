"""``pcf run``: the original PCF's click command, the ``pcf`` command line's own (``pcf_cli.cli.run``)."""

from __future__ import annotations

from pcf_cli.cli import run

__all__ = ["run"]
