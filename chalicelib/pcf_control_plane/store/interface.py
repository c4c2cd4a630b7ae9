"""``StateStore``: what the control plane keeps per particle, independent of where it is kept.

Two implementations behave identically (one contract test suite runs against both):
``InMemoryStateStore`` for tests and library mode, ``DynamoDBStateStore`` for the deployed control plane.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from enum import Enum
from typing import Any, Literal

from pcf_control_plane.store.converge import CommitResult, ConvergeCommit, Family, ParticleState
from pcf_control_plane.store.listing import ListingRange
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
    Wait,
)
from pcf_control_plane.store.runs import LevelFailures, PageListing, RunFailure, RunMeta, RunPage

DEFAULT_PAGE_SIZE = 500
DEFAULT_HISTORY_LIMIT = 100
DEFAULT_PAGE_LISTING = 50
DEFAULT_FIRST_FAILURES = 5
DEFAULT_RUN_ITEMS = 100


class _Unchecked(Enum):
    UNCHECKED = "unchecked"


WAIT_UNCHECKED = _Unchecked.UNCHECKED
"""``record_observed(wait_token=WAIT_UNCHECKED)`` (the default): the write does not look at the armed wait."""
WaitExpectation = str | None | Literal[_Unchecked.UNCHECKED]


class StateStore(ABC):
    """Desired specs, last observations, leases and history of particles, keyed by pcf_id."""

    # desired specs ------------------------------------------------------------------------------

    @abstractmethod
    def put_spec(self, spec: ParticleSpec) -> int:
        """Store the desired spec; return its generation (bumped on any change, kept on an identical put)."""

    def plan_specs(self, specs: Sequence[ParticleSpec], execution: str) -> dict[str, int]:
        """Store each spec (as ``put_spec``) with its ``plan`` history item (``desired_state``, ``generation``),
        caused by ``execution``; their generations. The DynamoDB store reads them all at once and writes each
        particle in one transaction."""
        generations: dict[str, int] = {}
        for spec in specs:
            generations[spec.pcf_id] = self.put_spec(spec)
            self.add_history(spec.pcf_id, HistoryKind.plan, plan_detail(spec, generations[spec.pcf_id]), execution)
        return generations

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

    @abstractmethod
    def listing_ranges(self, deployment: str, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[ListingRange]:
        """The deployment's listing cut into ranges of up to ``page_size`` pcf_ids, shard by shard, in order; only
        keys are read (DynamoDB: Queries of the ``by_deployment`` index projecting ``pcf_id``)."""

    @abstractmethod
    def list_range(self, deployment: str, listed: ListingRange) -> list[ParticleRecord]:
        """The particles with a spec in ``listed`` (DynamoDB: one Query of the index between its first and last
        pcf_id, paged when over 1 MB)."""

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
                            observation=record.observation, wait=self._wait_of(pcf_id))

    def _wait_of(self, pcf_id: str) -> Wait | None:
        """The wait armed on the particle (an implementation reads it with the observation)."""
        return self.read_family(pcf_id, ()).particle.wait

    def record_observed(
        self,
        pcf_id: str,
        observation: Observation,
        kind: HistoryKind | str,
        detail: Mapping[str, Any],
        also: Sequence[tuple[HistoryKind | str, Mapping[str, Any]]] = (),
        *,
        unless_leased: bool = False,
        wait_token: WaitExpectation = WAIT_UNCHECKED,
    ) -> RecordResult:
        """Record what was seen elsewhere (an event): the observation's state, time, resource id and cause,
        newer wins, the stored snapshot kept; with it, and only with it, a history item (``kind``, ``detail``)
        and each of ``also``, caused by the observation's cause, at its time. ``unless_leased``: nothing is
        written while a lease is held. ``wait_token``: a token, written only if that wait or none is armed;
        ``None``, only if none is (``wait_changed`` otherwise, with the armed wait). Checked in that order:
        stale, wait, lease. The DynamoDB store does it all in one transaction."""
        with self._atomic():
            previous = self.get_observation(pcf_id)
            if previous is not None and previous.observed_at >= observation.observed_at:
                return RecordResult(status="stale")
            armed = None if wait_token is WAIT_UNCHECKED else self._wait_of(pcf_id)
            if armed is not None and armed.token != wait_token:
                return RecordResult(status="wait_changed", wait=armed)
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

    # converge and waits -------------------------------------------------------------------------

    @abstractmethod
    def read_family(self, pcf_id: str, parents: Iterable[str]) -> Family:
        """``pcf_id``'s spec, observation, unexpired lease, wait and ``converged_by``, and each of ``parents``'
        spec, observation, wait and ``converged_by``: one consistent read (DynamoDB: one BatchGetItem per 100
        keys). ``Family.unread_parents`` names parents the stored spec has that were not asked for."""

    @abstractmethod
    def commit_converge(self, commit: ConvergeCommit) -> CommitResult:
        """Write ``commit`` at once (see ``ConvergeCommit``); idempotent under ``commit.token`` for 10 minutes:
        the same commit again has no second effect, another one is ``IdempotencyMismatchError``. A stale
        observation or a lease that is not the execution's does not stop the rest (reported in the result)."""

    @abstractmethod
    def read_states(self, pcf_ids: Iterable[str]) -> dict[str, ParticleState]:
        """Each of ``pcf_ids``' spec, observation, wait and ``converged_by`` (no lease), in one consistent read
        (DynamoDB: one BatchGetItem per 50 particles); a particle with no items reads as an empty state."""

    @abstractmethod
    def arm_wait(self, pcf_id: str, wait: Wait, resource_id: str) -> bool:
        """What the ``Await`` task's UpdateItem does: set ``wait`` on the observation only if it names
        ``resource_id`` and its state is still ``pending``; ``False`` (nothing written) otherwise."""

    @abstractmethod
    def clear_wait(self, pcf_id: str, owner: str, token: str | None = None) -> bool:
        """Remove the wait ``owner`` armed on ``pcf_id`` (with ``token``: only that one), when it will never be
        resumed (its execution failed or stopped, its task ended), so that no later event resolves it in that
        execution's name; ``False`` when no such wait is armed."""

    @abstractmethod
    def resolve_wait(self, pcf_id: str, observation: Observation, wait: Wait,
                     detail: Mapping[str, Any]) -> RecordResult:
        """An event that brings what ``wait`` waits for: the observation (newer wins, snapshot kept) only if
        ``wait`` is still the armed one, ``converged_by = wait.owner``, the lease released if ``wait.owner`` holds
        it (or nobody does), history ``observation`` (``detail`` plus ``run``) and ``lease`` (``acquired: False``),
        all at once. ``stale``, ``wait_changed`` (with the armed wait) or ``leased`` (another execution's lease)
        write nothing. The wait stays on the item (the next ``Await`` or commit replaces it)."""

    # run partitions ----------------------------------------------------------------------------

    @abstractmethod
    def put_run(self, meta: RunMeta, pages: Sequence[RunPage]) -> None:
        """Write a run's ``META`` and ``pages`` (DynamoDB: BatchWriteItem, 25 items a call). Every page must be one
        of ``meta``'s; a page whose specs are too large is ``PageTooLargeError``, raised before anything is
        written."""

    @abstractmethod
    def put_page(self, execution: str, page: RunPage) -> None:
        """Write one page of the run ``execution`` (replacing a page of the same key), without reading or checking
        its ``META``; a page whose specs are too large is ``PageTooLargeError``, raised before the write."""

    @abstractmethod
    def get_run(self, execution: str) -> RunMeta | None:
        """The run's ``META``, or ``None``."""

    @abstractmethod
    def set_rolling_back(self, execution: str, rolling_back: bool = True) -> bool:
        """Set the run's ``rolling_back`` flag; ``False`` when there is no such run."""

    @abstractmethod
    def get_page(self, execution: str, phase: str, level: int, page: int) -> RunPage | None:
        """One page with its specs and generations, or ``None`` (a consistent read)."""

    @abstractmethod
    def set_page_generations(self, execution: str, phase: str, level: int, page: int,
                             gens: Mapping[str, int]) -> bool:
        """Store the generations ``plan_page`` wrote for the page's particles; ``False`` when there is no page."""

    @abstractmethod
    def list_pages(self, execution: str, cursor: str | None = None,
                   limit: int = DEFAULT_PAGE_LISTING) -> PageListing:
        """Up to ``limit`` pages of the run after ``cursor``, in key order, ids and generations only."""

    @abstractmethod
    def record_failure(self, execution: str, failure: RunFailure, cause: str | None = None) -> HistoryItem:
        """The failure in the run partition ``execution`` and an ``error`` history item of the particle (caused by
        ``cause``, else ``execution``), at once; the same failure recorded again overwrites both (no second
        history item)."""

    @abstractmethod
    def level_failures(self, execution: str, phase: str, level: int,
                       first: int = DEFAULT_FIRST_FAILURES) -> LevelFailures:
        """The first ``first`` failures of a level (pcf_id order) and their count."""

    @abstractmethod
    def failed_marks(self, execution: str, phase: str, level: int, pcf_ids: Iterable[str]) -> set[str]:
        """Those of ``pcf_ids`` with a failure recorded in the level (DynamoDB: one BatchGetItem per 100)."""

    @abstractmethod
    def created_marks(self, execution: str, pcf_ids: Iterable[str]) -> set[str]:
        """Those of ``pcf_ids`` whose resource the run created (a commit with ``created``)."""

    @abstractmethod
    def put_run_items(self, execution: str, documents: Mapping[str, Mapping[str, Any]]) -> None:
        """Write each JSON-safe document under its sort key (``listing.RUN_ITEM_PREFIX``…) in the run partition
        ``execution``, replacing what was there (DynamoDB: BatchWriteItem, 25 a call; expiring with the run)."""

    @abstractmethod
    def get_run_items(self, execution: str, sort_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The documents stored under ``sort_keys`` (missing ones left out; DynamoDB: a consistent BatchGetItem)."""

    @abstractmethod
    def query_run_items(self, execution: str, prefix: str, cursor: str | None = None,
                        limit: int = DEFAULT_RUN_ITEMS) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
        """Up to ``limit`` ``(sort key, document)`` under ``prefix`` after ``cursor``, in key order, and the cursor
        of the next ones (``None`` at the end; a full answer may be followed by an empty one)."""

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


def plan_detail(spec: ParticleSpec, generation: int) -> dict[str, Any]:
    """The detail of a spec's ``plan`` history item."""
    return {"desired_state": spec.desired_state, "generation": generation}
