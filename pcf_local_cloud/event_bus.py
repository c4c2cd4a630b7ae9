"""Events that AWS services put on an account's default EventBridge bus, built and matched as AWS does.

An event is built when the change happens (its ``id`` and ``time``, from the local cloud's clock) and
posted to the emitting thread's outbox; delivering it offers it to every rule of the default bus of its
account and region (moto's ``Rule.send_to_targets``: pattern matching, then the targets).

Inside, events have moto's shape: ``time`` and ``ingestion-time`` are Unix seconds (moto's SQS and
CloudWatch Logs targets convert them). :func:`aws_event` gives what a target receives on AWS.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from moto.events.models import events_backends

from pcf_local_cloud.state import EmulationState

DEFAULT_BUS = "default"
_AWS_KEYS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")


def iso_time(unix_seconds: float) -> str:
    """``2026-11-22T00:00:00Z``: how EventBridge writes an event's ``time``."""
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(
    *,
    account: str,
    region: str,
    source: str,
    detail_type: str,
    detail: Mapping[str, Any],
    resources: Sequence[str],
    time: float,
) -> dict[str, Any]:
    """An event as moto keeps it (``time`` in Unix seconds), with a fresh id."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": time,
        "region": region,
        "resources": list(resources),
        "detail": dict(detail),
        "ingestion-time": time,
    }


def aws_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as EventBridge hands it to a target: ISO ``time``, no ``ingestion-time``."""
    shaped = {key: copy.deepcopy(event[key]) for key in _AWS_KEYS if key in event}
    if isinstance(shaped.get("time"), (int, float)):
        shaped["time"] = iso_time(float(shaped["time"]))
    if "replay-name" in event:
        shaped["replay-name"] = event["replay-name"]
    return shaped


def offer_to_default_bus(event: Mapping[str, Any]) -> int:
    """Give ``event`` to every rule of its account's and region's default bus; the number of rules offered.

    A region whose EventBridge was never used has no rules: nothing is created for it.
    """
    backend = _existing_backend(str(event["account"]), str(event["region"]))
    bus = backend.event_buses.get(DEFAULT_BUS) if backend is not None else None
    if bus is None:
        return 0
    rules = list(bus.rules.values())
    for rule in rules:
        rule.send_to_targets(copy.deepcopy(event))
    return len(rules)


def _existing_backend(account: str, region: str) -> Any:
    accounts = dict.get(events_backends, account)
    return None if accounts is None else dict.get(accounts, region)


class EventPublisher:
    """Puts AWS service events on default buses, through the emitting thread's outbox."""

    def __init__(self, state: EmulationState) -> None:
        self._state = state

    def publish(
        self,
        *,
        account: str,
        region: str,
        source: str,
        detail_type: str,
        detail: Mapping[str, Any],
        resources: Sequence[str],
    ) -> dict[str, Any]:
        """Build the event now (time from the cloud's clock) and post its delivery; returns the event."""
        event = envelope(
            account=account,
            region=region,
            source=source,
            detail_type=detail_type,
            detail=detail,
            resources=resources,
            time=self._state.wall_time(),
        )
        self._state.outbox.post(lambda: offer_to_default_bus(event))
        return event
