"""A fake Step Functions client serving hand-written histories, paged as AWS pages them (or, like moto, not
at all), and builders of the events the ``apply`` and ``particle`` machines record."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_NOW = [1_800_000_000.0]
PARENT = "arn:aws:states:us-east-1:123456789012:execution:pcf-serverless-dev-apply:run-1"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:pcf-serverless-dev-apply"


def child_arn(name: str) -> str:
    return f"arn:aws:states:us-east-1:123456789012:execution:pcf-serverless-dev-particle:{name}"


@dataclass
class History:
    """One execution's events, appended with ids and ``previousEventId`` as Step Functions records them; every
    history's events are stamped on one clock, a tenth of a second apart, in the order they are added."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, previous: int | None = None, at: float | None = None, **details: Any) -> int:
        _NOW[0] = at if at is not None else _NOW[0] + 0.1
        event_id = len(self.events) + 1
        previous_id = self.events[-1]["id"] if previous is None and self.events else (previous or 0)
        self.events.append({"id": event_id, "previousEventId": previous_id, "type": kind,
                            "timestamp": datetime.fromtimestamp(_NOW[0], UTC), **details})
        return event_id

    def task(self, state: str, output: dict[str, Any], at: float | None = None) -> None:
        """A Lambda task state: entered, scheduled, started, succeeded (with ``output``), exited."""
        entered = self.add("TaskStateEntered", at=at, stateEnteredEventDetails={"name": state, "input": "{}"})
        scheduled = self.add("LambdaFunctionScheduled", entered,
                             lambdaFunctionScheduledEventDetails={"resource": "arn:aws:lambda:fn-Generated-X1"})
        started = self.add("LambdaFunctionStarted", scheduled)
        done = self.add("LambdaFunctionSucceeded", started,
                        lambdaFunctionSucceededEventDetails={"output": json.dumps(output)})
        self.add("TaskStateExited", done, stateExitedEventDetails={"name": state, "output": "{}"})

    def started(self, input: dict[str, Any]) -> None:
        self.add("ExecutionStarted", executionStartedEventDetails={"input": json.dumps(input)})

    def submitted(self, arn: str) -> None:
        entered = self.add("TaskStateEntered", stateEnteredEventDetails={"name": "RunParticle", "input": "{}"})
        self.add("TaskSubmitted", entered, taskSubmittedEventDetails={
            "resourceType": "states", "resource": "startExecution.sync:2",
            "output": json.dumps({"ExecutionArn": arn, "StartDate": "2027-01-15T08:00:00Z"})})

    def level(self, pcf_ids: list[str]) -> None:
        self.add("MapStateEntered", stateEnteredEventDetails={"name": "Particles",
                                                              "input": json.dumps({"pcf_ids": pcf_ids})})

    def succeeded(self, output: dict[str, Any]) -> None:
        self.add("ExecutionSucceeded", executionSucceededEventDetails={"output": json.dumps(output)})

    def failed(self, error: str, cause: str) -> None:
        self.add("ExecutionFailed", executionFailedEventDetails={"error": error, "cause": cause})


@dataclass
class FakeStepFunctions:
    """``get_execution_history`` and ``describe_execution`` over ``histories``; ``paged`` answers as AWS does
    (``reverseOrder``, ``maxResults``, ``nextToken``), otherwise the whole history oldest first, as moto does."""

    histories: dict[str, History] = field(default_factory=dict)
    descriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    paged: bool = True
    calls: list[tuple[str, str | None]] = field(default_factory=list)

    def get_execution_history(self, executionArn: str, reverseOrder: bool = False, maxResults: int = 100,
                              nextToken: str | None = None, **_: Any) -> dict[str, Any]:
        self.calls.append((executionArn, nextToken))
        events = list(self.histories[executionArn].events)
        if not self.paged:
            return {"events": events}
        ordered = events[::-1] if reverseOrder else events
        start = int(nextToken or 0)
        page = ordered[start:start + maxResults]
        answer: dict[str, Any] = {"events": page}
        if start + maxResults < len(ordered):
            answer["nextToken"] = str(start + maxResults)
        return answer

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return self.descriptions[executionArn]


def sync(pcf_id: str, state: str, action: str, reason: str, resource_id: str | None = None) -> dict[str, Any]:
    """A ``sync_state`` answer."""
    return {"pcf_id": pcf_id, "state": state, "action": action, "reason": reason, "resource_id": resource_id}
