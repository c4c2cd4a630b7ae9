"""The records the state store holds: desired specs, observations, leases and history items.

Times are epoch seconds (``float``, UTC) everywhere. ``Observation.observed_at`` also accepts a
timezone-aware ``datetime`` or an ISO-8601 string with an offset (``...Z``), converted on validation.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pcf.core import State
from pcf.core.graph import DependencyGraph

DesiredState = Literal["running", "stopped", "terminated"]
ObservedState = Literal["running", "stopped", "terminated", "pending"]
PENDING: ObservedState = "pending"
"""The observed state of a resource in a transition (whatever its own status calls it)."""
DriftPolicy = Literal["revert", "report"]


def observed_name(state: State) -> ObservedState:
    """A ``State``'s name as the store spells an observed state."""
    return cast(ObservedState, state.name)


def desired_name(state: State | None) -> DesiredState:
    """A desired ``State``'s name as the store spells it; ``ValueError`` for none or ``pending`` (never desired)."""
    if state is None or state is State.pending:
        raise ValueError(f"{state} is not a desired state")
    return cast(DesiredState, state.name)

SNAPSHOT_MAX_BYTES = 8192
"""An observation snapshot larger than this (as compact JSON) is refused: snapshots keep only what matters."""

PCF_ID_PATTERN = r"^[^:]+:.+$"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParticleFlags(_Record):
    """Protection and healing flags of a particle.

    ``rolled_back_by``: the execution whose rollback left the particle out of its desired state (it failed, or
    was never reached); no heal or reconciliation starts, creates or updates it while it is set. A new plan
    writes its flags without it, which clears it.
    """

    persist_on_termination: bool = False
    persist_on_update: bool = False
    heal: bool = True
    drift: DriftPolicy = "revert"
    rolled_back_by: str | None = None


class ParticleSpec(_Record):
    """What a particle should be: its validated definition and desired state, as written by ``put_spec``."""

    pcf_id: str = Field(pattern=PCF_ID_PATTERN)
    definition: dict[str, Any]
    desired_state: DesiredState
    deployment: str = Field(min_length=1)
    quasiparticle: str | None = Field(default=None, pattern=PCF_ID_PATTERN)
    flags: ParticleFlags = ParticleFlags()
    exports: tuple[str, ...] = Field(
        default=(), description="key paths of its current state definition its children $inherit$: each "
                                "observation keeps their values, so children resolve them from the store")

    def content_hash(self) -> str:
        """A digest of everything that defines the spec: equal digests mean an identical put."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def summary(self) -> SpecSummary:
        """What an event about the particle needs of its spec."""
        return SpecSummary(flavor=str(self.definition.get("flavor", "")), desired_state=self.desired_state,
                           deployment=self.deployment, flags=self.flags)


class SpecSummary(_Record):
    """The part of a spec an event needs (is the resource managed here, which flavor maps its state, what
    should it be, may it be healed). The DynamoDB store keeps it on the observation item as well, so that one
    query of the resource index answers an event."""

    flavor: str
    desired_state: DesiredState
    deployment: str = Field(min_length=1)
    flags: ParticleFlags = ParticleFlags()


class StoredSpec(ParticleSpec):
    """A spec as stored: with its generation (bumped on every change) and the time of that change."""

    generation: int = Field(ge=1)
    updated_at: float

    def unstored(self) -> ParticleSpec:
        """The spec as a run's page holds it: without its generation and time."""
        return ParticleSpec.model_validate(self.model_dump(exclude={"generation", "updated_at"}))


class Observation(_Record):
    """The last state read back from the cloud, stamped with the observation's own time."""

    state: ObservedState
    observed_at: float = Field(ge=0)
    resource_id: str | None = Field(default=None, min_length=1)
    snapshot: dict[str, Any] = Field(default_factory=dict)
    cause: str

    @field_validator("observed_at", mode="before")
    @classmethod
    def _epoch_seconds(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("a datetime observed_at needs a timezone")
            return value.timestamp()
        return value

    @field_validator("observed_at")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("observed_at must be finite")
        return value

    @field_validator("snapshot")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(value, separators=(",", ":"), default=str))
        if size > SNAPSHOT_MAX_BYTES:
            raise ValueError(f"snapshot is {size} bytes; keep only the fields that matter (max {SNAPSHOT_MAX_BYTES})")
        return value


class ParticleRecord(_Record):
    """A particle's spec and last observation, read together (listing, ``get_many``)."""

    pcf_id: str
    spec: StoredSpec | None = None
    observation: Observation | None = None


class Wait(_Record):
    """An execution waiting for a particle's transition to end (any state but ``pending``; ``want`` is the
    desired state it converges it to): the Step Functions task ``token`` its ``Await`` task wrote on the
    observation item, with the execution (``owner``) and the spec ``generation`` it converges."""

    token: str = Field(min_length=1)
    want: ObservedState
    owner: str = Field(min_length=1)
    generation: int = Field(ge=1)


class ParticleView(_Record):
    """What a healing decision needs of a particle: its spec's summary, last observation, lease and wait.

    ``lease`` is the lease as read by whoever built the view; ``view_by_resource_id`` does not read it (an
    event's write checks it instead: ``record_observed(..., unless_leased=True)``). ``wait``: the wait armed on
    the particle, if any (``view_by_resource_id`` reads it with the observation)."""

    pcf_id: str
    spec: SpecSummary | None = None
    observation: Observation | None = None
    lease: Lease | None = None
    wait: Wait | None = None


class RecordResult(_Record):
    """What ``record_observed`` (or ``resolve_wait``) did: ``recorded``; ``stale`` (an observation as new or newer
    is stored); ``leased`` (asked to write only while no lease is held, and ``lease`` is held; for
    ``resolve_wait``: the lease is another execution's); or ``wait_changed`` (the write expected another wait
    than the stored one, which is ``wait``, ``None`` when none is armed). Only ``recorded`` wrote."""

    status: Literal["recorded", "stale", "leased", "wait_changed"]
    lease: Lease | None = None
    wait: Wait | None = None


class Lease(_Record):
    """Who may change a particle, and until when. ``acquired_at`` is the last acquire or renewal."""

    pcf_id: str
    owner: str
    acquired_at: float
    expires_at: float


class HistoryKind(StrEnum):
    """What a history item records."""

    plan = "plan"
    transition = "transition"
    observation = "observation"
    drift = "drift"
    heal = "heal"
    error = "error"
    lease = "lease"
    rollback = "rollback"


class HistoryItem(_Record):
    """One recorded event of a particle, with its cause (execution ARN, event id, schedule run, ...).

    ``item_id`` orders items: the time in milliseconds, then a tie-breaker, so items never collide.
    ``expires_at`` is set when the store keeps history for a limited time.
    """

    pcf_id: str
    item_id: str
    kind: HistoryKind
    at: float
    cause: str
    detail: dict[str, Any] = Field(default_factory=dict)
    expires_at: float | None = None


ParticleView.model_rebuild()


def spec_graph(specs: Mapping[str, StoredSpec]) -> DependencyGraph:
    """The dependency graph of stored specs by pcf_id: each spec's ``parents``, those among ``specs``."""
    return DependencyGraph.from_parents({pcf_id: spec.definition.get("parents") or []
                                         for pcf_id, spec in specs.items()})
