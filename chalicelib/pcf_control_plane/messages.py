"""Inputs and outputs of the control-plane steps: small, JSON-safe, carrying pcf_ids, never definitions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DesiredState = Literal["running", "stopped", "terminated"]
ActionName = Literal["done", "wait", "start", "stop", "terminate", "update"]
TransitionName = Literal["start", "stop", "terminate", "update"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanInput(_Message):
    """A definition (a particle or quasiparticle) and the state to bring it to (its own when omitted)."""

    definition: dict[str, Any]
    desired_state: DesiredState | None = None
    execution: str = Field(default="manual", description="the cause recorded in history (execution ARN)")


class PlannedPhase(_Message):
    """``stop`` (children first) or ``start`` (parents first), and its levels of pcf_ids in order."""

    phase: Literal["stop", "start"]
    levels: list[list[str]]


class PlanOutput(_Message):
    pcf_id: str
    particles: int
    phases: list[PlannedPhase]
    generations: dict[str, int]


class ParticleStep(_Message):
    """One particle of an execution."""

    pcf_id: str = Field(pattern=r"^[^:]+:.+$")
    execution: str = "manual"


class SyncOutput(_Message):
    """What was observed and the decision function's answer."""

    pcf_id: str
    state: Literal["running", "stopped", "terminated", "pending"]
    action: ActionName
    reason: str
    resource_id: str | None = None


class TransitionInput(ParticleStep):
    action: TransitionName


class TransitionOutput(_Message):
    pcf_id: str
    action: TransitionName
    generation: int


class LeaseInput(ParticleStep):
    ttl_seconds: float = Field(default=900, gt=0, le=86_400)


class LeaseOutput(_Message):
    pcf_id: str
    owner: str
    held: bool
