"""What a command line runs against: its streams, working directory and the target hooks tests replace."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.text import Text

from pcf.core.printable import escape_unprintable
from pcf_cli.output import make_console
from pcf_cli.targets import (
    LocalCloudFactory,
    Target,
    TargetOpener,
    TargetSettings,
    has_aws_credentials,
    local_cloud_factory,
    open_target,
)


@dataclass
class CliEnvironment:
    """Streams (summary to ``stdout``; progress, notes and errors to ``stderr``), working directory, target hooks
    (``target_opener`` replaces the whole target choice), environment variables, and ``--no-color`` and ``-v``."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    cwd: Path = field(default_factory=lambda: Path("."))
    has_credentials: Callable[[], bool] = has_aws_credentials
    local_cloud: LocalCloudFactory = field(default_factory=local_cloud_factory)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    target_opener: TargetOpener | None = None
    color: bool = True
    verbose: int = 0

    @cached_property
    def out(self) -> Console:
        """``stdout`` as a console (made at first use, once ``--no-color`` is known)."""
        return make_console(self.stdout, color=self.color, environ=self.environ)

    @cached_property
    def err(self) -> Console:
        """``stderr`` as a console: progress, notes and errors."""
        return make_console(self.stderr, color=self.color, environ=self.environ)

    def open_target(self, settings: TargetSettings) -> AbstractContextManager[Target]:
        """The target the options name, open for the block."""
        if self.target_opener is not None:
            return self.target_opener(settings)
        return open_target(settings, self.has_credentials, self.local_cloud)

    def note(self, message: str) -> None:
        """A line on stderr (target used, local-cloud notes), dim on a terminal."""
        self.err.print(Text(message, style="dim"))
        self.stderr.flush()

    def error(self, message: str) -> None:
        """``pcf: error: <message>`` on stderr, one line, control characters escaped; red on a terminal."""
        self.err.print(Text(f"pcf: error: {escape_unprintable(message)}", style="bold red"))
