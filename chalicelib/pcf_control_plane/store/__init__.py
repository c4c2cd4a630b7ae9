"""The state store: desired specs, observations, leases and history of particles.

``StateStore`` is the contract; ``InMemoryStateStore`` and ``DynamoDBStateStore`` implement it alike.
The table's schema lives in ``pcf_control_plane.store.table``.
"""

from pcf_control_plane.store.converge import (
    CommitResult,
    ConvergeCommit,
    Family,
    HistoryEntry,
    ParticleState,
    commit_token,
)
from pcf_control_plane.store.dynamodb import DynamoDBStateStore
from pcf_control_plane.store.errors import (
    ConflictError,
    IdempotencyMismatchError,
    IndexNotReadyError,
    PageTooLargeError,
    StoreError,
)
from pcf_control_plane.store.interface import WAIT_UNCHECKED, StateStore
from pcf_control_plane.store.listing import ListingRange
from pcf_control_plane.store.memory import InMemoryStateStore
from pcf_control_plane.store.models import (
    HistoryItem,
    HistoryKind,
    Lease,
    Observation,
    ParticleFlags,
    ParticleRecord,
    ParticleSpec,
    ParticleView,
    RecordResult,
    SpecSummary,
    StoredSpec,
    Wait,
)
from pcf_control_plane.store.runs import (
    PAGE_DEFS_MAX_BYTES,
    PAGE_MAX_PARTICLES,
    LevelFailures,
    LevelPages,
    PageListing,
    RunFailure,
    RunMeta,
    RunPage,
)

__all__ = [
    "PAGE_DEFS_MAX_BYTES",
    "PAGE_MAX_PARTICLES",
    "WAIT_UNCHECKED",
    "CommitResult",
    "ConflictError",
    "ConvergeCommit",
    "DynamoDBStateStore",
    "Family",
    "HistoryEntry",
    "HistoryItem",
    "HistoryKind",
    "IdempotencyMismatchError",
    "InMemoryStateStore",
    "IndexNotReadyError",
    "Lease",
    "LevelFailures",
    "LevelPages",
    "ListingRange",
    "Observation",
    "PageListing",
    "PageTooLargeError",
    "ParticleFlags",
    "ParticleRecord",
    "ParticleSpec",
    "ParticleState",
    "ParticleView",
    "RecordResult",
    "RunFailure",
    "RunMeta",
    "RunPage",
    "SpecSummary",
    "StateStore",
    "StoreError",
    "StoredSpec",
    "Wait",
    "commit_token",
]
