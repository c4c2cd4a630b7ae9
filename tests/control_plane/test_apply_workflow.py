"""Whole executions of state_machines/apply.asl.json on the local cloud: the real ASL, the real handlers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pcf_control_plane import wiring
from pcf_local_cloud.control_plane import deploy_control_plane
from pcf_local_cloud.deployment import execution_tree_history

TABLE = "pcf-workflow-test"


@pytest.fixture
def deployment(cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield deploy_control_plane(cloud, environment={"PCF_TABLE_NAME": TABLE, "PCF_DEPLOYMENT": "workflow-test"},
                               setenv=monkeypatch.setenv)
    wiring.reset()


def instance(name: str, ami_id: str, **extra: Any) -> dict[str, Any]:
    return {"pcf_name": name, "flavor": "ec2_instance", **extra,
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                             "custom_config": {"instance_name": f"wf-{name}"}}}


def run(deployment: Any, definition: dict[str, Any], state: str, name: str, max_polls: int = 50) -> Any:
    return deployment.run_execution("apply", {"definition": definition, "desired_state": state,
                                              "wait_seconds": 0, "max_polls": max_polls}, name=name)


def live(ec2: Any, name: str) -> list[dict[str, Any]]:
    reservations = ec2.describe_instances(Filters=[
        {"Name": "tag:PCFName", "Values": [name]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def test_a_single_instance_runs_and_terminates(deployment: Any, ami_id: str, ec2: Any) -> None:
    result = run(deployment, instance("solo", ami_id), "running", "solo-run")
    assert result.status == "SUCCEEDED", result.output
    assert result.output["pcf_id"] == "ec2_instance:solo"
    [node] = live(ec2, "wf-solo")
    assert node["State"]["Name"] == "running"
    result = run(deployment, instance("solo", ami_id), "terminated", "solo-terminate")
    assert result.status == "SUCCEEDED", result.output
    assert live(ec2, "wf-solo") == []
    store = wiring.control_plane().store
    assert store.get_observation("ec2_instance:solo").state == "terminated"
    causes = {item.cause for item in store.list_history("ec2_instance:solo")}
    assert any(cause.endswith(":solo-run") for cause in causes)
    assert store.current_lease("ec2_instance:solo") is None


def transition_order(deployment: Any, execution: str) -> list[str]:
    """The pcf_ids in the order the execution (through its particle executions) scheduled their transitions."""
    arn = deployment.execution_arn("apply", execution)
    tree = execution_tree_history(deployment.cloud.client("stepfunctions"), arn)
    scheduled = []
    for events in tree.values():
        for event in events:
            details = event.get("lambdaFunctionScheduledEventDetails") or {}
            if details.get("resource", "").rsplit("-", 1)[-1] in ("start", "stop", "terminate", "update"):
                scheduled.append((event["timestamp"], json.loads(details["input"])["pcf_id"]))
    return [pcf_id for _, pcf_id in sorted(scheduled)]


def test_a_cluster_starts_parents_first_and_terminates_children_first(
    deployment: Any, ami_id: str, ec2: Any
) -> None:
    definition = {"pcf_name": "c", "flavor": "quasiparticle", "particles": [
        instance("m", ami_id), instance("w", ami_id, multiplier=2, parents=["ec2_instance:m"])]}
    assert run(deployment, definition, "running", "c-up").status == "SUCCEEDED"
    up = transition_order(deployment, "c-up")
    assert up[0] == "ec2_instance:m" and sorted(up[1:]) == ["ec2_instance:w-0", "ec2_instance:w-1"]
    assert run(deployment, definition, "terminated", "c-down").status == "SUCCEEDED"
    down = transition_order(deployment, "c-down")
    assert down[-1] == "ec2_instance:m" and sorted(down[:2]) == ["ec2_instance:w-0", "ec2_instance:w-1"]
    assert live(ec2, "wf-m") == []


def test_a_persisted_particle_is_left_running(deployment: Any, ami_id: str, ec2: Any) -> None:
    definition = instance("keep", ami_id, persist_on_termination=True)
    run(deployment, definition, "running", "keep-up")
    result = run(deployment, definition, "terminated", "keep-down")
    assert result.status == "SUCCEEDED"
    assert [i["State"]["Name"] for i in live(ec2, "wf-keep")] == ["running"]


def test_a_particle_stuck_pending_fails_with_its_named_timeout(
    deployment: Any, cloud: Any, ami_id: str, ec2: Any
) -> None:
    reservation = ec2.run_instances(ImageId=ami_id, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "PCFName", "Value": "wf-stuck"}]}])
    cloud.hold_pending(reservation["Instances"][0]["InstanceId"])
    result = run(deployment, instance("stuck", ami_id), "running", "stuck", max_polls=3)
    assert result.status == "FAILED"
    assert result.output["error"] == "ParticleTimeoutError"
    assert wiring.control_plane().store.current_lease("ec2_instance:stuck") is None


def test_a_bad_definition_fails_the_execution_by_name_and_creates_nothing(
    deployment: Any, ami_id: str, ec2: Any
) -> None:
    bad = instance("bad", ami_id)
    del bad["aws_resource"]["custom_config"]["instance_name"]
    result = run(deployment, bad, "running", "bad")
    assert result.status == "FAILED"
    assert result.output["error"] == "InvalidUniqueKeysException"
    assert "instance_name" in result.output["cause"]
    assert ec2.describe_instances()["Reservations"] == []


def test_two_executions_on_one_particle_never_both_act(
    deployment: Any, cloud: Any, ami_id: str, ec2: Any
) -> None:
    """A holds the lease while its instance is pending; B waits out its lease retries and fails clearly."""
    reservation = ec2.run_instances(ImageId=ami_id, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "PCFName", "Value": "wf-busy"}]}])
    instance_id = reservation["Instances"][0]["InstanceId"]
    cloud.hold_pending(instance_id)
    sfn = cloud.client("stepfunctions")
    sfn.start_execution(stateMachineArn=deployment.state_machine_arns["apply"], name="busy-a", input=json.dumps(
        {"definition": instance("busy", ami_id), "desired_state": "running", "wait_seconds": 1,
         "max_polls": 120}))
    store = None
    for _ in range(200):
        store = wiring.control_plane().store
        lease = store.current_lease("ec2_instance:busy") if store.get_spec("ec2_instance:busy") else None
        if lease is not None:
            break
        time.sleep(0.05)
    assert lease is not None and lease.owner.endswith(":busy-a")

    second = run(deployment, instance("busy", ami_id), "running", "busy-b")

    assert second.status == "FAILED"
    assert second.output["error"] == "LeaseHeldError"
    cloud.release_pending(instance_id)
    arn = deployment.execution_arn("apply", "busy-a")
    for _ in range(600):
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            break
        time.sleep(0.05)
    assert status == "SUCCEEDED"
    assert [i["InstanceId"] for i in live(ec2, "wf-busy")] == [instance_id]
    b_items = [item for item in store.list_history("ec2_instance:busy") if item.cause.endswith(":busy-b")]
    assert all(item.kind != "transition" for item in b_items)
