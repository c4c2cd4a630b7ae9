"""Whole executions of state_machines/apply.asl.json on the local cloud: the real ASL, the real handlers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pcf_control_plane import wiring
from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.control_plane import deploy_control_plane
from pcf_local_cloud.deployment import child_executions, execution_history, execution_tree_history
from tests.support.executions import time_passing
from tests.support.tags import named

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


def _page_history(deployment: Any, result: Any) -> list[dict[str, Any]]:
    """The history of the one page execution of an apply of one particle."""
    [page] = child_executions(result.history)
    return execution_history(deployment.cloud.client("stepfunctions"), page)


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
    """The pcf_ids in the order the execution (through its page executions' visits) carried out transitions."""
    arn = deployment.execution_arn("apply", execution)
    tree = execution_tree_history(deployment.cloud.client("stepfunctions"), arn)
    acted = []
    for events in tree.values():
        for event in events:
            output = json.loads((event.get("lambdaFunctionSucceededEventDetails") or {}).get("output") or "{}")
            if isinstance(output, dict) and output.get("acted"):
                acted.append((event["timestamp"], output["pcf_id"]))
    return [pcf_id for _, pcf_id in sorted(acted)]


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
    deployment: Any, cloud: Any, clock: VirtualClock, ami_id: str, ec2: Any
) -> None:
    """No event ever ends its transition: each wait for one ends with its heartbeat and a visit, until max_polls."""
    reservation = ec2.run_instances(ImageId=ami_id, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": named("wf-stuck")}])
    cloud.hold_pending(reservation["Instances"][0]["InstanceId"])
    with time_passing(clock, 10):
        result = deployment.run_execution("apply", {
            "definition": instance("stuck", ami_id), "desired_state": "running", "wait_seconds": 0, "max_polls": 3,
            "await_seconds": 30}, name="stuck")
    assert result.status == "FAILED"
    assert result.output["error"] == "ParticleTimeoutError"
    assert "after 3 visits (last seen: pending)" in result.output["cause"]
    assert wiring.control_plane().store.current_lease("ec2_instance:stuck") is None
    page = _page_history(deployment, result)
    assert [e["taskTimedOutEventDetails"]["error"] for e in page if e["type"] == "TaskTimedOut"] == [
        "States.HeartbeatTimeout"] * 2, "two waits for an event, each ended by its heartbeat"
    assert not [e for e in page if e["type"] == "WaitStateEntered"], "no poll"


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
    deployment: Any, cloud: Any, clock: Any, ami_id: str, ec2: Any
) -> None:
    """A launches the instance and holds the lease while it is pending; B, visiting meanwhile, never acts: it
    waits out its visits for the lease and fails clearly. A then converges it."""
    cloud.pending_seconds = 600.0  # pending until the test moves the cloud's clock
    sfn = cloud.client("stepfunctions")
    sfn.start_execution(stateMachineArn=deployment.state_machine_arns["apply"], name="busy-a", input=json.dumps(
        {"definition": instance("busy", ami_id), "desired_state": "running", "wait_seconds": 1,
         "max_polls": 120}))
    store = None
    lease = None
    for _ in range(400):
        store = wiring.control_plane().store
        lease = store.current_lease("ec2_instance:busy") if store.get_spec("ec2_instance:busy") else None
        if lease is not None:
            break
        time.sleep(0.05)
    assert lease is not None and lease.owner.endswith(":busy-a")

    second = run(deployment, instance("busy", ami_id), "running", "busy-b", max_polls=3)

    assert second.status == "FAILED"
    assert second.output["error"] == "LeaseHeldError"
    assert "busy-a" in second.output["cause"]
    clock.advance(600)
    arn = deployment.execution_arn("apply", "busy-a")
    for _ in range(600):
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            break
        time.sleep(0.05)
    assert status == "SUCCEEDED"
    assert len(live(ec2, "wf-busy")) == 1
    b_items = [item for item in store.list_history("ec2_instance:busy") if item.cause.endswith(":busy-b")]
    assert all(item.kind != "transition" for item in b_items)


def test_rollback_terminates_only_what_the_failed_execution_created(deployment: Any, ami_id: str, ec2: Any) -> None:
    """old exists before; new and kept are created; broken fails at launch. Rollback ends new only:
    old was pre-existing and kept is persisted."""
    old = instance("old", ami_id)
    assert run(deployment, old, "running", "rb-before").status == "SUCCEEDED"
    [old_before] = live(ec2, "wf-old")
    broken = instance("broken", ami_id, parents=["ec2_instance:new"])
    broken["aws_resource"]["SecurityGroupIds"] = ["sg-00000000000000000"]  # launch refused: no such group
    definition = {"pcf_name": "rb", "flavor": "quasiparticle", "particles": [
        old, instance("new", ami_id), instance("kept", ami_id, persist_on_termination=True), broken]}

    result = deployment.run_execution("apply", {"definition": definition, "desired_state": "running",
                                                "wait_seconds": 0, "max_polls": 20, "rollback": True}, name="rb")

    assert result.status == "FAILED"
    assert "ec2_instance:broken" in result.output["cause"]
    assert result.output["error"] not in ("States.TaskFailed", "States_TaskFailed")
    assert [i["InstanceId"] for i in live(ec2, "wf-old")] == [old_before["InstanceId"]]
    assert live(ec2, "wf-new") == []
    assert [i["State"]["Name"] for i in live(ec2, "wf-kept")] == ["running"]
    assert live(ec2, "wf-broken") == []
    store = wiring.control_plane().store
    assert store.get_spec("ec2_instance:new").desired_state == "terminated"
    assert store.get_spec("ec2_instance:old").desired_state == "running"
    assert [item.detail["error"] for item in store.list_history("ec2_instance:new") if item.kind == "rollback"] == [
        result.output["error"]]
    assert all(store.current_lease(pcf_id) is None for pcf_id in
               ("ec2_instance:old", "ec2_instance:new", "ec2_instance:kept", "ec2_instance:broken"))


def test_without_rollback_a_failure_leaves_what_was_created(deployment: Any, ami_id: str, ec2: Any) -> None:
    broken = instance("broken2", ami_id, parents=["ec2_instance:made"])
    broken["aws_resource"]["SecurityGroupIds"] = ["sg-00000000000000000"]
    definition = {"pcf_name": "norb", "flavor": "quasiparticle", "particles": [instance("made", ami_id), broken]}
    result = run(deployment, definition, "running", "norb")
    assert result.status == "FAILED"
    assert [i["State"]["Name"] for i in live(ec2, "wf-made")] == ["running"]
    assert wiring.control_plane().store.get_spec("ec2_instance:made").desired_state == "running"


def test_an_execution_converges_with_30_percent_of_ec2_and_dynamodb_calls_throttled(
    deployment: Any, cloud: Any, ami_id: str, ec2: Any
) -> None:
    definition = {"pcf_name": "busy-api", "flavor": "quasiparticle", "particles": [
        instance("head", ami_id), instance("tail", ami_id, multiplier=3, parents=["ec2_instance:head"])]}
    faults = cloud.inject_throttling(0.3, seed=7)
    up = run(deployment, definition, "running", "throttled-up")
    down = run(deployment, definition, "stopped", "throttled-down")
    injected, requests = dict(faults.injected), dict(faults.requests)
    cloud.inject_throttling(0.0)

    assert (up.status, down.status) == ("SUCCEEDED", "SUCCEEDED"), (up.output, down.output)
    assert injected["ec2"] >= 3 and injected["dynamodb"] >= 10, injected
    assert 0.2 < sum(injected.values()) / sum(requests.values()) < 0.4
    names = ["wf-head", "wf-tail-0", "wf-tail-1", "wf-tail-2"]
    assert [[i["State"]["Name"] for i in live(ec2, name)] for name in names] == [["stopped"]] * 4, (
        "one instance each (ClientToken held across retries), all stopped")


def cluster(ami_id: str) -> dict[str, Any]:
    """A master; two workers tagged with the master's private IP; a volume per worker in the worker's zone."""
    worker = instance("node", ami_id, multiplier=2, parents=["ec2_instance:lead"])
    worker["aws_resource"]["custom_config"]["tags"] = {"Lead": "$inherit$ec2_instance:lead$PrivateIpAddress"}
    volume = {"pcf_name": "disk", "flavor": "ebs_volume", "multiplier": 2, "parents": ["ec2_instance:node"],
              "aws_resource": {"AvailabilityZone": "$inherit$ec2_instance:node$Placement.AvailabilityZone",
                               "Size": 8, "VolumeType": "gp3",
                               "custom_config": {"volume_name": "wf-disk", "attach": True, "device": "/dev/sdf"}}}
    return {"pcf_name": "wf-cluster", "flavor": "quasiparticle",
            "particles": [instance("lead", ami_id), worker, volume]}


def test_the_cluster_attaches_volumes_and_inherits_from_stored_observations(
    deployment: Any, ami_id: str, ec2: Any
) -> None:
    result = run(deployment, cluster(ami_id), "running", "cluster-up")
    assert result.status == "SUCCEEDED", result.output
    assert result.output["states"] == {"running": 5}
    [lead] = live(ec2, "wf-lead")
    store = wiring.control_plane().store
    assert store.get_observation("ec2_instance:lead").snapshot["exports"] == {
        "PrivateIpAddress": lead["PrivateIpAddress"]}
    for index in (0, 1):
        [node] = live(ec2, f"wf-node-{index}")
        assert {t["Key"]: t["Value"] for t in node["Tags"]}["Lead"] == lead["PrivateIpAddress"]
        observed = store.get_observation(f"ebs_volume:disk-{index}")
        [volume] = ec2.describe_volumes(VolumeIds=[observed.resource_id])["Volumes"]
        assert volume["AvailabilityZone"] == node["Placement"]["AvailabilityZone"]
        assert [a["InstanceId"] for a in volume["Attachments"]] == [node["InstanceId"]]

    assert run(deployment, cluster(ami_id), "stopped", "cluster-stop").status == "SUCCEEDED"
    stop = transition_order(deployment, "cluster-stop")
    assert stop.index("ec2_instance:lead") > max(stop.index("ec2_instance:node-0"), stop.index("ec2_instance:node-1"))
    assert [i["State"]["Name"] for i in live(ec2, "wf-lead")] == ["stopped"]
