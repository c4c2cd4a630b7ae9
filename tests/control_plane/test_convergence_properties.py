"""A property-based sweep over the control plane on the local cloud: random dependency graphs, random actions
behind the framework's back, their EC2 events delivered in a random order (duplicated, late or lost), then the
scheduled reconciliation. After convergence: every particle in its desired state, no child started while a
parent was not running, the unmanaged instance untouched, no duplicate resource."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcf_control_plane import wiring
from pcf_control_plane.store import StateStore
from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from tests.support.deployments import deployed, instance_event, invoke_function, reconcile_run
from tests.support.executions import finished

PREFIX = "sweep"
UNMANAGED = {"PCFName": "sweep-bystander", "PCFDeployment": "someone-else", "Team": "other"}
RECONCILE_PASSES = 3


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A graph of 2-4 instances (edges from earlier to later ones), what happens to some of them behind the
    framework's back, and the fate and order of each resulting event."""
    size = draw(st.integers(2, 4))
    edges = [(i, j) for j in range(size) for i in range(j) if draw(st.booleans())]
    acted = draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=size, unique=True))
    actions = {index: draw(st.sampled_from(["stop", "stop", "terminate"])) for index in acted}
    fates = [draw(st.sampled_from(["deliver", "duplicate", "late", "lost"])) for _ in acted]
    order = draw(st.permutations(range(len(acted))))
    return {"size": size, "edges": edges, "actions": actions, "fates": fates, "order": order}


def definition(ami_id: str, size: int, edges: list[tuple[int, int]]) -> dict[str, Any]:
    members = []
    for index in range(size):
        parents = [f"ec2_instance:n{i}" for i, j in edges if j == index]
        members.append({"pcf_name": f"n{index}", "flavor": "ec2_instance", "parents": parents,
                        "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                                         "custom_config": {"instance_name": f"{PREFIX}-n{index}"}}})
    return {"pcf_name": PREFIX, "flavor": "quasiparticle", "particles": members}


def instances(ec2: Any) -> list[dict[str, Any]]:
    return [item for reservation in ec2.describe_instances()["Reservations"] for item in reservation["Instances"]]


def live_by_name(ec2: Any) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for item in instances(ec2):
        if item["State"]["Name"] not in ("terminated", "shutting-down"):
            name = {t["Key"]: t["Value"] for t in item.get("Tags", [])}.get("PCFName", "")
            found.setdefault(name, []).append(item)
    return found


def wait_for_executions(cloud: LocalCloud, machine_arn: str) -> None:
    sfn = cloud.client("stepfunctions")
    for execution in sfn.list_executions(stateMachineArn=machine_arn)["executions"]:
        assert finished(sfn, execution["executionArn"], attempts=3000) in ("SUCCEEDED", "FAILED")


def assert_parents_ran_before_children_started(store: StateStore, size: int, edges: list[tuple[int, int]]) -> None:
    """Each start of a child, by any execution, came when every parent's newest observation by an execution (the
    steps stamp theirs with one clock) was ``running``."""
    def items(index: int) -> list[Any]:
        return [i for i in store.list_history(f"ec2_instance:n{index}", limit=1000, newest_first=False)
                if ":execution:" in i.cause]

    for parent, child in edges:
        observations = [(i.at, i.detail["state"]) for i in items(parent) if i.kind == "observation"]
        for start in (i for i in items(child) if i.kind == "transition" and i.detail["action"] == "start"):
            before = [state for at, state in observations if at < start.at]
            assert before and before[-1] == "running", (f"n{child} started at {start.at} while n{parent} was "
                                                         f"{before[-1] if before else 'never observed'}")


@given(scenario=scenarios())
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_the_control_plane_converges_in_dependency_order_whatever_the_events(
    known_ami_id: str, scenario: dict[str, Any]
) -> None:
    clock = VirtualClock()
    with LocalCloud(clock=clock) as cloud, pytest.MonkeyPatch.context() as patch:
        deployments = deployed(cloud, patch.setenv, "sweep", max_polls=2000, rules_off=True)
        deployment = next(deployments)
        try:
            converge_and_check(cloud, deployment, clock, known_ami_id, scenario)
        finally:
            deployments.close()  # resets the wiring


def converge_and_check(cloud: LocalCloud, deployment: Any, clock: VirtualClock, known_ami_id: str,
                       scenario: dict[str, Any]) -> None:
    """Apply, act behind the framework's back, deliver the events as the scenario says, reconcile, check."""
    ec2 = cloud.client("ec2")
    bystander = ec2.run_instances(ImageId=known_ami_id, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                  TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                      {"Key": k, "Value": v} for k, v in UNMANAGED.items()]}],
                                  )["Instances"][0]["InstanceId"]
    size, edges = scenario["size"], scenario["edges"]
    applied = deployment.run_execution("apply", {"definition": definition(known_ami_id, size, edges),
                                                 "desired_state": "running", "wait_seconds": 0,
                                                 "max_polls": 50}, name="sweep-up")
    assert applied.status == "SUCCEEDED", applied.output
    store = wiring.control_plane().store
    ids = {index: store.get_observation(f"ec2_instance:n{index}").resource_id for index in range(size)}
    clock.advance(120)  # the events below are news to the observations the apply made

    acted = list(scenario["actions"].items())
    for index, action in acted:  # behind the framework's back
        getattr(ec2, f"{action}_instances")(InstanceIds=[ids[index]])
    deliveries: list[dict[str, Any]] = []
    late: list[dict[str, Any]] = []
    for position in scenario["order"]:
        (index, action), fate = acted[position], scenario["fates"][position]
        state = "stopped" if action == "stop" else "terminated"
        event = instance_event(ids[index], state, seconds_ahead=300)
        if fate in ("deliver", "duplicate"):
            deliveries += [event] * (2 if fate == "duplicate" else 1)
        elif fate == "late":  # an older event arriving after the newer ones
            late.append(instance_event(ids[index], "running", seconds_ahead=-3600))
            deliveries.append(event)
    for event in deliveries + late:
        invoke_function(deployment, "on_ec2_event", event)
    wait_for_executions(cloud, deployment.state_machine_arns["apply"])
    for _ in range(RECONCILE_PASSES):  # lost events are the schedule's to catch
        report = reconcile_run(deployment)
        wait_for_executions(cloud, deployment.state_machine_arns["apply"])
        if not report["drifted"]:
            break

    live = live_by_name(ec2)
    for index in range(size):
        found = live.get(f"{PREFIX}-n{index}", [])
        assert [i["State"]["Name"] for i in found] == ["running"], (f"n{index}", found)
    [other] = [i for i in instances(ec2) if i["InstanceId"] == bystander]
    assert (other["State"]["Name"], other["InstanceType"]) == ("running", "t3.nano")
    assert {t["Key"]: t["Value"] for t in other["Tags"]} == UNMANAGED
    assert_parents_ran_before_children_started(store, size, edges)
