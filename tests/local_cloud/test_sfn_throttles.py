"""Throttling inside Step Functions: the calls moto's interpreter makes for states get the injected throttles too,
with no retry of their own, and fail with the names AWS gives them, which an ASL ``Retry`` can retry."""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

import pytest

from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.deployment import ADMIN_POLICY, EMPTY_ZIP, _ensure_role
from pcf_local_cloud.faults import draws
from tests.support.executions import finished

INVOKE = "arn:aws:states:::lambda:invoke"


@pytest.fixture
def role(cloud: LocalCloud) -> str:
    return _ensure_role(cloud.client("iam"), "throttles-role", ADMIN_POLICY)


@pytest.fixture
def invocations() -> list[Any]:
    """The events the ``work`` function's handler ran on."""
    return []


@pytest.fixture
def function_arn(cloud: LocalCloud, role: str, invocations: list[Any]) -> str:
    arn = cloud.client("lambda").create_function(FunctionName="work", Runtime="python3.11", Role=role,
                                                 Handler="app.h", Code={"ZipFile": EMPTY_ZIP})["FunctionArn"]

    def work(event: Any, context: Any) -> dict[str, bool]:
        invocations.append(event)
        return {"done": True}

    cloud.register_handler("work", work)
    return str(arn)


def run(cloud: LocalCloud, role: str, task: dict[str, Any], name: str) -> tuple[dict[str, Any], list[str]]:
    """Run a machine of the single Task ``task``; its description and the errors of its failed tasks."""
    sfn = cloud.client("stepfunctions")
    definition = {"StartAt": "Work", "States": {"Work": {"Type": "Task", "End": True, **task}}}
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, name=name, input="{}")["executionArn"]
    finished(sfn, arn)
    events = sfn.get_execution_history(executionArn=arn)["events"]
    errors = [details["error"] for event in events for key, details in event.items()
              if key.endswith("FailedEventDetails") and "error" in details and event["type"] != "ExecutionFailed"]
    return dict(sfn.describe_execution(executionArn=arn)), errors


def test_a_throttled_lambda_invoke_fails_with_lambda_too_many_requests_and_is_not_retried_by_the_client(
    cloud: LocalCloud, role: str, function_arn: str, invocations: list[Any]
) -> None:
    faults = cloud.inject_throttling(1.0, services=("lambda",))
    described, errors = run(cloud, role, {"Resource": INVOKE, "Parameters": {"FunctionName": function_arn}}, "one")
    assert (described["status"], described["error"]) == ("FAILED", "Lambda.TooManyRequestsException")
    assert errors == ["Lambda.TooManyRequestsException"]
    assert faults.requests["lambda"] == 1  # max_attempts 0: Step Functions itself does not retry
    assert invocations == []  # a throttled invocation does not run the function


def test_a_throttled_lambda_arn_task_is_named_as_the_integration_is(
    cloud: LocalCloud, role: str, function_arn: str
) -> None:
    cloud.inject_throttling(1.0, services=("lambda",))
    described, _ = run(cloud, role, {"Resource": function_arn}, "by-arn")
    assert (described["status"], described["error"]) == ("FAILED", "Lambda.TooManyRequestsException")


def first_seed_throttling_once(rate: float, service: str) -> int:
    """A seed whose first draw for ``service`` is throttled at ``rate`` and whose second is not."""
    return next(seed for seed in range(1000)
                if (stream := draws(seed, service)) and stream.random() < rate <= stream.random())


def test_an_asl_retry_on_the_throttle_name_gets_the_task_through(
    cloud: LocalCloud, role: str, function_arn: str, invocations: list[Any]
) -> None:
    faults = cloud.inject_throttling(0.5, services=("lambda",), seed=first_seed_throttling_once(0.5, "lambda"))
    retry = [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1, "MaxAttempts": 3}]
    task = {"Resource": INVOKE, "Parameters": {"FunctionName": function_arn}, "Retry": retry}
    described, errors = run(cloud, role, task, "retried")
    assert described["status"] == "SUCCEEDED", described
    assert len(invocations) == 1  # the throttled attempt did not run it
    assert json.loads(described["output"])["Payload"] == {"done": True}
    assert errors == ["Lambda.TooManyRequestsException"]
    assert (faults.injected["lambda"], faults.requests["lambda"]) == (1, 2)


def test_a_throttled_aws_sdk_dynamodb_call_fails_with_dynamodb_throttling(cloud: LocalCloud, role: str) -> None:
    cloud.client("dynamodb").create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    faults = cloud.inject_throttling(1.0, services=("dynamodb",))
    task = {"Resource": "arn:aws:states:::aws-sdk:dynamodb:putItem",
            "Parameters": {"TableName": "t", "Item": {"pk": {"S": "a"}}}}
    described, errors = run(cloud, role, task, "put")
    assert (described["status"], described["error"]) == ("FAILED", "DynamoDb.ThrottlingException")
    assert errors == ["DynamoDb.ThrottlingException"]
    assert faults.requests["dynamodb"] == 1


def test_a_throttled_start_execution_task_fails_with_step_functions_throttling_exception(
    cloud: LocalCloud, role: str
) -> None:
    sfn, lam = cloud.client("stepfunctions"), cloud.client("lambda")
    child = sfn.create_state_machine(name="child", roleArn=role, definition=json.dumps(
        {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))["stateMachineArn"]
    disarmed = threading.Event()
    for name in ("arm", "disarm"):
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.h",
                            Code={"ZipFile": EMPTY_ZIP})
    cloud.register_handler("arm", lambda event, context: cloud.inject_throttling(1.0, services=("stepfunctions",))
                           and {})
    cloud.register_handler("disarm", lambda event, context: cloud.faults.off() or disarmed.set() or {})
    states = {
        "Arm": {"Type": "Task", "Resource": INVOKE, "Parameters": {"FunctionName": "arm"}, "ResultPath": None,
                "Next": "Start"},
        "Start": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution", "Next": "Disarm",
                  "Parameters": {"StateMachineArn": child, "Input": {}},
                  "Catch": [{"ErrorEquals": ["StepFunctions.ThrottlingException"], "ResultPath": "$.caught",
                             "Next": "Disarm"}]},
        "Disarm": {"Type": "Task", "Resource": INVOKE, "Parameters": {"FunctionName": "disarm"}, "ResultPath": None,
                   "End": True},
    }
    machine = sfn.create_state_machine(name="parent", roleArn=role, definition=json.dumps(
        {"StartAt": "Arm", "States": states}))["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, name="parent", input="{}")["executionArn"]
    assert disarmed.wait(30), "the execution never reached Disarm"  # no test call while Step Functions is throttled
    finished(sfn, arn)
    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["caught"]["Error"] == "StepFunctions.ThrottlingException"
    failed = [event["taskFailedEventDetails"] for event in sfn.get_execution_history(executionArn=arn)["events"]
              if event["type"] == "TaskFailed"]
    assert [(details["error"], details["resource"]) for details in failed] == [
        ("StepFunctions.ThrottlingException", "startExecution")]


def test_throttled_step_functions_and_lambda_clients_get_awss_answers(cloud: LocalCloud, function_arn: str) -> None:
    cloud.inject_throttling(1.0, services=("stepfunctions", "lambda"))
    sfn, lam = cloud.client("stepfunctions"), cloud.client("lambda")
    for call, code, status in ((lambda: sfn.list_state_machines(), "ThrottlingException", 400),
                               (lambda: lam.invoke(FunctionName="work"), "TooManyRequestsException", 429)):
        with pytest.raises(Exception) as raised:
            call()
        response = getattr(raised.value, "response", {})
        assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)


def test_unknown_services_are_refused(cloud: LocalCloud) -> None:
    with pytest.raises(ValueError, match="sqs"):
        cloud.inject_throttling(0.5, services=("sqs",))


def test_the_checks_that_follow_a_sync_child_are_not_throttled(cloud: LocalCloud, role: str) -> None:
    """Step Functions follows a ``.sync`` child itself; only ``StartExecution`` is the state's own call. The first
    Step Functions draw lets the start through and the second would throttle the first check."""
    sfn, lam = cloud.client("stepfunctions"), cloud.client("lambda")
    child = sfn.create_state_machine(name="child", roleArn=role, definition=json.dumps(
        {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))["stateMachineArn"]
    seed = next(seed for seed in range(1000)
                if (stream := draws(seed, "stepfunctions")) and stream.random() >= 0.5 > stream.random())
    disarmed = threading.Event()
    for name in ("arm", "disarm"):
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.h",
                            Code={"ZipFile": EMPTY_ZIP})
    cloud.register_handler("arm", lambda event, context: cloud.inject_throttling(
        0.5, services=("stepfunctions",), seed=seed) and {})
    seen: list[tuple[int, int]] = []  # Step Functions requests and throttles up to Disarm

    def disarm(event: Any, context: Any) -> dict[str, Any]:
        cloud.faults.off()
        seen.append((cloud.faults.requests["stepfunctions"], cloud.faults.injected["stepfunctions"]))
        disarmed.set()
        return {}

    cloud.register_handler("disarm", disarm)
    states = {
        "Arm": {"Type": "Task", "Resource": INVOKE, "Parameters": {"FunctionName": "arm"}, "ResultPath": None,
                "Next": "Run"},
        "Run": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "Next": "Disarm",
                "Parameters": {"StateMachineArn": child, "Input": {}}, "ResultPath": None,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Disarm"}]},
        "Disarm": {"Type": "Task", "Resource": INVOKE, "Parameters": {"FunctionName": "disarm"}, "ResultPath": None,
                   "End": True},
    }
    machine = sfn.create_state_machine(name="follows", roleArn=role, definition=json.dumps(
        {"StartAt": "Arm", "States": states}))["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, name="follows", input="{}")["executionArn"]
    assert disarmed.wait(30), "the execution never reached Disarm"
    finished(sfn, arn)
    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED", described
    assert "caught" not in json.loads(described["output"]), described["output"]
    assert seen == [(1, 0)], "StartExecution alone was drawn for"


def test_an_observers_requests_are_neither_counted_nor_throttled(cloud: LocalCloud) -> None:
    faults = cloud.inject_throttling(1.0, services=("stepfunctions",))
    with faults.unthrottled():
        cloud.client("stepfunctions").list_state_machines()
    assert (faults.requests["stepfunctions"], faults.injected["stepfunctions"]) == (0, 0)
    with pytest.raises(Exception, match="ThrottlingException"):
        cloud.client("stepfunctions").list_state_machines()


def test_each_service_draws_on_its_own_stream(cloud: LocalCloud) -> None:
    """Which of a service's requests are throttled does not depend on other services' calls between them."""
    faults = cloud.inject_throttling(0.5, services=("stepfunctions", "lambda"), seed=4)
    outcomes = []
    for interleaved in (0, 3):
        faults.configure(0.5, ("stepfunctions", "lambda"), seed=4)
        seen = []
        for _ in range(6):
            for _ in range(interleaved):
                with contextlib.suppress(Exception):
                    cloud.client("lambda").list_functions()
            try:
                cloud.client("stepfunctions").list_state_machines()
                seen.append(faults.injected["stepfunctions"])
            except Exception:  # throttled through every one of the client's attempts
                seen.append(-1)
        outcomes.append((seen, faults.requests["stepfunctions"]))
    assert outcomes[0] == outcomes[1]
