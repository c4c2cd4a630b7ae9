"""A Chalice app and its state machines deployed into the local cloud, run by moto's Step Functions for real."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.utils import to_cfn_resource_name

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.deployment import (
    ROLE_NAME,
    LocalDeployment,
    UnresolvedSubstitutionError,
    deploy_chalice_app,
    substitute,
    substitution_name,
)
from tests.local_cloud.fixtures import flaky_app

FIXTURES = Path(__file__).parent / "fixtures"
MACHINES = {"flow": FIXTURES / "flaky.asl.json", "fan_out": FIXTURES / "fan_out.asl.json"}
PREFIX = "pcf-local-fixture-dev-"


@pytest.fixture
def behaviour() -> flaky_app.Behaviour:
    return flaky_app.reset()


@pytest.fixture
def deployed(instant_lc: LocalCloud, behaviour: flaky_app.Behaviour) -> Iterator[LocalDeployment]:
    yield deploy_chalice_app(
        instant_lc, flaky_app.app, state_machines=MACHINES, extra_substitutions={"Label": "too big"}
    )


def events_of(history: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [event for event in history if event["type"] == event_type]


def test_functions_are_named_and_configured_as_chalice_deploy_names_them(deployed: LocalDeployment) -> None:
    assert deployed.function_names == {
        name: PREFIX + name for name in ("prepare", "finish", "square_it", "on_ec2", "tick")
    }
    lambda_client = deployed.cloud.client("lambda")
    square = lambda_client.get_function(FunctionName=PREFIX + "square_it")["Configuration"]
    assert square["Handler"] == "app.square"
    assert square["Runtime"] == "python3.11"
    assert square["Role"].endswith(f":role/{ROLE_NAME}")
    assert square["FunctionArn"] == deployed.function_arns["square_it"]
    assert deployed.substitutions == {
        "PrepareArn": deployed.function_arns["prepare"],
        "FinishArn": deployed.function_arns["finish"],
        "SquareItArn": deployed.function_arns["square_it"],
        "OnEc2Arn": deployed.function_arns["on_ec2"],
        "TickArn": deployed.function_arns["tick"],
        "Label": "too big",
        "FlowStateMachineArn": deployed.state_machine_arns["flow"],
        "FanOutStateMachineArn": deployed.state_machine_arns["fan_out"],
    }
    sfn = deployed.cloud.client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=deployed.state_machine_arns["flow"])
    assert machine["name"] == PREFIX + "flow"
    assert deployed.function_arns["prepare"] in machine["definition"]
    assert "${" not in machine["definition"]


def test_substitution_names_are_chalices_resource_names() -> None:
    for name in ("sync_state", "on-ec2_state-change", "tick", "a__b"):
        assert substitution_name(name) == to_cfn_resource_name(name) + "Arn"
    assert substitution_name("sync_state") == "SyncStateArn"


def test_event_handlers_get_chalice_event_objects(deployed: LocalDeployment) -> None:
    lambda_client = deployed.cloud.client("lambda")
    event = {
        "version": "0",
        "id": "e-1",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"instance-id": "i-1", "state": "stopped"},
    }
    response = lambda_client.invoke(FunctionName=PREFIX + "on_ec2", Payload=json.dumps(event))
    assert json.loads(response["Payload"].read()) == {
        "kind": "CloudWatchEvent",
        "source": "aws.ec2",
        "detail": {"instance-id": "i-1", "state": "stopped"},
    }
    response = lambda_client.invoke(FunctionName=PREFIX + "tick", Payload=json.dumps({**event, "detail": {}}))
    assert json.loads(response["Payload"].read()) == "tick at 2026-01-01T00:00:00Z"


def test_a_run_goes_task_choice_task(deployed: LocalDeployment, behaviour: flaky_app.Behaviour) -> None:
    status, output, history = deployed.run_execution("flow", {"value": 5}, "small")
    assert (status, output) == ("SUCCEEDED", {"result": 11, "status": 200})
    assert behaviour.calls == {"prepare": 1, "finish": 1}
    first_success = events_of(history, "LambdaFunctionSucceeded")[0]
    prepared = json.loads(first_success["lambdaFunctionSucceededEventDetails"]["output"])
    assert prepared["logged_function"] == PREFIX + "prepare"  # Powertools' inject_lambda_context read the context
    assert prepared["logged_request_id"]
    assert len(events_of(history, "TaskSucceeded")) == 1  # the lambda:invoke integration of Finish
    assert history[-1]["type"] == "ExecutionSucceeded"


def test_the_choice_takes_the_other_branch(deployed: LocalDeployment, behaviour: flaky_app.Behaviour) -> None:
    status, output, _ = deployed.run_execution("flow", {"value": 60}, "big")
    assert status == "SUCCEEDED"
    assert output["value"] == 120
    assert output["outcome"] == "too big"  # an extra substitution
    assert behaviour.calls == {"prepare": 1}


def test_a_flaky_step_is_retried(deployed: LocalDeployment, behaviour: flaky_app.Behaviour) -> None:
    behaviour.flaky_failures = 1  # moto's retrier really sleeps IntervalSeconds (>= 1 s)
    status, output, history = deployed.run_execution("flow", {"value": 5}, "flaky")
    assert (status, output) == ("SUCCEEDED", {"result": 11, "status": 200})
    assert behaviour.calls["prepare"] == 2
    failures = events_of(history, "LambdaFunctionFailed")
    assert [event["lambdaFunctionFailedEventDetails"]["error"] for event in failures] == ["Flaky"]
    assert json.loads(failures[0]["lambdaFunctionFailedEventDetails"]["cause"])["errorMessage"] == "attempt 1 failed"


def test_a_broken_step_is_caught(deployed: LocalDeployment, behaviour: flaky_app.Behaviour) -> None:
    status, output, history = deployed.run_execution("flow", {"value": 7, "fail": True}, "broken")
    assert status == "SUCCEEDED"
    assert output["outcome"] == "recovered"
    assert output["error"]["Error"] == "Broken"
    assert json.loads(output["error"]["Cause"])["errorMessage"] == "cannot finish 14"
    assert behaviour.calls == {"prepare": 1, "finish": 1}
    assert [e["taskFailedEventDetails"]["error"] for e in events_of(history, "TaskFailed")] == ["Broken"]


def test_an_uncaught_error_fails_the_execution(deployed: LocalDeployment) -> None:
    deployed.cloud.unregister_handler(PREFIX + "prepare")
    status, output, history = deployed.run_execution("flow", {"value": 1}, "orphan")
    assert status == "FAILED"
    assert output["error"] == "Runtime.HandlerNotFound"
    assert PREFIX + "prepare" in json.loads(output["cause"])["errorMessage"]
    assert history[-1]["type"] == "ExecutionFailed"


def test_map_branches_run_concurrently_up_to_max_concurrency(
    deployed: LocalDeployment, behaviour: flaky_app.Behaviour
) -> None:
    behaviour.barrier = threading.Barrier(3, timeout=10)  # breaks unless three branches are in the handler at once
    status, output, _ = deployed.run_execution("fan_out", {"items": [1, 2, 3, 4, 5, 6]}, "fan")
    assert status == "SUCCEEDED", output
    assert output["squares"] == [1, 4, 9, 16, 25, 36]
    assert behaviour.max_active == 3


def test_run_execution_gives_up_after_its_timeout(deployed: LocalDeployment, behaviour: flaky_app.Behaviour) -> None:
    behaviour.gate = threading.Event()
    fake = VirtualClock()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        assert behaviour.entered.wait(10)  # moto cannot stop an execution whose worker has not started
        sleeps.append(seconds)
        fake.advance(seconds)

    try:
        with pytest.raises(TimeoutError, match="stopped"):
            deployed.run_execution("flow", {"value": 1}, "stuck", timeout_s=5, poll=1, sleep=sleep, now=fake.now)
        assert sleeps == [1, 1, 1, 1, 1]
    finally:
        behaviour.gate.set()
    sfn = deployed.cloud.client("stepfunctions")
    arn = deployed.execution_arn("flow", "stuck")
    for _ in range(1000):  # moto marks it ABORTED once the running Task returns
        if (status := sfn.describe_execution(executionArn=arn)["status"]) != "RUNNING":
            break
        time.sleep(0.005)
    assert status == "ABORTED"
    assert behaviour.calls == {"prepare": 1}


def test_an_unknown_substitution_is_refused(instant_lc: LocalCloud, tmp_path: Path) -> None:
    machine = tmp_path / "m.asl.json"
    machine.write_text('{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${NoSuchArn}", "End": true}}}')
    with pytest.raises(UnresolvedSubstitutionError, match="NoSuchArn"):
        deploy_chalice_app(instant_lc, flaky_app.app, state_machines={"m": machine})
    assert substitute('{"a": ${N}, "b": ${B}, "c": "${S}"}', {"N": 3, "B": True, "S": "x"}) == (
        '{"a": 3, "b": true, "c": "x"}'
    )


def test_two_stages_share_the_role(instant_lc: LocalCloud) -> None:
    dev = deploy_chalice_app(instant_lc, flaky_app.app)
    prod = deploy_chalice_app(instant_lc, flaky_app.app, stage="prod")
    assert dev.role_arn == prod.role_arn
    assert prod.function_names["prepare"] == "pcf-local-fixture-prod-prepare"
    assert set(instant_lc.patches.lambdas.handlers) == {*dev.function_names.values(), *prod.function_names.values()}


def test_state_machines_need_motos_default_account(vclock: VirtualClock) -> None:
    with LocalCloud(clock=vclock, account_id="111122223333") as cloud:
        with pytest.raises(ValueError, match="default account"):
            deploy_chalice_app(cloud, flaky_app.app, state_machines=MACHINES)
        deploy_chalice_app(cloud, flaky_app.app)  # functions alone are fine
