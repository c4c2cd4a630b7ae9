"""Fixtures of the CLI tests: a fresh memory cloud for the test flavor and a ``pcf`` runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pcf_local_cloud.clock import VirtualClock
from tests.cli.cli_support import CliRunner, CliTestParticle, MemoryCloud


@pytest.fixture
def memory() -> Iterator[MemoryCloud]:
    """A fresh memory cloud for the test flavor."""
    fresh = MemoryCloud()
    previous, CliTestParticle.cloud = CliTestParticle.cloud, fresh
    yield fresh
    CliTestParticle.cloud = previous


@pytest.fixture
def pcf_cli(tmp_path: Path, memory: MemoryCloud, clock: VirtualClock) -> CliRunner:
    """Runs the CLI in a temporary directory, on the test flavor's memory cloud and the virtual clock."""
    return CliRunner(tmp_path, clock)


@pytest.fixture
def sfn_cli(tmp_path: Path, clock: VirtualClock) -> CliRunner:
    """Runs the CLI with its default engine (Step Functions): pass it a real ``LocalCloud`` (``cloud=``)."""
    return CliRunner(tmp_path, clock, engine=None)
