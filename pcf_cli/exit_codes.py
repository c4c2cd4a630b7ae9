"""The exit codes of every ``pcf`` command: the only place they are defined."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a ``pcf`` command's exit status means (``docs/cli.md``, "The command line, its output and exit codes")."""

    OK = 0  # done
    FAILED = 1  # failed while acting, an unexpected error, a replay failed again, no local server
    USAGE = 2  # bad input: one ``pcf: error: <field>: <reason>`` line; nothing was created or started
    DRIFT = 3  # ``pcf drift`` found a particle that differs from its desired state
    INTERRUPTED = 130  # Ctrl-C: what the command started was stopped (one line says what)
