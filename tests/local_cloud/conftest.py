"""Fixtures for the local-cloud tests: a virtual clock and local clouds with and without pending phases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud

PENDING_SECONDS = 30.0
VOLUME_PENDING_SECONDS = 5.0


@pytest.fixture
def vclock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def slow_lc(vclock: VirtualClock) -> Iterator[LocalCloud]:
    """Instances spend 30 virtual seconds in each transition; new volumes 5 creating."""
    with LocalCloud(
        pending_seconds=PENDING_SECONDS, volume_pending_seconds=VOLUME_PENDING_SECONDS, clock=vclock
    ) as cloud:
        yield cloud


@pytest.fixture
def instant_lc(vclock: VirtualClock) -> Iterator[LocalCloud]:
    """Transitions are instant, as in plain moto."""
    with LocalCloud(clock=vclock) as cloud:
        yield cloud
