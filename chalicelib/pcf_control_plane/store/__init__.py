"""The state store: desired specs, observations, leases and history of particles.

``StateStore`` is the contract; ``InMemoryStateStore`` and ``DynamoDBStateStore`` implement it alike.
The table's schema lives in ``pcf_control_plane.store.table``.
"""

from pcf_control_plane.store.dynamodb import DynamoDBStateStore
from pcf_control_plane.store.errors import ConflictError, StoreError
from pcf_control_plane.store.interface import StateStore
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
)

__all__ = [
    "ConflictError",
    "DynamoDBStateStore",
    "HistoryItem",
    "HistoryKind",
    "InMemoryStateStore",
    "Lease",
    "Observation",
    "ParticleFlags",
    "ParticleRecord",
    "ParticleSpec",
    "ParticleView",
    "RecordResult",
    "SpecSummary",
    "StateStore",
    "StoreError",
    "StoredSpec",
]
