"""Fixtures that chain: virtual clock -> local cloud (moto, patched) -> clients -> runtime.

Nothing here really sleeps: the local cloud's pending phases and the apply loop share one virtual clock.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

# No test may reach a real AWS account, whatever the developer's shell holds.
for _name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# Nor a developer's shared local server (pcf local start): the local target must mean the test's own cloud.
os.environ["PCF_LOCAL_DIR"] = os.path.join(tempfile.gettempdir(), f"pcf-tests-no-server-{os.getpid()}")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")

from pcf.core.runtime import PollPolicy, Runtime  # noqa: E402
from pcf_local_cloud.clock import VirtualClock  # noqa: E402
from pcf_local_cloud.cloud import LocalCloud  # noqa: E402


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def cloud(clock: VirtualClock) -> Iterator[LocalCloud]:
    """An empty local cloud (instant transitions), its client factory the process default."""
    with LocalCloud(clock=clock) as local:
        yield local


@pytest.fixture
def slow_cloud(clock: VirtualClock) -> Iterator[LocalCloud]:
    """A local cloud whose instances spend 5 virtual seconds pending/stopping/shutting down."""
    with LocalCloud(clock=clock, pending_seconds=5.0, volume_pending_seconds=2.0) as local:
        yield local


@pytest.fixture
def runtime(clock: VirtualClock) -> Runtime:
    """Apply runtime on the virtual clock: polls cost no real time."""
    return Runtime(clock=clock.now, sleep=clock.sleep, max_workers=8, poll=PollPolicy(0.5, 1.5, 4.0))


@pytest.fixture
def ec2(cloud: LocalCloud) -> Any:
    return cloud.client("ec2")


@pytest.fixture(scope="session")
def known_ami_id() -> str:
    """An AMI id moto knows (looked up once: moto's AMI catalogue is fixed, the call is slow)."""
    with LocalCloud() as local:
        return local.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]


@pytest.fixture
def ami_id(cloud: LocalCloud, known_ami_id: str) -> str:
    """An AMI id moto knows, in an active local cloud."""
    return known_ami_id


@pytest.fixture
def slow_ec2(slow_cloud: LocalCloud) -> Any:
    return slow_cloud.client("ec2")
