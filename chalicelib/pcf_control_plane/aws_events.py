"""EventBridge events the control plane accepts, parsed and checked before anything is read or written.

An event is *refused* when its source, detail-type or account is not what this deployment listens to, or
when it is malformed (a field of the envelope missing or of another type than AWS sends, a detail without what
its detail-type needs): a forged or misrouted event never touches the store. Events are parsed into models:
the envelope (``AwsEvent``), then the accepted event with a typed detail, discriminated by ``detail-type``
(``InstanceStateEvent``, ``VolumeEvent``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

EC2_SOURCE = "aws.ec2"
INSTANCE_STATE_CHANGE = "EC2 Instance State-change Notification"
VOLUME_NOTIFICATION = "EBS Volume Notification"
SCHEDULE_SOURCE = "aws.events"
SCHEDULED_EVENT = "Scheduled Event"

VOLUME_EVENTS: dict[tuple[str, str], str | None] = {
    ("createVolume", "available"): "available",
    ("createVolume", "failed"): "deleted",  # not created (an unusable KMS key): there is no volume
    ("deleteVolume", "deleted"): "deleted",
    ("attachVolume", "failed"): None,  # the volume exists and stays as it was
    ("reattachVolume", "failed"): None,
    ("modifyVolume", "modifying"): None,
    ("modifyVolume", "optimizing"): None,
    ("modifyVolume", "completed"): None,
    ("modifyVolume", "failed"): None,
    ("initializeVolume", "succeeded"): None,
}
"""``(detail.event, detail.result)`` of every "EBS Volume Notification" AWS documents (Amazon EBS User Guide,
"Amazon EventBridge events for Amazon EBS": https://docs.aws.amazon.com/ebs/latest/userguide/ebs-cloud-watch-events.html)
-> the volume status it leaves (the flavor's ``state_lookup`` key), or ``None`` when the volume's state does not
change. AWS sends ``deleteVolume`` only once deleted, ``attachVolume``/``reattachVolume`` only when they fail, and
no ``detachVolume`` notification (a detach is seen only through CloudTrail). Any other pair is refused."""


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


class InstanceStateChange(BaseModel):
    """``detail`` of an EC2 instance state-change notification."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", strict=True, frozen=True)

    instance_id: str = Field(alias="instance-id", pattern=r"^i-[0-9a-f]+$")
    state: Literal["pending", "running", "shutting-down", "terminated", "stopping", "stopped"]


class VolumeNotification(BaseModel):
    """``detail`` of an EBS volume notification (``cause`` and ``request-id`` are not read)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    event: str = Field(min_length=1)
    result: str = Field(min_length=1)


class InstanceStateEvent(AwsEvent):
    detail_type: Literal["EC2 Instance State-change Notification"] = Field(alias="detail-type")
    detail: InstanceStateChange  # type: ignore[assignment]  # pydantic: a subclass narrows the envelope's detail

    def resource_state(self) -> tuple[str, str | None]:
        """``(instance id, instance state)``."""
        return self.detail.instance_id, self.detail.state


class VolumeEvent(AwsEvent):
    detail_type: Literal["EBS Volume Notification"] = Field(alias="detail-type")
    detail: VolumeNotification  # type: ignore[assignment]  # pydantic: a subclass narrows the envelope's detail

    def resource_state(self) -> tuple[str, str | None]:
        """``(volume id, volume status)``: the one volume named in ``resources`` (a KMS key may be named beside
        it), the status the notification leaves, ``None`` when it leaves the volume as it was."""
        volumes = [arn.rsplit("/", 1)[-1] for arn in self.resources if ":volume/" in arn]
        if len(volumes) != 1:
            raise RefusedEvent(f"an EBS volume notification names one volume in resources, not {self.resources}")
        key = (self.detail.event.strip(), self.detail.result)
        if key not in VOLUME_EVENTS:
            raise RefusedEvent(f"EBS notification {key[0]!r} with result {key[1]!r} is not one AWS documents")
        return volumes[0], VOLUME_EVENTS[key]


Ec2Event = Annotated[InstanceStateEvent | VolumeEvent, Field(discriminator="detail_type")]
"""An accepted EC2 event, its ``detail`` typed by its ``detail-type``."""
_EC2_EVENT: TypeAdapter[InstanceStateEvent | VolumeEvent] = TypeAdapter(Ec2Event)


def parse_event(raw: Any, *, account: str, accepted: dict[str, set[str]]) -> InstanceStateEvent | VolumeEvent:
    """``raw`` as a typed event, if its envelope is well formed, its source and detail-type are in ``accepted``,
    its account is ``account``, and its detail has what its detail-type needs; ``RefusedEvent`` saying why
    otherwise (never another exception)."""
    if not isinstance(raw, dict):
        raise RefusedEvent(f"malformed event: a JSON object is expected, not {type(raw).__name__}")
    envelope = _validated(AwsEvent, raw, "event")
    if envelope.source not in accepted:
        raise RefusedEvent(f"source {envelope.source!r} is not one of {sorted(accepted)}")
    if envelope.detail_type not in accepted[envelope.source]:
        raise RefusedEvent(f"detail-type {envelope.detail_type!r} is not accepted from {envelope.source}")
    if account and envelope.account != account:
        raise RefusedEvent(f"account {envelope.account} is not this deployment's account {account}")
    return _validated(_EC2_EVENT, raw, "detail")


def _validated(model: Any, raw: dict[str, Any], what: str) -> Any:
    """``raw`` validated by ``model`` (a model class or a ``TypeAdapter``), else ``RefusedEvent`` naming the first
    wrong field and why."""
    try:
        return model.validate_python(raw) if isinstance(model, TypeAdapter) else model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        loc = [str(part) for part in first["loc"]]
        if loc and loc[0] == raw.get("detail-type"):
            loc = loc[1:]  # the union's tag: the detail-type, already checked
        raise RefusedEvent(f"malformed {what}: {'.'.join(loc) or what}: {first['msg']}") from None


def reconcile_request(account: str, region: str, *, act: bool = True, now: datetime | None = None) -> dict[str, Any]:
    """The event EventBridge's schedule sends the ``reconcile`` Lambda, for invoking it on demand (``act``
    false: a dry run that records nothing and starts nothing)."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": SCHEDULED_EVENT, "source": SCHEDULE_SOURCE,
            "account": account, "time": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region, "resources": [], "detail": {} if act else {"act": False}}
