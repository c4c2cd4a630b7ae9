"""The EventBridge envelope every AWS event arrives in, checked as AWS sends it (nothing coerced).

Each flavor's own events (``RESOURCE_TABLE.events``) subclass :class:`AwsEvent` with a typed ``detail``; the
control plane accepts only those (``pcf_control_plane.aws_events``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class RefusedEvent(ValueError):
    """The event is not one this deployment accepts; the message says why."""


def _iso_time(value: Any) -> datetime:
    """EventBridge's ``time``: ISO 8601 text with a zone (``2024-05-01T12:00:00Z``); nothing else."""
    if not isinstance(value, str):
        raise ValueError(f"must be ISO 8601 text, not {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed


EventTime = Annotated[datetime, BeforeValidator(_iso_time)]


class AwsEvent(BaseModel):
    """The EventBridge envelope: every field AWS always sends, of the type it sends (nothing coerced)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", strict=True, frozen=True)

    version: str = Field(min_length=1)
    id: str = Field(min_length=1)
    detail_type: str = Field(alias="detail-type", min_length=1)
    source: str = Field(min_length=1)
    account: str = Field(pattern=r"^\d{12}$")
    time: EventTime
    region: str = Field(min_length=1)
    resources: list[str]
    detail: dict[str, Any]

    def resource_state(self) -> tuple[str, str | None]:
        """``(resource id, status)`` of the resource the event is about; ``None`` when it leaves the status as it
        was. Each flavor's event model says how; the bare envelope names no resource."""
        raise RefusedEvent(f"{self.detail_type!r} names no resource a flavor manages")
