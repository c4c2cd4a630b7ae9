"""Callback tasks (``.waitForTaskToken``) in the local cloud: heartbeats and timeouts count on the cloud's clock,
a heartbeat expiry is ``States.HeartbeatTimeout`` (which ``States.Timeout`` also catches), and a closed task's
token is answered ``TaskTimedOut``."""

from __future__ import annotations

import json
import queue
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.deployment import ADMIN_POLICY, EMPTY_ZIP, _ensure_role
from tests.support.executions import finished

GENEROUS_S = 30.0
"""How long a test waits for the interpreter to reach a state (never a measure of anything)."""


class Tokens:
    """The Lambda handler the callback tasks invoke: it hands each task token to the test."""

    def __init__(self, cloud: LocalCloud) -> None:
        self._tokens: queue.Queue[str] = queue.Queue()
        self._waits = cloud.patches.callback_tasks.events

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self._tokens.put(event["token"])
        return {}

    def next(self) -> str:
        """The next task's token, once that task waits on the clock (so moving the clock now counts for it)."""
        token = self._tokens.get(timeout=GENEROUS_S)
        assert self._waits.wait_for_waits(1, GENEROUS_S), "the task never waited"
        return token


def waiting(name: str, nxt: str | None = None, **fields: Any) -> dict[str, Any]:
    """A callback Task that gives its token to the ``tokens`` function."""
    state: dict[str, Any] = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                             "Parameters": {"FunctionName": "tokens", "Payload": {"token.$": "$$.Task.Token"}},
                             "ResultPath": f"$.{name}", **fields}
    return {**state, "Next": nxt} if nxt else {**state, "End": True}


@pytest.fixture
def start(cloud: LocalCloud) -> Callable[[dict[str, Any]], tuple[Any, str]]:
    """Create a machine from ``states`` (starting at the first) and start it; ``(sfn client, execution ARN)``."""
    role = _ensure_role(cloud.client("iam"), "callbacks-role", ADMIN_POLICY)
    cloud.client("lambda").create_function(FunctionName="tokens", Runtime="python3.11", Role=role, Handler="app.h",
                                           Code={"ZipFile": EMPTY_ZIP})
    sfn = cloud.client("stepfunctions")
    made: list[str] = []

    def run(states: dict[str, Any]) -> tuple[Any, str]:
        definition = {"StartAt": next(iter(states)), "States": states}
        arn = sfn.create_state_machine(name=f"callbacks-{len(made)}", definition=json.dumps(definition),
                                       roleArn=role)["stateMachineArn"]
        made.append(arn)
        return sfn, sfn.start_execution(stateMachineArn=arn, name="run", input="{}")["executionArn"]

    return run


@pytest.fixture
def tokens(cloud: LocalCloud) -> Tokens:
    handler = Tokens(cloud)
    cloud.register_handler("tokens", handler)
    return handler


def caught_by(error_names: list[str]) -> dict[str, Any]:
    return {"Catch": [{"ErrorEquals": error_names, "ResultPath": "$.caught", "Next": "Caught"}]}


def outcome(sfn: Any, arn: str) -> dict[str, Any]:
    finished(sfn, arn)
    return dict(sfn.describe_execution(executionArn=arn))


def timed_out_errors(sfn: Any, arn: str) -> list[str]:
    events = sfn.get_execution_history(executionArn=arn)["events"]
    return [event["taskTimedOutEventDetails"]["error"] for event in events if event["type"] == "TaskTimedOut"]


def test_a_heartbeat_expires_on_the_clock_as_states_heartbeat_timeout(
    start: Any, tokens: Tokens, clock: VirtualClock
) -> None:
    sfn, arn = start({"Wait": waiting("answer", HeartbeatSeconds=60, **caught_by(["States.HeartbeatTimeout"])),
                      "Caught": {"Type": "Pass", "End": True}})
    token = tokens.next()
    clock.advance(59)
    sfn.send_task_heartbeat(taskToken=token)  # still open: accepted, and the heartbeat clock restarts
    clock.advance(59)
    sfn.send_task_heartbeat(taskToken=token)
    clock.advance(600)
    described = outcome(sfn, arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["caught"]["Error"] == "States.HeartbeatTimeout"
    assert timed_out_errors(sfn, arn) == ["States.HeartbeatTimeout"]


def test_states_timeout_also_catches_a_heartbeat_expiry(start: Any, tokens: Tokens, clock: VirtualClock) -> None:
    sfn, arn = start({"Wait": waiting("answer", HeartbeatSeconds=5, **caught_by(["States.Timeout"])),
                      "Caught": {"Type": "Pass", "End": True}})
    tokens.next()
    clock.advance(5)
    described = outcome(sfn, arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["caught"]["Error"] == "States.HeartbeatTimeout"


def test_states_task_failed_does_not_catch_a_heartbeat_expiry(start: Any, tokens: Tokens, clock: VirtualClock) -> None:
    sfn, arn = start({"Wait": waiting("answer", HeartbeatSeconds=5, **caught_by(["States.TaskFailed"])),
                      "Caught": {"Type": "Pass", "End": True}})
    tokens.next()
    clock.advance(5)
    described = outcome(sfn, arn)
    assert (described["status"], described.get("error")) == ("FAILED", "States.HeartbeatTimeout")


def test_timeout_seconds_of_a_callback_task_count_on_the_clock(start: Any, tokens: Tokens, clock: VirtualClock) -> None:
    sfn, arn = start({"Wait": waiting("answer", TimeoutSeconds=300, **caught_by(["States.HeartbeatTimeout"])),
                      "Caught": {"Type": "Pass", "End": True}})
    tokens.next()
    clock.advance(300)
    described = outcome(sfn, arn)
    assert (described["status"], described.get("error")) == ("FAILED", "States.Timeout")  # not a heartbeat's


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def every_answer(sfn: Any, token: str) -> list[str]:
    """The error code of each of the three calls that answer a task, given ``token``."""
    return [error_code(lambda: sfn.send_task_success(taskToken=token, output="{}")),
            error_code(lambda: sfn.send_task_failure(taskToken=token, error="Late")),
            error_code(lambda: sfn.send_task_heartbeat(taskToken=token))]


def test_the_token_of_an_answered_task_is_closed_while_the_execution_runs_on(start: Any, tokens: Tokens) -> None:
    sfn, arn = start({"First": waiting("first", "Second"), "Second": waiting("second")})
    first = tokens.next()
    sfn.send_task_success(taskToken=first, output=json.dumps({"n": 1}))
    second = tokens.next()  # the execution has moved on and is still running
    assert every_answer(sfn, first) == ["TaskTimedOut"] * 3
    sfn.send_task_success(taskToken=second, output="{}")
    described = outcome(sfn, arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["first"] == {"n": 1}  # the late answers changed nothing


def test_the_token_of_a_timed_out_task_is_closed(start: Any, tokens: Tokens, clock: VirtualClock) -> None:
    sfn, arn = start({"First": waiting("first", HeartbeatSeconds=5, **caught_by(["States.Timeout"])),
                      "Caught": waiting("second")})
    first = tokens.next()
    clock.advance(5)
    second = tokens.next()
    assert every_answer(sfn, first) == ["TaskTimedOut"] * 3
    sfn.send_task_success(taskToken=second, output="{}")
    assert outcome(sfn, arn)["status"] == "SUCCEEDED"


def test_the_token_of_an_ended_execution_is_closed_and_an_unknown_one_invalid(
    start: Any, tokens: Tokens, clock: VirtualClock
) -> None:
    sfn, arn = start({"Only": waiting("only", HeartbeatSeconds=5)})
    token = tokens.next()
    clock.advance(5)
    assert outcome(sfn, arn)["status"] == "FAILED"
    assert every_answer(sfn, token) == ["TaskTimedOut"] * 3
    assert every_answer(sfn, "not-a-token-of-any-task") == ["InvalidToken"] * 3
