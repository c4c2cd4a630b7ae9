"""``pcf terminate``: the original PCF's click command, the ``pcf`` command line's own (``pcf_cli.cli.terminate``)."""

from __future__ import annotations

from pcf_cli.cli import terminate

__all__ = ["terminate"]
