"""``StateStore``: what the control plane keeps per particle, independent of where it is kept.

Two implementations behave identically (one contract test suite runs against both):
``InMemoryStateStore`` for tests and library mode, ``DynamoDBStateStore`` for the deployed control plane.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from pcf_control_plane.store.models import (
    HistoryItem,
    HistoryKind,
    Lease,
    Observation,
    ParticleRecord,
    ParticleSpec,
    ParticleView,
    RecordResult,
    StoredSpec,
)

DEFAULT_PAGE_SIZE = 500
DEFAULT_HISTORY_LIMIT = 100


class StateStore(ABC):
    """Desired specs, last observations, leases and history of particles, keyed by pcf_id."""

    # desired specs ------------------------------------------------------------------------------

    @abstractmethod
    def put_spec(self, spec: ParticleSpec) -> int:
        """Store the desired spec; return its generation (bumped on any change, kept on an identical put)."""

    @abstractmethod
    def get_spec(self, pcf_id: str) -> StoredSpec | None:
        """The stored spec, or ``None``."""

    @abstractmethod
    def members_of(self, quasiparticle: str) -> list[str]:
        """The pcf_ids whose spec names ``quasiparticle`` as theirs, sorted."""

    # observations ------------------------------------------------------------------------------

    @abstractmethod
    def record_observation(self, pcf_id: str, observation: Observation) -> bool:
        """Keep ``observation`` if it is newer than the stored one; ``False`` (nothing written) otherwise.

        An older, equal-time or duplicate observation never replaces a newer one.
        """

    @abstractmethod
    def get_observation(self, pcf_id: str) -> Observation | None:
        """The last accepted observation, or ``None``."""

    @abstractmethod
    def find_by_resource_id(self, resource_id: str) -> str | None:
        """The pcf_id whose last observation names ``resource_id`` (an instance or volume id), or ``None``."""

    # reading particles together ------------------------------------------------------------------

    @abstractmethod
    def get_many(self, pcf_ids: Iterable[str]) -> dict[str, ParticleRecord]:
        """Spec and observation of each pcf_id that has either; unknown ids are left out."""

    @abstractmethod
    def list_particles(self, deployment: str, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[list[ParticleRecord]]:
        """Every particle with a spec in ``deployment``, in batches of up to ``page_size`` records."""

    def get_particle(self, pcf_id: str) -> ParticleRecord | None:
        """Spec and observation of one particle, or ``None`` when it has neither."""
        return self.get_many([pcf_id]).get(pcf_id)

    @abstractmethod
    def delete_particle(self, pcf_id: str) -> None:
        """Forget a particle's spec, observation and lease; its history stays."""

    # events --------------------------------------------------------------------------------------

    def view_by_resource_id(self, resource_id: str) -> ParticleView | None:
        """The particle whose last observation names ``resource_id``: its spec's summary and its observation
        (the lease is not read); ``None`` when no particle does (an unmanaged resource). The DynamoDB store
        answers from the resource index in one query, so the observation may lag a write by a moment."""
        pcf_id = self.find_by_resource_id(resource_id)
        return None if pcf_id is None else self._view_of(pcf_id)

    def _view_of(self, pcf_id: str) -> ParticleView:
        """The particle's spec summary and observation, read from its own items."""
        record = self.get_particle(pcf_id) or ParticleRecord(pcf_id=pcf_id)
        return ParticleView(pcf_id=pcf_id, spec=record.spec.summary() if record.spec else None,
                            observation=record.observation)

    def record_observed(
        self,
        pcf_id: str,
        observation: Observation,
        kind: HistoryKind | str,
        detail: Mapping[str, Any],
        also: Sequence[tuple[HistoryKind | str, Mapping[str, Any]]] = (),
        *,
        unless_leased: bool = False,
    ) -> RecordResult:
        """Record what was seen elsewhere (an event): the observation's state, time, resource id and cause,
        newer wins, the stored snapshot kept; with it, and only with it, a history item (``kind``, ``detail``)
        and each of ``also``, caused by the observation's cause, at its time. ``unless_leased``: nothing is
        written while a lease is held. The DynamoDB store does it all in one transaction."""
        with self._atomic():
            previous = self.get_observation(pcf_id)
            if previous is not None and previous.observed_at >= observation.observed_at:
                return RecordResult(status="stale")
            lease = self.current_lease(pcf_id) if unless_leased else None
            if lease is not None:
                return RecordResult(status="leased", lease=lease)
            kept = observation.model_copy(
                update={"snapshot": previous.snapshot if previous else observation.snapshot})
            if not self.record_observation(pcf_id, kept):
                return RecordResult(status="stale")
            for item_kind, item_detail in ((kind, detail), *also):
                self.add_history(pcf_id, item_kind, item_detail, observation.cause, at=observation.observed_at)
            return RecordResult(status="recorded")

    def _atomic(self) -> AbstractContextManager[Any]:
        """Held around ``record_observed``'s checks and writes (an implementation's lock); nothing here."""
        return nullcontext()

    # leases --------------------------------------------------------------------------------------

    @abstractmethod
    def acquire_lease(self, pcf_id: str, owner: str, ttl_seconds: float) -> bool:
        """Take the lease for ``ttl_seconds`` if it is free, expired, or already ``owner``'s (a renewal)."""

    @abstractmethod
    def release_lease(self, pcf_id: str, owner: str) -> bool:
        """Drop the lease if ``owner`` holds it; ``False`` when someone else (or nobody) does."""

    @abstractmethod
    def current_lease(self, pcf_id: str) -> Lease | None:
        """The unexpired lease on ``pcf_id``, or ``None``."""

    # history -------------------------------------------------------------------------------------

    @abstractmethod
    def add_history(
        self,
        pcf_id: str,
        kind: HistoryKind | str,
        detail: Mapping[str, Any],
        cause: str,
        *,
        at: float | None = None,
    ) -> HistoryItem:
        """Record one event of ``pcf_id`` (at ``at``, default now) and return the stored item."""

    @abstractmethod
    def list_history(
        self, pcf_id: str, limit: int = DEFAULT_HISTORY_LIMIT, newest_first: bool = True
    ) -> list[HistoryItem]:
        """Up to ``limit`` history items of ``pcf_id``, ordered by time (newest first by default)."""


def check_page_size(page_size: int) -> None:
    """Refuse a page size below one."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")


def check_ttl(ttl_seconds: float) -> None:
    """Refuse a lease duration that is not positive."""
    if not ttl_seconds > 0:
        raise ValueError("ttl_seconds must be positive")


def check_limit(limit: int) -> None:
    """Refuse a history limit below one."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
