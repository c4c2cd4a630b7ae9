"""Scheduled reconciliation through the deployed reconcile Lambda: state and configuration drift found in one
batched read, recorded, then reverted by a healing execution or only reported, per particle policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pcf_control_plane import wiring
from pcf_control_plane.aws_events import reconcile_request
from pcf_local_cloud.deployment import INLINE_POLICY
from tests.support.deployments import deployed, invoke_function, reconcile_run
from tests.support.executions import finished


@pytest.fixture
def deployment(cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from deployed(cloud, monkeypatch.setenv, "reconcile", rules_off=True)  # only the schedule may notice


def instance(name: str, ami_id: str, **extra: Any) -> dict[str, Any]:
    return {"pcf_name": name, "flavor": "ec2_instance", **extra,
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                             "custom_config": {"instance_name": f"rc-{name}", "tags": {"Team": "infra"}}}}


def bring_up(deployment: Any, definition: dict[str, Any], name: str) -> None:
    result = deployment.run_execution("apply", {"definition": definition, "desired_state": "running",
                                                "wait_seconds": 0, "max_polls": 30}, name=name)
    assert result.status == "SUCCEEDED", result.output


def reconcile(deployment: Any, act: bool = True) -> dict[str, Any]:
    return reconcile_run(deployment, act=act)


def instance_id_of(pcf_id: str) -> str:
    return wiring.control_plane().store.get_observation(pcf_id).resource_id


def finish(cloud: Any, arn: str) -> str:
    return finished(cloud.client("stepfunctions"), arn)


def described(ec2: Any, instance_id: str) -> dict[str, Any]:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def test_the_schedule_finds_a_stopped_instance_and_a_changed_type_and_reverts_both(
    deployment: Any, cloud: Any, ami_id: str, ec2: Any
) -> None:
    bring_up(deployment, {"pcf_name": "fleet", "flavor": "quasiparticle", "particles": [
        instance("a", ami_id), instance("b", ami_id), instance("c", ami_id)]}, "fleet-up")
    a, b = instance_id_of("ec2_instance:a"), instance_id_of("ec2_instance:b")
    ec2.stop_instances(InstanceIds=[a])
    ec2.modify_instance_attribute(InstanceId=b, InstanceType={"Value": "t3.large"})

    report = reconcile(deployment)

    assert report["particles"] == 3 and report["ec2_calls"] == 1  # instances only: no describe_volumes
    drift = {d["pcf_id"]: d for d in report["drifted"]}
    assert set(drift) == {"ec2_instance:a", "ec2_instance:b"}
    assert (drift["ec2_instance:a"]["observed"], drift["ec2_instance:a"]["action"]) == ("stopped", "start")
    assert drift["ec2_instance:b"]["differences"] == {"InstanceType": ["t3.micro", "t3.large"]}
    assert drift["ec2_instance:b"]["action"] == "update"
    for item in drift.values():
        assert item["outcome"] == "started"
        assert finish(cloud, item["heal"]["execution"]) == "SUCCEEDED"
    assert described(ec2, a)["State"]["Name"] == "running"
    assert described(ec2, instance_id_of("ec2_instance:b"))["InstanceType"] == "t3.micro"
    store = wiring.control_plane().store
    [record] = [i for i in store.list_history("ec2_instance:b") if i.kind == "drift"]
    assert record.detail["differences"] == {"InstanceType": ["t3.micro", "t3.large"]}
    assert reconcile(deployment)["drifted"] == [], "healed: nothing drifts any more"


def test_a_dry_run_reports_and_changes_nothing(deployment: Any, cloud: Any, ami_id: str, ec2: Any) -> None:
    bring_up(deployment, instance("d", ami_id), "d-up")
    ec2.stop_instances(InstanceIds=[instance_id_of("ec2_instance:d")])
    before = wiring.control_plane().store.list_history("ec2_instance:d")
    report = reconcile(deployment, act=False)
    assert [(d["pcf_id"], d["outcome"]) for d in report["drifted"]] == [("ec2_instance:d", "reported")]
    assert report["observations_written"] == 0
    assert wiring.control_plane().store.list_history("ec2_instance:d") == before
    assert described(ec2, instance_id_of("ec2_instance:d"))["State"]["Name"] == "stopped"


def test_drift_report_policy_records_without_reverting(deployment: Any, cloud: Any, ami_id: str, ec2: Any) -> None:
    bring_up(deployment, instance("e", ami_id, drift="report"), "e-up")
    ec2.stop_instances(InstanceIds=[instance_id_of("ec2_instance:e")])
    [item] = reconcile(deployment)["drifted"]
    assert (item["policy"], item["outcome"], item.get("heal")) == ("report", "reported", None)
    kinds = [i.kind for i in wiring.control_plane().store.list_history("ec2_instance:e")]
    assert "drift" in kinds and "heal" not in kinds
    assert described(ec2, instance_id_of("ec2_instance:e"))["State"]["Name"] == "stopped"


def test_a_drifted_child_is_left_to_its_drifted_parents_heal(deployment: Any, cloud: Any, ami_id: str,
                                                             ec2: Any) -> None:
    bring_up(deployment, {"pcf_name": "pair", "flavor": "quasiparticle", "particles": [
        instance("p", ami_id), instance("k", ami_id, parents=["ec2_instance:p"])]}, "pair-up")
    ec2.stop_instances(InstanceIds=[instance_id_of("ec2_instance:p"), instance_id_of("ec2_instance:k")])
    drift = {d["pcf_id"]: d for d in reconcile(deployment)["drifted"]}
    assert drift["ec2_instance:p"]["outcome"] == "started"
    assert drift["ec2_instance:k"]["outcome"] == "covered by an ancestor's heal"
    assert finish(cloud, drift["ec2_instance:p"]["heal"]["execution"]) == "SUCCEEDED"
    assert described(ec2, instance_id_of("ec2_instance:k"))["State"]["Name"] == "running"


def test_an_unchanged_deployment_writes_nothing(deployment: Any, cloud: Any, ami_id: str) -> None:
    bring_up(deployment, instance("f", ami_id), "f-up")
    first = reconcile(deployment)
    second = reconcile(deployment)
    assert first["drifted"] == second["drifted"] == []
    assert second["observations_written"] == 0


def test_the_machine_runs_under_its_role_which_must_allow_starting_its_own_page_executions(
        deployment: Any, cloud: Any, ami_id: str) -> None:
    bring_up(deployment, instance("g", ami_id), "g-up")
    iam, role = cloud.client("iam"), "pcf-serverless-dev-reconcile-machine"
    policy = json.loads(json.dumps(iam.get_role_policy(RoleName=role, PolicyName=INLINE_POLICY)["PolicyDocument"]))
    policy["Statement"] = [s for s in policy["Statement"] if s["Action"] != "states:StartExecution"]
    iam.put_role_policy(RoleName=role, PolicyName=INLINE_POLICY, PolicyDocument=json.dumps(policy))

    started = invoke_function(deployment, "reconcile", reconcile_request("123456789012", "us-east-1"))
    assert finish(cloud, started["execution"]) == "FAILED"
    failed = cloud.client("stepfunctions").describe_execution(executionArn=started["execution"])
    assert failed["error"] == "States.Runtime"
    assert "not authorized to perform: states:StartExecution" in failed["cause"]
