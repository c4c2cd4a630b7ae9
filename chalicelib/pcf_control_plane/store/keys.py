"""Keys shared by every implementation: item ids, history ordering and deployment shards."""

from __future__ import annotations

import hashlib
import itertools
import math
import secrets
import threading
import zlib

PARTICLE_PREFIX = "P#"
SPEC_SK = "SPEC"
OBSERVATION_SK = "OBS"
LEASE_SK = "LEASE"
HISTORY_PREFIX = "H#"
RUN_PREFIX = "R#"
META_SK = "META"
PAGE_PREFIX = "PG#"
CREATED_PREFIX = "C#"
FAILURE_PREFIX = "F#"


def particle_pk(pcf_id: str) -> str:
    """The partition key of every item of one particle (spec, observation, lease, history)."""
    return f"{PARTICLE_PREFIX}{pcf_id}"


def pcf_id_of(pk: str) -> str:
    """The pcf_id in a particle partition key."""
    return pk.removeprefix(PARTICLE_PREFIX)


def run_pk(execution: str) -> str:
    """The partition key of every item of one run (an apply execution): ``R#<execution ARN>``."""
    return f"{RUN_PREFIX}{execution}"


def page_sk(phase: str, level: int, page: int) -> str:
    """A page's sort key, ``PG#<phase>#<level:03>#<page:05>``: pages sort by phase, level, page."""
    return f"{PAGE_PREFIX}{phase}#{level:03d}#{page:05d}"


def created_sk(pcf_id: str) -> str:
    """The sort key of the mark saying the run created ``pcf_id``'s resource."""
    return f"{CREATED_PREFIX}{pcf_id}"


def failure_prefix(phase: str, level: int) -> str:
    """The sort-key prefix of a level's failures."""
    return f"{FAILURE_PREFIX}{phase}#{level:03d}#"


def failure_sk(phase: str, level: int, pcf_id: str) -> str:
    """The sort key of ``pcf_id``'s failure in a level."""
    return f"{failure_prefix(phase, level)}{pcf_id}"


def deployment_key(deployment: str, pcf_id: str, shards: int) -> str:
    """The listing partition of a particle: its deployment's, in the shard its pcf_id hashes to."""
    return listing_key(deployment, shard_of(pcf_id, shards))


def listing_key(deployment: str, shard: int) -> str:
    """One listing partition of a deployment: ``<deployment>#<shard>``."""
    return f"{deployment}#{shard}"


def shard_of(pcf_id: str, shards: int) -> int:
    """A stable shard number in ``range(shards)`` (CRC-32, the same in every process)."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    return zlib.crc32(pcf_id.encode()) % shards


class HistoryIds:
    """Makes history sort keys ``H#<epoch ms, 13 digits>#<sequence><random>``.

    Sorting the keys as strings sorts the items by time; within one millisecond, items from one store
    keep their order (the sequence) and items from different writers differ (the random part).
    """

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def next(self, at: float) -> str:
        """A new, unique history item id for time ``at`` (epoch seconds)."""
        with self._lock:
            sequence = next(self._counter)
        millis = max(0, int(at * 1000))
        return f"{HISTORY_PREFIX}{millis:013d}#{sequence:010d}{secrets.token_hex(4)}"


def fixed_history_id(at: float, seed: str, index: int = 0) -> str:
    """The ``index``-th (0-99) history item id for time ``at`` that is the same for the same ``seed``: a write
    retried with the same seed overwrites its own items instead of adding more, and items of one seed keep their
    order (ids keep the ``H#<ms>#<18 chars>`` shape)."""
    if not 0 <= index < 100:
        raise ValueError("index must be in 0-99")
    millis = max(0, int(at * 1000))
    return f"{HISTORY_PREFIX}{millis:013d}#{hashlib.sha256(seed.encode()).hexdigest()[:16]}{index:02d}"


def history_expiry(at: float, ttl_seconds: float | None) -> float | None:
    """When a history item recorded at ``at`` expires: whole epoch seconds (DynamoDB TTL's unit), or never."""
    return None if ttl_seconds is None else float(math.ceil(at + ttl_seconds))
