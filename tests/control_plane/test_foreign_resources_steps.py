"""Managed means tagged, twice, in the control plane: a visit (``converge``) refuses a resource carrying the
particle's PCFName but not this deployment's PCFDeployment tag (``ForeignResourceError``, the workflow's error
name), even with ``custom_config.adopt`` (only library mode adopts); events and reconciliation ignore it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pcf.core.pcf_exceptions import ForeignResourceError
from pcf.util.pcf_util import tags_to_dict
from pcf_control_plane import wiring
from pcf_control_plane.converge import converge
from pcf_control_plane.messages import ConvergeInput, PlanInput
from pcf_control_plane.steps import ControlPlane
from pcf_control_plane.store import HistoryKind, InMemoryStateStore
from pcf_local_cloud.clock import VirtualClock
from tests.support.deployments import deployed, instance_event, invoke_function, reconcile_run
from tests.support.steps import plan_all

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:apply:foreign-1"
OWNERS = [pytest.param("pcf-prod", id="another-deployment"), pytest.param(None, id="no-deployment-tag")]


def instance(name: str, ami_id: str, **custom: Any) -> dict[str, Any]:
    return {"pcf_name": name, "flavor": "ec2_instance",
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                             "custom_config": {"instance_name": f"fr-{name}", **custom}}}


def foreign_instance(ec2: Any, ami_id: str, name: str, owner: str | None) -> str:
    tags = {"PCFName": name, **({"PCFDeployment": owner} if owner else {})}
    return str(ec2.run_instances(ImageId=ami_id, MinCount=1, MaxCount=1, InstanceType="t3.nano", TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )["Instances"][0]["InstanceId"])


def facts(ec2: Any, instance_id: str) -> tuple[str, str, dict[str, str]]:
    found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return found["State"]["Name"], found["InstanceType"], tags_to_dict(found.get("Tags"))


# -- the steps ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("adopt", [False, True], ids=["plain", "adopt-flag"])
@pytest.mark.parametrize("owner", OWNERS)
def test_a_visit_refuses_a_foreign_instance_by_name(
    cloud: Any, ec2: Any, ami_id: str, clock: VirtualClock, owner: str | None, adopt: bool
) -> None:
    control_plane = ControlPlane(InMemoryStateStore(clock=clock.now), cloud.client_factory, clock=clock.now,
                                 deployment="test")
    instance_id = foreign_instance(ec2, ami_id, "fr-web", owner)
    before = facts(ec2, instance_id)
    definition = instance("web", ami_id, **({"adopt": True} if adopt else {}))
    plan_all(control_plane, PlanInput(definition=definition, desired_state="running", execution=EXECUTION))

    with pytest.raises(ForeignResourceError) as refused:
        converge(control_plane, ConvergeInput(pcf_id="ec2_instance:web", execution=EXECUTION))

    assert instance_id in str(refused.value)
    assert (f"PCFDeployment={owner!r}" if owner else "no PCFDeployment tag") in str(refused.value)
    if adopt:
        assert "control plane never adopts" in str(refused.value)
    assert facts(ec2, instance_id) == before
    assert control_plane.store.get_observation("ec2_instance:web") is None  # the foreign id is never recorded
    assert HistoryKind.transition not in {i.kind for i in control_plane.store.list_history("ec2_instance:web")}


# -- the deployed workflow, events and reconciliation ------------------------------------------------------
@pytest.fixture
def deployment(cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from deployed(cloud, monkeypatch.setenv, "foreign", rules_off=True)


def heal_executions(cloud: Any, deployment: Any) -> list[dict[str, Any]]:
    executions = cloud.client("stepfunctions").list_executions(
        stateMachineArn=deployment.state_machine_arns["apply"])["executions"]
    return [e for e in executions if e["name"].startswith(("heal-", "drift-"))]


def test_the_workflow_fails_by_name_and_leaves_the_instance_alone(
    deployment: Any, ec2: Any, ami_id: str
) -> None:
    instance_id = foreign_instance(ec2, ami_id, "fr-web", "pcf-prod")
    before = facts(ec2, instance_id)
    result = deployment.run_execution("apply", {"definition": instance("web", ami_id), "desired_state": "running",
                                                "wait_seconds": 0, "max_polls": 5}, name="foreign-run")
    assert result.status == "FAILED"
    assert result.output["error"] == "ForeignResourceError"
    assert instance_id in result.output["cause"] and "pcf-prod" in result.output["cause"]
    assert facts(ec2, instance_id) == before


def test_events_and_reconciliation_ignore_a_foreign_namesake(
    deployment: Any, cloud: Any, ec2: Any, ami_id: str
) -> None:
    up = deployment.run_execution("apply", {"definition": instance("x", ami_id), "desired_state": "running",
                                            "wait_seconds": 0, "max_polls": 30}, name="x-up")
    assert up.status == "SUCCEEDED", up.output
    ours = wiring.control_plane().store.get_observation("ec2_instance:x").resource_id
    theirs = foreign_instance(ec2, ami_id, "fr-x", "pcf-prod")
    ec2.stop_instances(InstanceIds=[theirs])  # behind the framework's back
    history = wiring.control_plane().store.list_history("ec2_instance:x")

    event = invoke_function(deployment, "on_ec2_event", instance_event(theirs, "stopped"))
    report = reconcile_run(deployment)

    assert event["status"] == "ignored"
    assert report["drifted"] == []
    assert heal_executions(cloud, deployment) == []
    assert wiring.control_plane().store.get_observation("ec2_instance:x").resource_id == ours
    assert [i for i in wiring.control_plane().store.list_history("ec2_instance:x") if i not in history] == []
    assert facts(ec2, theirs)[0] == "stopped" and facts(ec2, ours)[0] == "running"
