"""Every Task of every state machine retries the throttles of the call Step Functions makes for it, a bounded number
of times: Step Functions itself does not retry its calls (``state_machines/README.md``, "Retries")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from deploy.build_merge_template import MACHINES, definition

INTERPRETER_ATTEMPTS = 10
"""Attempts of a call Step Functions makes (a Lambda invoke, ``startExecution``, an ``aws-sdk`` call): at a 30 %
throttle all of them fail with probability 0.3**10 = 5.9e-6."""
BACKOFF = {"IntervalSeconds": 1, "BackoffRate": 2.0, "MaxDelaySeconds": 30, "JitterStrategy": "FULL"}
THROTTLES = {
    "lambda": "Lambda.TooManyRequestsException",
    "startExecution": "StepFunctions.ThrottlingException",
    "dynamodb": "DynamoDb.ThrottlingException",
}
APP_THROTTLE = "ThrottlingError"
"""What a handler raises once its client's own retries (botocore standard mode, 8 attempts) are spent."""


def tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from tasks(state[key]["States"])


def integration(resource: str) -> str:
    """Which call Step Functions makes for a Task of ``resource``."""
    if resource.startswith("arn:aws:states:::states:startExecution"):
        return "startExecution"
    if resource.startswith("arn:aws:states:::aws-sdk:dynamodb:"):
        return "dynamodb"
    assert resource.startswith("${") and resource.endswith("Arn}"), f"unexpected resource {resource}"
    return "lambda"


def retrier(state: dict[str, Any], error: str) -> dict[str, Any] | None:
    """The first retrier matching ``error`` (the one Step Functions uses)."""
    return next((r for r in state.get("Retry", []) if error in r["ErrorEquals"] or "States.ALL" in r["ErrorEquals"]),
                None)


@pytest.mark.parametrize("key", list(MACHINES))
def test_every_task_retries_its_integrations_throttle_ten_times_with_capped_backoff(key: str) -> None:
    found = list(tasks(definition(key)["States"]))
    assert found
    for name, state in found:
        kind = integration(state["Resource"])
        retry = retrier(state, THROTTLES[kind])
        assert retry is not None, f"{key}/{name} does not retry {THROTTLES[kind]}"
        assert retry["MaxAttempts"] == INTERPRETER_ATTEMPTS, f"{key}/{name}: {retry}"
        assert {k: retry.get(k) for k in BACKOFF} == BACKOFF, f"{key}/{name}: {retry}"
        if kind == "lambda":
            app = retrier(state, APP_THROTTLE)
            assert app is not None and 1 <= app["MaxAttempts"] <= INTERPRETER_ATTEMPTS, f"{key}/{name}: {app}"

