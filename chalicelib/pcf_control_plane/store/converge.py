"""What ``converge`` reads and writes in one call each: a particle with its parents, and its commit.

``read_family`` returns a ``Family`` (one consistent BatchGetItem); ``commit_converge`` writes a
``ConvergeCommit`` in one TransactWriteItems whose ``ClientRequestToken`` is ``commit.token``: the same commit
sent again within ``IDEMPOTENCY_WINDOW_SECONDS`` has no second effect, and another commit under the same token
is ``IdempotencyMismatchError`` (both stores; DynamoDB documents it in ``TransactWriteItems``).
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pcf_control_plane.store.keys import fixed_history_id, history_expiry
from pcf_control_plane.store.models import HistoryItem, HistoryKind, Lease, Observation, StoredSpec, Wait

TOKEN_MAX_CHARS = 36
"""``ClientRequestToken``: 1 to 36 characters (TransactWriteItems API reference; botocore's model says the same)."""
MAX_COMMIT_HISTORY = 96
"""A transaction holds at most 100 writes (TransactWriteItems); a commit's other writes are at most 4."""
IDEMPOTENCY_WINDOW_SECONDS = 600.0
"""A token is valid 10 minutes after the first request that used it completed; later, it is a new request."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParticleState(_Record):
    """One particle as ``converge`` reads it: spec, observation, unexpired lease (not read for parents), the wait
    armed on it and the execution that last converged it."""

    pcf_id: str
    spec: StoredSpec | None = None
    observation: Observation | None = None
    lease: Lease | None = None
    wait: Wait | None = None
    converged_by: str | None = None

    @property
    def parents(self) -> tuple[str, ...]:
        """The parents its stored spec names (none without a spec)."""
        return tuple(self.spec.definition.get("parents") or ()) if self.spec else ()


class Family(_Record):
    """A particle and the parents it was read with (each one's state, empty when it has no items)."""

    particle: ParticleState
    parents: dict[str, ParticleState] = Field(default_factory=dict)

    @property
    def unread_parents(self) -> tuple[str, ...]:
        """Parents the stored spec names that were not read with it (the spec changed since the caller's plan)."""
        return tuple(pcf_id for pcf_id in self.particle.parents if pcf_id not in self.parents)


class HistoryEntry(_Record):
    """A history item a commit writes, at the commit's observation time, caused by its execution."""

    kind: HistoryKind
    detail: dict[str, Any] = Field(default_factory=dict)


class ConvergeCommit(_Record):
    """Everything ``converge`` records at once: the observation (newer wins; the armed wait is removed),
    ``history``, the ``created`` mark in the run partition, ``converged_by = execution`` when ``converged``, and
    the lease released when ``release_lease`` (only if ``execution`` holds it). ``token`` is the
    ``ClientRequestToken``: derive it with ``commit_token`` from what identifies the step, never at random."""

    pcf_id: str = Field(min_length=1)
    execution: str = Field(min_length=1)
    token: str = Field(min_length=1, max_length=TOKEN_MAX_CHARS, pattern=r"^[A-Za-z0-9_-]+$")
    observation: Observation
    history: tuple[HistoryEntry, ...] = Field(default=(), max_length=MAX_COMMIT_HISTORY)
    created: bool = False
    converged: bool = False
    release_lease: bool = False

    def history_items(self, history_ttl_seconds: float | None) -> list[HistoryItem]:
        """The history items the commit writes: at the observation's time, caused by the execution, with ids
        fixed by the token (the same commit writes the same items)."""
        at = self.observation.observed_at
        return [HistoryItem(pcf_id=self.pcf_id, item_id=fixed_history_id(at, self.token, n), kind=entry.kind,
                            at=at, cause=self.execution, detail=entry.detail,
                            expires_at=history_expiry(at, history_ttl_seconds))
                for n, entry in enumerate(self.history)]

    def fingerprint(self) -> str:
        """A digest of the request: equal digests are the same request."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class CommitResult(_Record):
    """What a commit did: the observation ``recorded`` or ``stale`` (a newer one is stored: everything else was
    still written), and whether the lease was released (``False`` when not asked, or not the execution's)."""

    observation: Literal["recorded", "stale"]
    lease_released: bool


def commit_token(*parts: object) -> str:
    """A deterministic ``ClientRequestToken`` (36 hex characters) from what identifies one commit, e.g.
    ``(execution, pcf_id, generation, step)``: a retried step sends the same token."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:TOKEN_MAX_CHARS]


def variant_token(token: str, variant: str) -> str:
    """The token of a variant of a commit (fewer writes after a refused condition, or a retry after a conflict):
    deterministic, and distinct from ``token``, so the variant is never a mismatch of the original."""
    return commit_token(token, variant)
