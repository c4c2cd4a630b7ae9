"""Callback tasks (``.waitForTaskToken``) in the local cloud: heartbeats and timeouts count on the cloud's clock,
a heartbeat expiry is ``States.HeartbeatTimeout`` (which ``States.Timeout`` also catches), the earlier of the two
deadlines wins, there is no timeout unless one is set, ``StopExecution`` ends the wait at once, and a closed
task's token is answered ``TaskTimedOut``."""

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
from pcf_local_cloud.executions import stop_all
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


# -- TimeoutSeconds: none unless set, counted on the clock from the task's start, never reset ----------------------
def test_a_heartbeating_task_without_timeout_seconds_waits_as_long_as_its_heartbeats_come(
    start: Any, tokens: Tokens, clock: VirtualClock
) -> None:
    sfn, arn = start({"Wait": waiting("answer", HeartbeatSeconds=300)})
    token = tokens.next()
    for _ in range(4):  # 1,000 s in all: far past moto's 60 s default
        clock.advance(250)
        sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output=json.dumps({"late": True}))
    described = outcome(sfn, arn)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["answer"] == {"late": True}


def test_heartbeats_do_not_extend_timeout_seconds(start: Any, tokens: Tokens, clock: VirtualClock) -> None:
    sfn, arn = start({"Wait": waiting("answer", HeartbeatSeconds=30, TimeoutSeconds=100,
                                      **caught_by(["States.Timeout"])),
                      "Caught": {"Type": "Pass", "End": True}})
    token = tokens.next()
    for _ in range(3):
        clock.advance(25)
        sfn.send_task_heartbeat(taskToken=token)
    clock.advance(25)  # 100 s after the start; the last heartbeat was 25 s ago
    described = outcome(sfn, arn)
    assert json.loads(described["output"])["caught"]["Error"] == "States.Timeout"
    assert timed_out_errors(sfn, arn) == ["States.Timeout"]


@pytest.mark.parametrize(("beats", "error"), [(0, "States.HeartbeatTimeout"), (3, "States.Timeout")],
                         ids=["heartbeat-first", "timeout-first"])
def test_the_earlier_deadline_wins_when_the_clock_passes_both_at_once(
    start: Any, tokens: Tokens, clock: VirtualClock, beats: int, error: str
) -> None:
    sfn, arn = start({"Wait": waiting("answer", HeartbeatSeconds=30, TimeoutSeconds=100,
                                      **caught_by(["States.Timeout"])),
                      "Caught": {"Type": "Pass", "End": True}})
    token = tokens.next()
    for _ in range(beats):  # heartbeats at 25, 50, 75: the next heartbeat deadline (105) is after the timeout
        clock.advance(25)
        sfn.send_task_heartbeat(taskToken=token)
    clock.advance(10_000)
    described = outcome(sfn, arn)
    assert json.loads(described["output"])["caught"]["Error"] == error
    assert timed_out_errors(sfn, arn) == [error]


def test_an_answer_before_the_deadline_wins_even_if_the_clock_then_passes_it(
    start: Any, tokens: Tokens, clock: VirtualClock
) -> None:
    sfn, arn = start({"Wait": waiting("answer", HeartbeatSeconds=30, TimeoutSeconds=100)})
    token = tokens.next()
    sfn.send_task_success(taskToken=token, output="{}")
    clock.advance(10_000)
    assert outcome(sfn, arn)["status"] == "SUCCEEDED"


# -- StopExecution -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("handling", [{}, {"Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 60}]},
                                      caught_by(["States.ALL"])], ids=["uncaught", "retried", "caught"])
def test_stop_execution_aborts_a_task_waiting_for_its_token_at_once(
    start: Any, tokens: Tokens, clock: VirtualClock, handling: dict[str, Any]
) -> None:
    sfn, arn = start({"Wait": waiting("answer", HeartbeatSeconds=300, **handling),
                      "Caught": {"Type": "Pass", "End": True}})
    token = tokens.next()
    before = clock.now()
    sfn.stop_execution(executionArn=arn, error="Stopped", cause="by the test")
    described = sfn.describe_execution(executionArn=arn)  # no polling: ABORTED when StopExecution returns
    assert described["status"] == "ABORTED"
    assert every_answer(sfn, token) == ["TaskTimedOut"] * 3
    assert clock.now() == before  # no Retry interval was slept on the cloud's clock
    events = [event["type"] for event in sfn.get_execution_history(executionArn=arn)["events"]]
    assert events[-1] == "ExecutionAborted"
    assert "PassStateEntered" not in events  # the Catch's target never ran


def test_stop_all_ends_executions_waiting_for_their_tokens(start: Any, tokens: Tokens) -> None:
    sfn, first = start({"Wait": waiting("answer")})  # no deadline at all: only a stop ends it
    tokens.next()
    _, second = start({"Wait": waiting("answer", HeartbeatSeconds=300)})
    tokens.next()
    assert stop_all(sfn) == []
    assert [sfn.describe_execution(executionArn=arn)["status"] for arn in (first, second)] == ["ABORTED"] * 2
