"""``pcf stop``: the original PCF's click command, the ``pcf`` command line's own (``pcf_cli.cli.stop``)."""

from __future__ import annotations

from pcf_cli.cli import stop

__all__ = ["stop"]
