"""Fixtures of the CLI tests: a fresh memory cloud for the test flavor and a ``pcf`` runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.server_client import start_server, stop_server
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


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local server (``pcf local start``, pending 0) of the test module's own, stopped after it."""
    directory = tmp_path_factory.mktemp("server") / "local"
    directory.mkdir()
    start_server(directory, 0, timeout_s=120)
    try:
        yield directory
    finally:
        stop_server(directory, timeout_s=5)


@pytest.fixture
def on_server(server_dir: Path, monkeypatch: pytest.MonkeyPatch, sfn_cli: CliRunner) -> CliRunner:
    """The CLI with the module's server as the local target."""
    monkeypatch.setenv("PCF_LOCAL_DIR", str(server_dir))
    return sfn_cli
