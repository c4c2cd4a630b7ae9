"""``InMemoryStateStore``: the ``StateStore`` contract in process memory, for tests and library mode."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from pcf_control_plane.store.converge import CommitResult, ConvergeCommit, Family, ParticleState
from pcf_control_plane.store.idempotency import IdempotencyWindow
from pcf_control_plane.store.interface import (
    DEFAULT_FIRST_FAILURES,
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_PAGE_LISTING,
    DEFAULT_PAGE_SIZE,
    DEFAULT_RUN_ITEMS,
    StateStore,
    check_limit,
    check_page_size,
    check_ttl,
)
from pcf_control_plane.store.keys import HistoryIds, history_expiry
from pcf_control_plane.store.listing import RUN_ITEM_MAX_BYTES, ListingRange, check_run_item_key
from pcf_control_plane.store.memory_runs import MemoryRuns
from pcf_control_plane.store.models import (
    PENDING,
    HistoryItem,
    HistoryKind,
    Lease,
    Observation,
    ParticleRecord,
    ParticleSpec,
    RecordResult,
    StoredSpec,
    Wait,
)
from pcf_control_plane.store.runs import LevelFailures, PageListing, RunFailure, RunMeta, RunPage, failure_history


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
        self._waits: dict[str, Wait] = {}
        self._converged_by: dict[str, str] = {}
        self._runs = MemoryRuns()
        self._run_items: dict[str, dict[str, str]] = {}
        self._tokens: IdempotencyWindow[CommitResult] = IdempotencyWindow(clock)

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

    def listing_ranges(self, deployment: str, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[ListingRange]:
        check_page_size(page_size)
        with self._lock:
            ids = sorted(pid for pid, (spec, _) in self._specs.items() if spec.deployment == deployment)
        for start in range(0, len(ids), page_size):
            chunk = ids[start:start + page_size]
            yield ListingRange(shard=0, first=chunk[0], last=chunk[-1], count=len(chunk))

    def list_range(self, deployment: str, listed: ListingRange) -> list[ParticleRecord]:
        with self._lock:
            ids = sorted(pid for pid, (spec, _) in self._specs.items()
                         if spec.deployment == deployment and listed.first <= pid <= listed.last)
            return [record for record in map(self._record, ids) if record is not None]

    def delete_particle(self, pcf_id: str) -> None:
        with self._lock:
            self._specs.pop(pcf_id, None)
            self._observations.pop(pcf_id, None)
            self._leases.pop(pcf_id, None)
            self._waits.pop(pcf_id, None)
            self._converged_by.pop(pcf_id, None)

    def _record(self, pcf_id: str) -> ParticleRecord | None:
        spec, observation = self.get_spec(pcf_id), self.get_observation(pcf_id)
        if spec is None and observation is None:
            return None
        return ParticleRecord(pcf_id=pcf_id, spec=spec, observation=observation)

    # converge and waits -------------------------------------------------------------------------

    def read_family(self, pcf_id: str, parents: Iterable[str]) -> Family:
        with self._lock:
            return Family(particle=self._state(pcf_id, with_lease=True),
                          parents={pid: self._state(pid, with_lease=False)
                                   for pid in dict.fromkeys(parents) if pid != pcf_id})

    def read_states(self, pcf_ids: Iterable[str]) -> dict[str, ParticleState]:
        with self._lock:
            return {pid: self._state(pid, with_lease=False) for pid in dict.fromkeys(pcf_ids)}

    def _state(self, pcf_id: str, *, with_lease: bool) -> ParticleState:
        return ParticleState(pcf_id=pcf_id, spec=self.get_spec(pcf_id), observation=self.get_observation(pcf_id),
                             lease=self.current_lease(pcf_id) if with_lease else None,
                             wait=self._waits.get(pcf_id), converged_by=self._converged_by.get(pcf_id))

    def _wait_of(self, pcf_id: str) -> Wait | None:
        with self._lock:
            return self._waits.get(pcf_id)

    def commit_converge(self, commit: ConvergeCommit) -> CommitResult:
        fingerprint = commit.fingerprint()
        pcf_id = commit.pcf_id
        with self._lock:
            replayed = self._tokens.replay(commit.token, fingerprint)
            if replayed is not None:
                return replayed
            recorded = self.record_observation(pcf_id, commit.observation)
            self._waits.pop(pcf_id, None)
            if commit.converged:
                self._converged_by[pcf_id] = commit.execution
            for item in commit.history_items(self._history_ttl):
                self._history.setdefault(pcf_id, {})[item.item_id] = item
            if commit.created:
                self._runs.mark_created(commit.execution, pcf_id)
            released = False
            if commit.release_lease:
                held = self._leases.get(pcf_id)
                released = held is None or held.owner == commit.execution
                if released:
                    self._leases.pop(pcf_id, None)
            result = CommitResult(observation="recorded" if recorded else "stale", lease_released=released)
            self._tokens.complete(commit.token, fingerprint, result)
            return result

    def arm_wait(self, pcf_id: str, wait: Wait, resource_id: str) -> bool:
        with self._lock:
            current = self._observations.get(pcf_id)
            if current is None or current.resource_id != resource_id or current.state != PENDING:
                return False
            self._waits[pcf_id] = wait
            return True

    def clear_wait(self, pcf_id: str, owner: str, token: str | None = None) -> bool:
        with self._lock:
            armed = self._waits.get(pcf_id)
            if armed is None or armed.owner != owner or token not in (None, armed.token):
                return False
            del self._waits[pcf_id]
            return True

    def resolve_wait(self, pcf_id: str, observation: Observation, wait: Wait,
                     detail: Mapping[str, Any]) -> RecordResult:
        with self._lock:
            previous = self._observations.get(pcf_id)
            if previous is not None and previous.observed_at >= observation.observed_at:
                return RecordResult(status="stale")
            armed = self._waits.get(pcf_id)
            if armed is None or armed.token != wait.token:
                return RecordResult(status="wait_changed", wait=armed)
            held = self._leases.get(pcf_id)
            if held is not None and held.owner != wait.owner:
                return RecordResult(status="leased", lease=held)
            snapshot = previous.snapshot if previous else observation.snapshot
            self._observations[pcf_id] = observation.model_copy(update={"snapshot": snapshot}, deep=True)
            self._converged_by[pcf_id] = wait.owner
            self._leases.pop(pcf_id, None)
            at, cause = observation.observed_at, observation.cause
            self.add_history(pcf_id, HistoryKind.observation, {**detail, "run": wait.owner}, cause, at=at)
            self.add_history(pcf_id, HistoryKind.lease, {"acquired": False, "run": wait.owner}, cause, at=at)
            return RecordResult(status="recorded")

    # run partitions ----------------------------------------------------------------------------

    def put_run(self, meta: RunMeta, pages: Sequence[RunPage]) -> None:
        with self._lock:
            self._runs.put(meta, pages)

    def put_page(self, execution: str, page: RunPage) -> None:
        with self._lock:
            self._runs.put_page(execution, page)

    def get_run(self, execution: str) -> RunMeta | None:
        with self._lock:
            return self._runs.meta(execution)

    def set_rolling_back(self, execution: str, rolling_back: bool = True) -> bool:
        with self._lock:
            return self._runs.set_rolling_back(execution, rolling_back)

    def get_page(self, execution: str, phase: str, level: int, page: int) -> RunPage | None:
        with self._lock:
            return self._runs.page(execution, phase, level, page)

    def set_page_generations(self, execution: str, phase: str, level: int, page: int,
                             gens: Mapping[str, int]) -> bool:
        with self._lock:
            return self._runs.set_generations(execution, phase, level, page, gens)

    def list_pages(self, execution: str, cursor: str | None = None,
                   limit: int = DEFAULT_PAGE_LISTING) -> PageListing:
        check_page_size(limit)
        with self._lock:
            return self._runs.list(execution, cursor, limit)

    def record_failure(self, execution: str, failure: RunFailure, cause: str | None = None) -> HistoryItem:
        item = failure_history(execution, failure, self._history_ttl, cause)
        with self._lock:
            self._runs.add_failure(execution, failure)
            self._history.setdefault(failure.pcf_id, {})[item.item_id] = item
        return item.model_copy(deep=True)

    def level_failures(self, execution: str, phase: str, level: int,
                       first: int = DEFAULT_FIRST_FAILURES) -> LevelFailures:
        check_limit(first)
        with self._lock:
            return self._runs.failures(execution, phase, level, first)

    def failed_marks(self, execution: str, phase: str, level: int, pcf_ids: Iterable[str]) -> set[str]:
        with self._lock:
            return self._runs.failed(execution, phase, level, pcf_ids)

    def created_marks(self, execution: str, pcf_ids: Iterable[str]) -> set[str]:
        with self._lock:
            return self._runs.created(execution, pcf_ids)

    def put_run_items(self, execution: str, documents: Mapping[str, Mapping[str, Any]]) -> None:
        encoded = {}
        for sort_key, document in documents.items():
            check_run_item_key(sort_key)
            encoded[sort_key] = json.dumps(document, separators=(",", ":"), sort_keys=True)
            if len(encoded[sort_key]) > RUN_ITEM_MAX_BYTES:
                raise ValueError(f"run item {sort_key} is over {RUN_ITEM_MAX_BYTES:,} bytes")
        with self._lock:
            self._run_items.setdefault(execution, {}).update(encoded)

    def get_run_items(self, execution: str, sort_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        with self._lock:
            held = self._run_items.get(execution, {})
            return {key: json.loads(held[key]) for key in dict.fromkeys(sort_keys) if key in held}

    def query_run_items(self, execution: str, prefix: str, cursor: str | None = None,
                        limit: int = DEFAULT_RUN_ITEMS) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
        check_limit(limit)
        with self._lock:
            held = self._run_items.get(execution, {})
            keys = sorted(key for key in held if key.startswith(prefix) and (cursor is None or key > cursor))[:limit]
            found = [(key, json.loads(held[key])) for key in keys]
        return found, keys[-1] if len(keys) == limit else None

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
