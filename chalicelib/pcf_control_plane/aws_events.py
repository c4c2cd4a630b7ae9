"""EventBridge events the control plane accepts, parsed and checked before anything is read or written.

An event is *refused* when its source, detail-type or account is not what this deployment listens to, or
when it is malformed: a forged or misrouted event never touches the store.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

EC2_SOURCE = "aws.ec2"
INSTANCE_STATE_CHANGE = "EC2 Instance State-change Notification"
VOLUME_NOTIFICATION = "EBS Volume Notification"
SCHEDULE_SOURCE = "aws.events"
SCHEDULED_EVENT = "Scheduled Event"

VOLUME_RESULT_STATUS = {
    "available": "available",
    "attached": "in-use",
    "detached": "available",
    "deleted": "deleted",
    "failed": "deleted",
}
"""``detail.result`` of an EBS volume notification -> the volume status it leaves (the flavor's
``state_lookup`` key)."""


class RefusedEvent(ValueError):
    """The event is not one this deployment accepts; the message says why."""


class AwsEvent(BaseModel):
    """The EventBridge envelope."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str = Field(min_length=1)
    source: str
    detail_type: str = Field(alias="detail-type")
    account: str
    time: datetime
    region: str
    resources: list[str] = Field(default_factory=list)
    detail: dict[str, Any] = Field(default_factory=dict)


class InstanceStateChange(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    instance_id: str = Field(alias="instance-id", pattern=r"^i-[0-9a-f]+$")
    state: str = Field(min_length=1)


class VolumeNotification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event: str
    result: str


def parse_event(raw: Any, *, account: str, accepted: dict[str, set[str]]) -> AwsEvent:
    """The envelope of ``raw`` if its source and detail-type are in ``accepted`` and its account is ``account``."""
    try:
        event = AwsEvent.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        raise RefusedEvent(f"malformed event: {'.'.join(map(str, first['loc'])) or 'event'}: {first['msg']}") from None
    if event.source not in accepted:
        raise RefusedEvent(f"source {event.source!r} is not one of {sorted(accepted)}")
    if event.detail_type not in accepted[event.source]:
        raise RefusedEvent(f"detail-type {event.detail_type!r} is not accepted from {event.source}")
    if account and event.account != account:
        raise RefusedEvent(f"account {event.account} is not this deployment's account {account}")
    return event


def instance_change(event: AwsEvent) -> InstanceStateChange:
    try:
        return InstanceStateChange.model_validate(event.detail)
    except ValidationError as error:
        raise RefusedEvent(f"malformed detail: {error.errors()[0]['loc'][0]}: {error.errors()[0]['msg']}") from None


def volume_change(event: AwsEvent) -> tuple[str, str]:
    """``(volume id, volume status)`` of an EBS volume notification."""
    try:
        detail = VolumeNotification.model_validate(event.detail)
    except ValidationError as error:
        raise RefusedEvent(f"malformed detail: {error.errors()[0]['loc'][0]}: {error.errors()[0]['msg']}") from None
    volumes = [arn.rsplit("/", 1)[-1] for arn in event.resources if ":volume/" in arn]
    if len(volumes) != 1:
        raise RefusedEvent(f"an EBS volume notification names one volume in resources, not {event.resources}")
    status = VOLUME_RESULT_STATUS.get(detail.result)
    if status is None:
        raise RefusedEvent(f"unknown EBS notification result {detail.result!r}")
    return volumes[0], status


def reconcile_request(account: str, region: str, *, act: bool = True, now: datetime | None = None) -> dict[str, Any]:
    """The event EventBridge's schedule sends the ``reconcile`` Lambda, for invoking it on demand (``act``
    false: a dry run that records nothing and starts nothing)."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": SCHEDULED_EVENT, "source": SCHEDULE_SOURCE,
            "account": account, "time": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region, "resources": [], "detail": {} if act else {"act": False}}
