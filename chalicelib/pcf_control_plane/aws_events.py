"""EventBridge events the control plane accepts, parsed and checked before anything is read or written.

An event is *refused* when its source, detail-type or account is not what this deployment listens to, or
when it is malformed (a field of the envelope missing or of another type than AWS sends, a detail without what
its detail-type needs): a forged or misrouted event never touches the store. Events are parsed into models:
the envelope (``AwsEvent``), then the accepted event with a typed detail, discriminated by ``detail-type``. The
accepted events and their models are those the flavors' resource tables declare (``RESOURCE_TABLE.events``).
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from pcf.core.resource_table import EventKind, resource_tables
from pcf.util.aws.events import AwsEvent, RefusedEvent

__all__ = ["AwsEvent", "RefusedEvent", "accepted_events", "parse_event", "reconcile_request"]

SCHEDULE_SOURCE = "aws.events"
SCHEDULED_EVENT = "Scheduled Event"


@functools.cache
def event_kinds() -> tuple[EventKind, ...]:
    """Every event a flavor's table declares, once each. Read once per process, not per event: a deployment's
    flavors, like its event rule, are fixed when it is deployed."""
    kinds = {(kind.source, kind.detail_type): kind for table in resource_tables().values() for kind in table.events}
    return tuple(kinds.values())


def accepted_events() -> dict[str, set[str]]:
    """Source -> the detail-types of it the control plane accepts (the flavors' events)."""
    accepted: dict[str, set[str]] = {}
    for kind in event_kinds():
        accepted.setdefault(kind.source, set()).add(kind.detail_type)
    return accepted


@functools.cache
def _typed_events() -> TypeAdapter[Any]:
    """The flavors' event models, one discriminated union by ``detail-type``."""
    models = tuple(kind.model for kind in event_kinds())
    union: Any = Annotated[Union[models], Field(discriminator="detail_type")]  # noqa: UP007  # built at run time
    return TypeAdapter(union)


def parse_event(raw: Any, *, account: str, accepted: dict[str, set[str]] | None = None) -> AwsEvent:
    """``raw`` as a typed event, if its envelope is well formed, its source and detail-type are in ``accepted``
    (by default :func:`accepted_events`),
    its account is ``account``, and its detail has what its detail-type needs; ``RefusedEvent`` saying why
    otherwise (never another exception)."""
    if not isinstance(raw, dict):
        raise RefusedEvent(f"malformed event: a JSON object is expected, not {type(raw).__name__}")
    envelope = _validated(AwsEvent, raw, "event")
    accepted = accepted_events() if accepted is None else accepted
    if envelope.source not in accepted:
        raise RefusedEvent(f"source {envelope.source!r} is not one of {sorted(accepted)}")
    if envelope.detail_type not in accepted[envelope.source]:
        raise RefusedEvent(f"detail-type {envelope.detail_type!r} is not accepted from {envelope.source}")
    if account and envelope.account != account:
        raise RefusedEvent(f"account {envelope.account} is not this deployment's account {account}")
    typed: AwsEvent = _validated(_typed_events(), raw, "detail")
    return typed


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
