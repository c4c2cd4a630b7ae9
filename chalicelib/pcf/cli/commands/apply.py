"""``pcf apply``: the original PCF's click command, the ``pcf`` command line's own (``pcf_cli.cli.apply``)."""

from __future__ import annotations

from pcf_cli.cli import apply

__all__ = ["apply"]
