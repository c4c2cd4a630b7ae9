"""The EC2 service's events about the resources of its flavors: instance state changes (``ec2_instance``) and
EBS volume notifications (``ebs_volume``), each parsed into ``(resource id, status)``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pcf.util.aws.events import AwsEvent, RefusedEvent

EC2_SOURCE = "aws.ec2"
INSTANCE_STATE_CHANGE = "EC2 Instance State-change Notification"
VOLUME_NOTIFICATION = "EBS Volume Notification"

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
