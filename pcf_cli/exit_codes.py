"""The exit codes of every ``pcf`` command: the only place they are defined."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a ``pcf`` command's exit status means."""

    OK = 0
    """Done: everything asked for was done (``pcf local status``: the server runs and answers)."""
    FAILED = 1
    """Failed while acting (one line per failed particle), an unexpected error, a replay that failed again, or a
    ``pcf local`` server that did not start or does not run."""
    USAGE = 2
    """Bad input: one ``pcf: error: <field>: <reason>`` line; nothing was created or started."""
    DRIFT = 3
    """``pcf drift`` found a particle that differs from its desired state."""
    INTERRUPTED = 130
    """Ctrl-C: what the command started was stopped (one line says what)."""
