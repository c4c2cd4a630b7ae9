"""The events EC2 sends to EventBridge: instance state changes and EBS volume notifications.

AWS puts them on the default bus of the resource's account and region:

- ``EC2 Instance State-change Notification``, detail ``{"instance-id", "state"}``, once per state an
  instance enters (``pending``, ``running``, ``stopping``, ``stopped``, ``shutting-down``, ``terminated``);
- ``EBS Volume Notification``, detail ``{"event", "result", "cause", "request-id"}``, when a volume is
  created (``createVolume``, ``available``) or deleted (``deleteVolume``, ``deleted``). AWS documents no
  notification of a successful attach or detach (``attachVolume``/``reattachVolume`` are sent only when they
  fail on a KMS key, a detach only through CloudTrail), so none is sent here.

moto sends none of them. The instance and volume patches call :class:`Ec2Events` at each real change.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from moto.utilities.utils import get_partition

from pcf_local_cloud.event_bus import EventPublisher

SOURCE = "aws.ec2"
INSTANCE_STATE_CHANGE = "EC2 Instance State-change Notification"
VOLUME_NOTIFICATION = "EBS Volume Notification"
VOLUME_RESULTS = {
    "createVolume": "available",
    "deleteVolume": "deleted",
}


def ec2_arn(region: str, account: str, resource: str) -> str:
    """``arn:aws:ec2:<region>:<account>:<resource>`` (``instance/i-…``, ``volume/vol-…``)."""
    return f"arn:{get_partition(region)}:ec2:{region}:{account}:{resource}"


class Ec2Events:
    """Builds EC2's events and publishes them (delivery follows the outbox's rules)."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    def instance_states(self, instance: Any, before: str | None, states: Iterable[str]) -> None:
        """Publish one event per state in ``states`` that differs from the one before it (from ``before``)."""
        previous = before
        for state in states:
            if state != previous:
                self.instance_state(instance, state)
                previous = state

    def instance_state(self, instance: Any, state: str) -> None:
        """Publish that ``instance`` (moto's model object) is now in ``state``."""
        account, region = _where(instance)
        self._publisher.publish(
            account=account,
            region=region,
            source=SOURCE,
            detail_type=INSTANCE_STATE_CHANGE,
            detail={"instance-id": instance.id, "state": state},
            resources=[ec2_arn(region, account, f"instance/{instance.id}")],
        )

    def volume(self, backend: Any, event: str, volume_id: str) -> None:
        """Publish an EBS volume notification (``event`` a key of :data:`VOLUME_RESULTS`) that succeeded, shaped
        as AWS documents it (the volume alone in ``resources``, the request's id in ``request-id``).

        ``backend`` is moto's EC2 backend of the volume.
        """
        account, region = backend.account_id, backend.region_name
        self._publisher.publish(
            account=account,
            region=region,
            source=SOURCE,
            detail_type=VOLUME_NOTIFICATION,
            detail={"event": event, "result": VOLUME_RESULTS[event], "cause": "", "request-id": str(uuid.uuid4())},
            resources=[ec2_arn(region, account, f"volume/{volume_id}")],
        )


def _where(model: Any) -> tuple[str, str]:
    backend = model.ec2_backend
    return backend.account_id, backend.region_name
