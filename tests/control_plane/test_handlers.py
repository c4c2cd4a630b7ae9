"""The control-plane Lambdas through Chalice's test client, on the local cloud's DynamoDB and EC2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

import app as chalice_app
from pcf_control_plane import wiring
from pcf_control_plane.errors import ExecutionInputError, ThrottlingError, UnknownParticleError
from pcf_control_plane.settings import Settings, SettingsError
from pcf_control_plane.store.table import create_table
from tests.support.logs import captured_log_lines, emf_documents, metric_names

STAGE = json.loads((Path(__file__).resolve().parents[2] / ".chalice" / "config.json").read_text())
DEV = STAGE["stages"]["dev"]["environment_variables"]
TABLE = DEV["PCF_TABLE_NAME"]


@pytest.fixture
def lambdas(cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setenv("PCF_TABLE_NAME", "not-the-stage-table")  # the test client applies the dev stage's
    create_table(cloud.client("dynamodb"), TABLE, sleep=lambda _: None)
    wiring.reset()
    with Client(chalice_app.app) as client:
        yield client
    wiring.reset()


def invoke(client: Client, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    return client.lambda_.invoke(name, payload).payload


def plan(client: Client, payload: dict[str, Any]) -> dict[str, Any]:
    """``plan``, then ``plan_page`` for every page whose specs it left to store, as the workflow does."""
    planned = invoke(client, "plan", payload)
    execution = payload.get("execution", "manual")
    for page in planned["unstored"]:
        invoke(client, "plan_page", {**page, "run": execution, "execution": execution})
    return planned


def test_plan_a_page_and_converge_through_the_lambdas(lambdas: Client, ami_id: str, ec2: Any) -> None:
    definition = {"pcf_name": "web", "flavor": "ec2_instance",
                  "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                                   "custom_config": {"instance_name": "h-web"}}}
    execution = "arn:aws:states:us-east-1:123456789012:execution:apply:run-1"
    planned = invoke(lambdas, "plan", {"definition": definition, "desired_state": "running", "execution": execution})
    assert planned["levels"] == [{"phase": "start", "level": 0, "particles": 1, "pages": [0]}]
    page = {"run": execution, "execution": execution, "phase": "start", "level": 0, "page": 0}
    [item] = invoke(lambdas, "plan_page", page)["items"]
    assert item == {"pcf_id": "ec2_instance:web", "generation": 1, "parents": []}
    assert invoke(lambdas, "load_page", page)["items"] == [item]
    with captured_log_lines() as lines:
        visited = invoke(lambdas, "converge", {**item, "execution": execution})
    [launched] = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert (visited["action"], visited["acted"], visited["state"], visited["resource_id"]) == (
        "done", "start", "running", launched["InstanceId"]), "instant transitions: running at once"
    [logged] = [line for line in lines if line["message"] == "transition"]
    assert (logged["correlation_id"], logged["pcf_id"], logged["state"]) == ("run-1", "ec2_instance:web", "running")
    level = {"run": execution, "phase": "start", "level": 0, "particles": 1}
    assert invoke(lambdas, "check_level", level) == {"particles": 1, "converged": 1}
    summary = invoke(lambdas, "summarize", {"run": execution, "pcf_id": "ec2_instance:web"})
    assert (summary["particles"], summary["states"], summary["cursor"]) == (1, {"running": 1}, None)
    assert wiring.control_plane().store.get_spec("ec2_instance:web").deployment == DEV["PCF_DEPLOYMENT"]


def test_a_held_lease_makes_the_visit_wait_and_names_its_holder(lambdas: Client, ami_id: str) -> None:
    definition = {"pcf_name": "db", "flavor": "ec2_instance",
                  "aws_resource": {"ImageId": ami_id, "custom_config": {"instance_name": "h-db"}}}
    plan(lambdas, {"definition": definition, "desired_state": "running", "execution": "one"})
    assert wiring.control_plane().store.acquire_lease("ec2_instance:db", "one", 600)
    answer = invoke(lambdas, "converge", {"pcf_id": "ec2_instance:db", "execution": "two"})
    assert (answer["action"], answer["lease_holder"], answer["acted"]) == ("later", "one", None)


def test_a_level_with_a_recorded_failure_fails_under_the_particles_own_error_name(lambdas: Client) -> None:
    failure = {"pcf_id": "ec2_instance:db", "execution": "run-9", "run": "run-9", "phase": "start", "level": 0,
               "failure": {"Error": "ParticleTimeoutError", "Cause": "still pending"}}
    assert invoke(lambdas, "particle_failed", failure)["error"] == "ParticleTimeoutError"
    with pytest.raises(Exception, match="1 of 3 particle") as failed:
        invoke(lambdas, "check_level", {"run": "run-9", "phase": "start", "level": 0, "particles": 3})
    assert type(failed.value).__name__ == "ParticleTimeoutError"


def test_settings_fail_fast_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="PCF_TABLE_NAME"):
        Settings.from_env({})
    with pytest.raises(SettingsError, match="PCF_LEASE_SECONDS"):
        Settings.from_env({"PCF_TABLE_NAME": "t", "PCF_LEASE_SECONDS": "soon"})
    assert Settings.from_env({"PCF_TABLE_NAME": "t"}).lease_seconds == 900.0


def test_aws_throttling_reaches_the_workflow_as_a_named_retryable_error(
    lambdas: Client, cloud: Any, ami_id: str
) -> None:
    definition = {"pcf_name": "hot", "flavor": "ec2_instance",
                  "aws_resource": {"ImageId": ami_id, "custom_config": {"instance_name": "h-hot"}}}
    plan(lambdas, {"definition": definition, "desired_state": "running"})
    cloud.inject_throttling(1.0, services=("dynamodb",))
    with pytest.raises(ThrottlingError, match="ThrottlingException"):
        invoke(lambdas, "converge", {"pcf_id": "ec2_instance:hot"})
    faults = cloud.inject_throttling(0.0)
    assert invoke(lambdas, "converge", {"pcf_id": "ec2_instance:hot"})["acted"] == "start"
    assert faults.injected["dynamodb"] == 0


def test_a_wrong_execution_input_field_is_named(lambdas: Client) -> None:
    with pytest.raises(ExecutionInputError, match="wait_seconds"):
        invoke(lambdas, "plan", {"request": {"definition": {}, "wait_seconds": -1}, "execution": "x"})
    with pytest.raises(ExecutionInputError, match="concurrency"):
        invoke(lambdas, "plan", {"request": {"definition": {}, "concurrency": 1001}, "execution": "x"})
    with pytest.raises(ExecutionInputError, match="waits"):
        invoke(lambdas, "plan", {"request": {"definition": {}, "waits": "sometimes"}, "execution": "x"})
    with pytest.raises(ExecutionInputError, match="await_seconds"):
        invoke(lambdas, "plan", {"request": {"definition": {}, "await_seconds": 0}, "execution": "x"})



def test_steps_publish_emf_metrics(
    lambdas: Client, ami_id: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    definition = {"pcf_name": "counted", "flavor": "ec2_instance",
                  "aws_resource": {"ImageId": ami_id, "custom_config": {"instance_name": "h-counted"}}}
    plan(lambdas, {"definition": definition, "desired_state": "running"})
    capsys.readouterr()

    invoke(lambdas, "converge", {"pcf_id": "ec2_instance:counted", "execution": "run-2"})
    with pytest.raises(UnknownParticleError):
        invoke(lambdas, "converge", {"pcf_id": "ec2_instance:nobody", "execution": "run-2"})

    documents = emf_documents(capsys.readouterr().out)
    assert {"Transitions", "StepDuration", "StepErrors"} <= metric_names(documents)
    assert {doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] for doc in documents} == {"PCFServerless"}
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "1")
    invoke(lambdas, "converge", {"pcf_id": "ec2_instance:counted", "execution": "run-3"})
    assert emf_documents(capsys.readouterr().out) == [], "metrics off: nothing printed"
