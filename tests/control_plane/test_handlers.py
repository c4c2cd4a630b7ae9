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
from pcf_control_plane.errors import ExecutionInputError, LeaseHeldError, ThrottlingError, UnknownParticleError
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


def test_plan_sync_start_through_the_lambdas(lambdas: Client, ami_id: str, ec2: Any) -> None:
    definition = {"pcf_name": "web", "flavor": "ec2_instance",
                  "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                                   "custom_config": {"instance_name": "h-web"}}}
    execution = "arn:aws:states:us-east-1:123456789012:execution:apply:run-1"
    planned = invoke(lambdas, "plan", {"definition": definition, "desired_state": "running", "execution": execution})
    assert planned["phases"] == [{"phase": "start", "levels": [["ec2_instance:web"]]}]
    step = {"pcf_id": "ec2_instance:web", "execution": execution}
    assert invoke(lambdas, "acquire_lease", step)["held"] is True
    assert invoke(lambdas, "sync_state", step)["action"] == "start"
    with captured_log_lines() as lines:
        started = invoke(lambdas, "start", step)
    [launched] = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert started == {"pcf_id": "ec2_instance:web", "action": "start", "generation": 1, "state": "running",
                       "resource_id": launched["InstanceId"]}, "instant transitions: running at once"
    [logged] = [line for line in lines if line["message"] == "transition"]
    assert (logged["correlation_id"], logged["pcf_id"], logged["state"]) == ("run-1", "ec2_instance:web", "running")
    synced = invoke(lambdas, "sync_state", step)
    assert (synced["state"], synced["action"]) == ("running", "done")
    assert synced["resource_id"].startswith("i-")
    assert invoke(lambdas, "release_lease", step)["held"] is False
    assert wiring.control_plane().store.get_spec("ec2_instance:web").deployment == DEV["PCF_DEPLOYMENT"]


def test_a_held_lease_is_an_error_named_for_the_workflow(lambdas: Client, ami_id: str) -> None:
    definition = {"pcf_name": "db", "flavor": "ec2_instance",
                  "aws_resource": {"ImageId": ami_id, "custom_config": {"instance_name": "h-db"}}}
    invoke(lambdas, "plan", {"definition": definition, "desired_state": "running"})
    invoke(lambdas, "acquire_lease", {"pcf_id": "ec2_instance:db", "execution": "one"})
    with pytest.raises(LeaseHeldError):
        invoke(lambdas, "acquire_lease", {"pcf_id": "ec2_instance:db", "execution": "two"})


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
    invoke(lambdas, "plan", {"definition": definition, "desired_state": "running"})
    cloud.inject_throttling(1.0, services=("dynamodb",))
    with pytest.raises(ThrottlingError, match="ThrottlingException"):
        invoke(lambdas, "sync_state", {"pcf_id": "ec2_instance:hot"})
    faults = cloud.inject_throttling(0.0)
    assert invoke(lambdas, "sync_state", {"pcf_id": "ec2_instance:hot"})["action"] == "start"
    assert faults.injected["dynamodb"] == 0


def test_a_wrong_execution_input_field_is_named(lambdas: Client) -> None:
    with pytest.raises(ExecutionInputError, match="wait_seconds"):
        invoke(lambdas, "plan", {"request": {"definition": {}, "wait_seconds": -1}, "execution": "x"})
    with pytest.raises(ExecutionInputError, match="concurrency"):
        invoke(lambdas, "plan", {"request": {"definition": {}, "concurrency": 41}, "execution": "x"})



def test_steps_publish_emf_metrics(
    lambdas: Client, ami_id: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    definition = {"pcf_name": "counted", "flavor": "ec2_instance",
                  "aws_resource": {"ImageId": ami_id, "custom_config": {"instance_name": "h-counted"}}}
    invoke(lambdas, "plan", {"definition": definition, "desired_state": "running"})
    capsys.readouterr()

    invoke(lambdas, "start", {"pcf_id": "ec2_instance:counted", "execution": "run-2"})
    with pytest.raises(UnknownParticleError):
        invoke(lambdas, "acquire_lease", {"pcf_id": "ec2_instance:nobody", "execution": "run-2"})

    documents = emf_documents(capsys.readouterr().out)
    assert {"Transitions", "StepDuration", "StepErrors"} <= metric_names(documents)
    assert {doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] for doc in documents} == {"PCFServerless"}
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "1")
    invoke(lambdas, "start", {"pcf_id": "ec2_instance:counted", "execution": "run-3"})
    assert emf_documents(capsys.readouterr().out) == [], "metrics off: nothing printed"
