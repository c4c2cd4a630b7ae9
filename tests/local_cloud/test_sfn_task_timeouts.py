"""A Task's ``TimeoutSeconds`` counts on the cloud's clock from the task's start: a Lambda Task whose handler spends
more than that on the clock times out with ``States.Timeout``; one that spends less does not, however long moto's
threads take in real time."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.deployment import ADMIN_POLICY, EMPTY_ZIP, _ensure_role
from tests.support.executions import finished

INVOKE = "arn:aws:states:::lambda:invoke"


@pytest.fixture
def slow_function(cloud: LocalCloud, clock: VirtualClock) -> str:
    """A function that spends ``event["seconds"]`` on the cloud's clock (its own timeout is far longer)."""
    role = _ensure_role(cloud.client("iam"), "timeouts-role", ADMIN_POLICY)
    arn = cloud.client("lambda").create_function(FunctionName="slow", Runtime="python3.11", Role=role,
                                                 Handler="app.h", Timeout=900,
                                                 Code={"ZipFile": EMPTY_ZIP})["FunctionArn"]

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        clock.sleep(event["seconds"])
        return {"slept": event["seconds"]}

    cloud.register_handler("slow", handler)
    return str(arn)


def run_task(cloud: LocalCloud, function_arn: str, seconds: int, name: str) -> dict[str, Any]:
    sfn = cloud.client("stepfunctions")
    role = _ensure_role(cloud.client("iam"), "timeouts-role", ADMIN_POLICY)
    task = {"Type": "Task", "Resource": INVOKE, "TimeoutSeconds": 5, "End": True,
            "Parameters": {"FunctionName": function_arn, "Payload": {"seconds": seconds}}}
    machine = sfn.create_state_machine(name=name, roleArn=role, definition=json.dumps(
        {"StartAt": "Work", "States": {"Work": task}}))["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, name=name, input="{}")["executionArn"]
    finished(sfn, arn)
    return dict(sfn.describe_execution(executionArn=arn))


def test_a_lambda_task_running_past_timeout_seconds_on_the_clock_times_out(
    cloud: LocalCloud, slow_function: str
) -> None:
    described = run_task(cloud, slow_function, 6, "late")
    assert (described["status"], described.get("error")) == ("FAILED", "States.Timeout")


def test_a_lambda_task_within_timeout_seconds_on_the_clock_succeeds(cloud: LocalCloud, slow_function: str) -> None:
    described = run_task(cloud, slow_function, 4, "in-time")
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["Payload"] == {"slept": 4}
