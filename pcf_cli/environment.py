"""What a command line runs against: its streams, working directory and the target hooks tests replace."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

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
    """Streams (summary to ``stdout``; progress, notes and errors to ``stderr``), the directory where
    ``pcf.json``/``pcf.yml``/``pcf.yaml`` are looked for, the credential check, the local cloud maker, the
    environment variables read (``PCF_STATE_MACHINE_ARN``), and ``target_opener``, which replaces the whole
    target choice when given (tests, or a target of another kind)."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    cwd: Path = field(default_factory=lambda: Path("."))
    has_credentials: Callable[[], bool] = has_aws_credentials
    local_cloud: LocalCloudFactory = field(default_factory=local_cloud_factory)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    target_opener: TargetOpener | None = None

    def open_target(self, settings: TargetSettings) -> AbstractContextManager[Target]:
        """The target the options name, open for the block."""
        if self.target_opener is not None:
            return self.target_opener(settings)
        return open_target(settings, self.has_credentials, self.local_cloud)

    def note(self, message: str) -> None:
        """A line on stderr (target used, local-cloud notes)."""
        self.stderr.write(f"{message}\n")
        self.stderr.flush()
