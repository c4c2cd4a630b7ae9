"""A fake Step Functions client serving hand-written histories, paged as AWS pages them (or, like moto, not
at all), and builders of the events the ``apply`` and ``page`` machines record.

The shapes are those of real histories of the local cloud (a ``pcf run`` of a pair, and of a pair whose child
times out and is rolled back): the parent's ``Plan`` output, its ``Pages`` Map entered with the level, its
``RunPage`` tasks submitted with the page execution's ARN, ``RollingBack``; a page's ``Converge`` visits and
``RecordFailure``, each a Lambda task whose ``LambdaFunctionSucceeded`` follows its ``TaskStateEntered`` through
``previousEventId``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_NOW = [1_800_000_000.0]
PARENT = "arn:aws:states:us-east-1:123456789012:execution:pcf-serverless-dev-apply:run-1"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:pcf-serverless-dev-apply"
PAGE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:pcf-serverless-dev-page"


def child_arn(name: str) -> str:
    """A page execution's ARN (the parent names them with ``States.UUID()``)."""
    return f"arn:aws:states:us-east-1:123456789012:execution:pcf-serverless-dev-page:{name}"


def page_input(phase: str, level: int, page: int, *, execution: str = PARENT, rollback: bool = False) -> dict[str, Any]:
    """What ``RunPage`` gives a page execution (levels and pages count from 0; a rollback's pages are in the run
    partition ``<execution>/rollback``)."""
    return {"run": f"{execution}/rollback" if rollback else execution, "execution": execution, "phase": phase,
            "level": level, "page": page, "settings": {"wait_seconds": 0, "max_polls": 120, "rollback": rollback,
                                                       "concurrency": 40},
            "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": execution}


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

    def plan(self, pcf_id: str, levels: list[dict[str, Any]]) -> None:
        """The parent's ``Plan``: the run's levels as page numbers, never particle ids."""
        self.task("Plan", {"pcf_id": pcf_id, "particles": sum(level["particles"] for level in levels),
                           "levels": levels, "unstored": [], "page_concurrency": 1,
                           "settings": {"wait_seconds": 0, "max_polls": 120, "rollback": False, "concurrency": 40}})

    def level(self, phase: str, level: int, particles: int, pages: int) -> None:
        """The parent's ``Pages`` Map entered for one level."""
        described = {"phase": phase, "level": level, "particles": particles, "pages": list(range(pages))}
        self.add("MapStateEntered", stateEnteredEventDetails={"name": "Pages", "input": json.dumps(
            {"level": described, "execution": PARENT, "run": PARENT, "page_concurrency": 1})})

    def submitted(self, arn: str) -> None:
        """The parent's ``RunPage`` started the page execution ``arn``."""
        entered = self.add("TaskStateEntered", stateEnteredEventDetails={"name": "RunPage", "input": "{}"})
        scheduled = self.add("TaskScheduled", entered, taskScheduledEventDetails={
            "resourceType": "states", "resource": "startExecution.sync:2", "region": "us-east-1",
            "parameters": json.dumps({"StateMachineArn": PAGE_MACHINE})})
        started = self.add("TaskStarted", scheduled, taskStartedEventDetails={
            "resourceType": "states", "resource": "startExecution.sync:2"})
        self.add("TaskSubmitted", started, taskSubmittedEventDetails={
            "resourceType": "states", "resource": "startExecution.sync:2",
            "output": json.dumps({"ExecutionArn": arn, "StartDate": "2027-01-15T08:00:00Z"})})

    def rolling_back(self) -> None:
        """The parent's ``RollingBack`` pass: the rollback's levels run next."""
        entered = self.add("PassStateEntered", stateEnteredEventDetails={"name": "RollingBack", "input": "{}"})
        self.add("PassStateExited", entered, stateExitedEventDetails={"name": "RollingBack", "output": "{}"})

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


def visit(pcf_id: str, action: str, reason: str, *, state: str | None = None, resource_id: str | None = None,
          acted: str | None = None, found: str | None = None, last_resource_id: str | None = None,
          lease_holder: str | None = None) -> dict[str, Any]:
    """A ``converge`` answer (``ConvergeOutput``). ``found`` (the state the visit found before it acted) and
    ``last_resource_id`` (the last resource id seen, kept once the resource is gone) are left out unless given:
    they are the two fields the follower asks ``ConvergeOutput`` for, and it works without them."""
    answer: dict[str, Any] = {"pcf_id": pcf_id, "action": action, "reason": reason, "generation": 1,
                              "acted": acted, "state": state, "resource_id": resource_id,
                              "lease_holder": lease_holder}
    if found is not None:
        answer["found"] = found
    if last_resource_id is not None:
        answer["last_resource_id"] = last_resource_id
    return answer
