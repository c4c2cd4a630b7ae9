"""Core tests run on the in-memory flavor: a fresh memory cloud for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import memory_flavor
from tests.support.memory_flavor import MemoryCloud, MemoryParticle


@pytest.fixture
def memory_cloud() -> Iterator[MemoryCloud]:
    fresh = MemoryCloud(pending_polls=2)
    previous = MemoryParticle.cloud
    MemoryParticle.cloud = fresh
    memory_flavor.CLOUD = fresh
    yield fresh
    MemoryParticle.cloud = previous
