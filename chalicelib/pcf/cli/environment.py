"""What a command line runs against: its streams, working directory and the target hooks tests replace."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pcf.cli.targets import LocalCloudFactory, has_aws_credentials, local_cloud_factory


@dataclass
class CliEnvironment:
    """Streams (summary to ``stdout``; progress, notes and errors to ``stderr``), the directory where
    ``pcf.json``/``pcf.yml``/``pcf.yaml`` are looked for, the credential check and the local cloud maker."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    cwd: Path = field(default_factory=lambda: Path("."))
    has_credentials: Callable[[], bool] = has_aws_credentials
    local_cloud: LocalCloudFactory = field(default_factory=local_cloud_factory)

    def note(self, message: str) -> None:
        """A line on stderr (target used, local-cloud notes)."""
        self.stderr.write(f"{message}\n")
        self.stderr.flush()
