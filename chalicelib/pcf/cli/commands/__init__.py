"""The original PCF's click commands, ``pcf.cli.commands.<apply|run|stop|terminate>``: each module holds the ``pcf``
command line's own click command of its name (``pcf_cli.cli``); ``COMMON_APPLY_OPTIONS`` are the original's options
they share (``-f``, ``-q``, ``-c``, ``-t``)."""

from __future__ import annotations

from pcf_cli.cli import CONVERGE_OPTIONS

COMMON_APPLY_OPTIONS = CONVERGE_OPTIONS
