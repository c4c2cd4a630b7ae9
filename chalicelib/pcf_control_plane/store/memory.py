"""``InMemoryStateStore``: the ``StateStore`` contract in process memory, for tests and library mode."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

from pcf_control_plane.store.interface import (
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_PAGE_SIZE,
    StateStore,
    check_limit,
    check_page_size,
    check_ttl,
)
from pcf_control_plane.store.keys import HistoryIds, history_expiry
from pcf_control_plane.store.models import (
    HistoryItem,
    HistoryKind,
    Lease,
    Observation,
    ParticleRecord,
    ParticleSpec,
    StoredSpec,
)


class InMemoryStateStore(StateStore):
    """Dictionaries behind one lock; every read and write hands out copies, as a database would."""

    def __init__(self, clock: Callable[[], float] = time.time, history_ttl_seconds: float | None = None) -> None:
        self._clock = clock
        self._history_ttl = history_ttl_seconds
        self._lock = threading.RLock()
        self._specs: dict[str, tuple[StoredSpec, str]] = {}
        self._observations: dict[str, Observation] = {}
        self._leases: dict[str, Lease] = {}
        self._history: dict[str, dict[str, HistoryItem]] = {}
        self._history_ids = HistoryIds()

    # desired specs ------------------------------------------------------------------------------

    def put_spec(self, spec: ParticleSpec) -> int:
        digest = spec.content_hash()
        with self._lock:
            current = self._specs.get(spec.pcf_id)
            if current is not None and current[1] == digest:
                return current[0].generation
            generation = current[0].generation + 1 if current else 1
            stored = StoredSpec(**_plain(spec), generation=generation, updated_at=self._clock())
            self._specs[spec.pcf_id] = (stored, digest)
            return generation

    def get_spec(self, pcf_id: str) -> StoredSpec | None:
        with self._lock:
            current = self._specs.get(pcf_id)
            return current[0].model_copy(deep=True) if current else None

    def members_of(self, quasiparticle: str) -> list[str]:
        with self._lock:
            return sorted(pid for pid, (spec, _) in self._specs.items() if spec.quasiparticle == quasiparticle)

    # observations ------------------------------------------------------------------------------

    def record_observation(self, pcf_id: str, observation: Observation) -> bool:
        with self._lock:
            current = self._observations.get(pcf_id)
            if current is not None and current.observed_at >= observation.observed_at:
                return False
            self._observations[pcf_id] = observation.model_copy(deep=True)
            return True

    def get_observation(self, pcf_id: str) -> Observation | None:
        with self._lock:
            current = self._observations.get(pcf_id)
            return current.model_copy(deep=True) if current else None

    def find_by_resource_id(self, resource_id: str) -> str | None:
        with self._lock:
            matches = [(obs.observed_at, pid) for pid, obs in self._observations.items()
                       if obs.resource_id == resource_id]
        return max(matches)[1] if matches else None

    def _atomic(self) -> AbstractContextManager[Any]:
        return self._lock  # the checks and writes of record_observed as one, like DynamoDB's transaction

    # reading particles together ------------------------------------------------------------------

    def get_many(self, pcf_ids: Iterable[str]) -> dict[str, ParticleRecord]:
        with self._lock:
            found = {pid: self._record(pid) for pid in dict.fromkeys(pcf_ids)}
        return {pid: record for pid, record in found.items() if record is not None}

    def list_particles(self, deployment: str, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[list[ParticleRecord]]:
        check_page_size(page_size)
        with self._lock:
            ids = sorted(pid for pid, (spec, _) in self._specs.items() if spec.deployment == deployment)
            records = [record for record in map(self._record, ids) if record is not None]
        for start in range(0, len(records), page_size):
            yield records[start:start + page_size]

    def delete_particle(self, pcf_id: str) -> None:
        with self._lock:
            self._specs.pop(pcf_id, None)
            self._observations.pop(pcf_id, None)
            self._leases.pop(pcf_id, None)

    def _record(self, pcf_id: str) -> ParticleRecord | None:
        spec, observation = self.get_spec(pcf_id), self.get_observation(pcf_id)
        if spec is None and observation is None:
            return None
        return ParticleRecord(pcf_id=pcf_id, spec=spec, observation=observation)

    # leases --------------------------------------------------------------------------------------

    def acquire_lease(self, pcf_id: str, owner: str, ttl_seconds: float) -> bool:
        check_ttl(ttl_seconds)
        with self._lock:
            now = self._clock()
            current = self._leases.get(pcf_id)
            if current is not None and current.expires_at > now and current.owner != owner:
                return False
            self._leases[pcf_id] = Lease(pcf_id=pcf_id, owner=owner, acquired_at=now, expires_at=now + ttl_seconds)
            return True

    def release_lease(self, pcf_id: str, owner: str) -> bool:
        with self._lock:
            current = self._leases.get(pcf_id)
            if current is None or current.owner != owner:
                return False
            del self._leases[pcf_id]
            return True

    def current_lease(self, pcf_id: str) -> Lease | None:
        with self._lock:
            current = self._leases.get(pcf_id)
            return current if current is not None and current.expires_at > self._clock() else None

    # history -------------------------------------------------------------------------------------

    def add_history(
        self,
        pcf_id: str,
        kind: HistoryKind | str,
        detail: Mapping[str, Any],
        cause: str,
        *,
        at: float | None = None,
    ) -> HistoryItem:
        when = self._clock() if at is None else at
        expires = history_expiry(when, self._history_ttl)
        with self._lock:
            items = self._history.setdefault(pcf_id, {})
            item_id = self._history_ids.next(when)
            while item_id in items:
                item_id = self._history_ids.next(when)
            item = HistoryItem(pcf_id=pcf_id, item_id=item_id, kind=HistoryKind(kind), at=when, cause=cause,
                               detail=copy.deepcopy(dict(detail)), expires_at=expires)
            items[item_id] = item
            return item.model_copy(deep=True)

    def list_history(
        self, pcf_id: str, limit: int = DEFAULT_HISTORY_LIMIT, newest_first: bool = True
    ) -> list[HistoryItem]:
        check_limit(limit)
        with self._lock:
            items = self._history.get(pcf_id, {})
            ordered = sorted(items, reverse=newest_first)[:limit]
            return [items[item_id].model_copy(deep=True) for item_id in ordered]


def _plain(spec: ParticleSpec) -> dict[str, Any]:
    """The fields of a spec as a deep copy (so the stored one shares nothing with the caller's)."""
    return copy.deepcopy(dict(spec))
