"""EventBridge rules deliver to Lambda functions and Step Functions state machines, and log every delivery.

moto's ``Rule.send_to_targets`` matches the pattern and delivers to SQS, CloudWatch Logs, archives, other
buses and API destinations; a Lambda or Step Functions target raises ``NotImplementedError``. The patched
method keeps moto's delivery for every target type moto supports and adds, as EventBridge does:

- a Lambda function ARN: the function is invoked asynchronously with the event as payload, with Lambda's
  retries and on-failure destination (``async_invocations``), its handler run in-process (``lambda_dispatch``);
- a state machine ARN: an execution starts, named by a fresh uuid, with the event as input;
- ``Input`` (constant JSON), ``InputPath`` (a JSONPath into the event) or ``InputTransformer`` (moto's
  template parser) choose the payload; otherwise the target gets the whole event.

It also skips what EventBridge skips and moto does not: disabled rules, and rules with only a
``ScheduleExpression`` (they match no event; ``schedules`` fires them).

A failing target (the handler raised, the function or machine does not exist, a target type moto cannot
deliver to) never raises into the code that put the event (on AWS delivery is asynchronous): it is recorded
in the :class:`DeliveryLog`, like every delivery.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from moto.events.models import Rule
from moto.events.utils import EventTemplateParser
from moto.utilities.arns import parse_arn

from pcf_local_cloud.async_invocations import AsyncInvoker, default_sqs_client
from pcf_local_cloud.event_bus import aws_event
from pcf_local_cloud.patchset import PatchSet

DEFAULT_LOG_SIZE = 10_000


@dataclass(frozen=True)
class Delivery:
    """One event given to one target of one rule."""

    event_id: str
    detail_type: str
    rule_arn: str
    target_id: str
    target_arn: str
    ok: bool
    error: str | None = None
    result: str | None = None
    """What the target made of it, when there is something to name: a started execution's ARN."""


class DeliveryLog:
    """The most recent deliveries (``maxlen``), plus counts of every delivery since the start. Thread-safe."""

    def __init__(self, maxlen: int = DEFAULT_LOG_SIZE) -> None:
        self._records: deque[Delivery] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0

    def record(self, delivery: Delivery) -> None:
        with self._lock:
            self._records.append(delivery)
            if delivery.ok:
                self.delivered += 1
            else:
                self.failed += 1

    def records(self) -> list[Delivery]:
        """The kept deliveries, oldest first."""
        with self._lock:
            return list(self._records)

    def failures(self) -> list[Delivery]:
        """The kept deliveries that failed, oldest first."""
        return [delivery for delivery in self.records() if not delivery.ok]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self.delivered = self.failed = 0


def listens(rule: Rule, event: Mapping[str, Any]) -> bool:
    """Whether EventBridge offers ``event`` to ``rule``: enabled, with a pattern, and the pattern matches."""
    if str(rule.state).upper() == "DISABLED" or rule.event_pattern.dump() is None:
        return False
    return bool(rule.event_pattern.matches_event(event))  # type: ignore[arg-type]


class EventBridgeTargets:
    """The patch of ``Rule.send_to_targets`` and the deliveries it makes."""

    def __init__(self, log: DeliveryLog | None = None, invoker: AsyncInvoker | None = None) -> None:
        self.log = log if log is not None else DeliveryLog()
        self.invoker = invoker if invoker is not None else AsyncInvoker(time.time, default_sqs_client)
        self._moto_send: Callable[..., None] | None = None

    def install(self, patches: PatchSet) -> None:
        """Replace ``Rule.send_to_targets``; undone by ``patches.restore()``."""
        self._moto_send = vars(Rule)["send_to_targets"]
        targets = self

        def send_to_targets(rule: Rule, original_event: Any, transform_input: bool = True) -> None:
            if listens(rule, original_event):
                targets.deliver(rule, original_event, transform_input)

        send_to_targets.__doc__ = self._moto_send.__doc__
        patches.replace(Rule, "send_to_targets", send_to_targets)

    def deliver(self, rule: Rule, event: Mapping[str, Any], transform_input: bool = True) -> None:
        """Give ``event`` (moto's shape) to each target of ``rule``, whatever its pattern; failures are logged."""
        for target in list(rule.targets):
            self._deliver_one(rule, dict(target), event, transform_input)

    def _deliver_one(self, rule: Rule, target: dict[str, Any], event: Mapping[str, Any], transform_input: bool) -> None:
        arn = str(target.get("Arn", ""))
        result: str | None = None
        try:
            service = parse_arn(arn).service
            if service == "lambda":
                self.invoker.invoke(arn, _payload(target, event, transform_input))
            elif service == "states":
                result = _start_execution(arn, _payload(target, event, transform_input))
            else:
                self._send_with_moto(rule, target, event, transform_input)
        except Exception as error:
            self._record(rule, target, event, ok=False, error=f"{type(error).__name__}: {error}")
        else:
            self._record(rule, target, event, ok=True, result=result)

    def _send_with_moto(
        self, rule: Rule, target: dict[str, Any], event: Mapping[str, Any], transform_input: bool
    ) -> None:
        if self._moto_send is None:
            raise RuntimeError("the EventBridge target patch is not installed")
        self._moto_send(_OneTarget(rule, target), copy.deepcopy(dict(event)), transform_input)

    def _record(self, rule: Rule, target: dict[str, Any], event: Mapping[str, Any], **outcome: Any) -> None:
        self.log.record(
            Delivery(
                event_id=str(event.get("id", "")),
                detail_type=str(event.get("detail-type", "")),
                rule_arn=rule.arn,
                target_id=str(target.get("Id", "")),
                target_arn=str(target.get("Arn", "")),
                **outcome,
            )
        )


class _OneTarget:
    """A rule seen with one of its targets only (a copy of a moto model would be tracked by moto)."""

    def __init__(self, rule: Rule, target: dict[str, Any]) -> None:
        self._rule = rule
        self.targets = [target]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rule, name)


def _payload(target: Mapping[str, Any], event: Mapping[str, Any], transform_input: bool) -> Any:
    """What the target receives: ``Input``, ``InputPath``, ``InputTransformer`` or the whole event."""
    shaped = aws_event(event)
    if not transform_input:
        return shaped
    if target.get("Input") is not None:
        return json.loads(target["Input"])
    if target.get("InputPath"):
        from jsonpath_ng.ext import parse  # moto's own dependency for InputTransformer

        matches = parse(target["InputPath"]).find(shaped)  # type: ignore[no-untyped-call]
        return matches[0].value if matches else None
    transformer = target.get("InputTransformer")
    if transformer:
        with_ingestion = {**shaped, "ingestion-time": event.get("ingestion-time", 0)}
        return EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=with_ingestion,  # type: ignore[arg-type]
        )
    return shaped


def _start_execution(state_machine_arn: str, payload: Any) -> str:
    """Start an execution named by a fresh uuid; its ARN."""
    from moto.stepfunctions.responses import get_backend

    arn = parse_arn(state_machine_arn)
    execution = get_backend(arn.account, arn.region).start_execution(
        state_machine_arn, name=str(uuid.uuid4()), execution_input=json.dumps(payload)
    )
    return str(execution.execution_arn)
