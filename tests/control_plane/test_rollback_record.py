"""A rollback is honoured afterwards: what the failed apply created is desired terminated, what it failed or
never reached is marked rolled back, and neither the schedule nor an EC2 event brings any of it back until a new
apply plans it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pcf_control_plane import wiring
from tests.support.deployments import deployed, instance_event, invoke_function, reconcile_run

BASE, BROKEN, TAIL = "ec2_instance:base", "ec2_instance:broken", "ec2_instance:tail"


@pytest.fixture
def deployment(cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from deployed(cloud, monkeypatch.setenv, "rollback", rules_off=True)  # the test delivers the events


def instance(name: str, ami_id: str, **extra: Any) -> dict[str, Any]:
    return {"pcf_name": name, "flavor": "ec2_instance", **extra,
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                             "custom_config": {"instance_name": f"rbk-{name}"}}}


def chain(ami_id: str, *, broken: bool) -> dict[str, Any]:
    """base <- middle ("broken": its launch is refused) <- tail."""
    middle = instance("broken", ami_id, parents=[BASE])
    if broken:
        middle["aws_resource"]["SecurityGroupIds"] = ["sg-00000000000000000"]  # no such group
    return {"pcf_name": "rbk", "flavor": "quasiparticle",
            "particles": [instance("base", ami_id), middle, instance("tail", ami_id, parents=[BROKEN])]}


def run(deployment: Any, definition: dict[str, Any], name: str, **settings: Any) -> Any:
    return deployment.run_execution("apply", {"definition": definition, "desired_state": "running",
                                              "wait_seconds": 0, "max_polls": 20, **settings}, name=name)


def live(ec2: Any) -> dict[str, list[str]]:
    """PCFName -> states of its instances that are not terminated."""
    found: dict[str, list[str]] = {}
    for reservation in ec2.describe_instances()["Reservations"]:
        for item in reservation["Instances"]:
            if item["State"]["Name"] not in ("terminated", "shutting-down"):
                name = {t["Key"]: t["Value"] for t in item["Tags"]}["PCFName"]
                found.setdefault(name, []).append(item["State"]["Name"])
    return found


def executions(cloud: Any, deployment: Any) -> list[str]:
    return [e["name"] for e in cloud.client("stepfunctions").list_executions(
        stateMachineArn=deployment.state_machine_arns["apply"])["executions"]]


def test_neither_the_schedule_nor_an_event_undoes_a_rollback_until_a_new_apply(
    deployment: Any, cloud: Any, ami_id: str, ec2: Any
) -> None:
    assert run(deployment, instance("tail", ami_id), "tail-alone").status == "SUCCEEDED"  # tail exists before
    failed = run(deployment, chain(ami_id, broken=True), "rbk-up", rollback=True)
    assert failed.status == "FAILED"
    store = wiring.control_plane().store
    arn = deployment.execution_arn("apply", "rbk-up")
    specs = {pcf_id: store.get_spec(pcf_id) for pcf_id in (BASE, BROKEN, TAIL)}
    assert {pcf_id: (spec.desired_state, spec.flags.rolled_back_by) for pcf_id, spec in specs.items()} == {
        BASE: ("terminated", arn), BROKEN: ("running", arn), TAIL: ("running", arn)}
    left = {pcf_id: [i.detail.get("left_out") for i in store.list_history(pcf_id) if i.kind == "rollback"]
            for pcf_id in (BASE, BROKEN, TAIL)}
    assert left == {BASE: [None], BROKEN: ["failed"], TAIL: ["not reached"]}
    assert live(ec2) == {"rbk-tail": ["running"]}, "base created then terminated, broken never launched"
    ec2.stop_instances(InstanceIds=[store.get_observation(TAIL).resource_id])  # behind the framework's back
    before = executions(cloud, deployment)

    report = reconcile_run(deployment)
    tail_id = store.get_observation(TAIL).resource_id
    event = invoke_function(deployment, "on_ec2_event", instance_event(tail_id, "stopped"))

    drifted = {d["pcf_id"]: (d["action"], d["outcome"]) for d in report["drifted"]}
    assert drifted == {BROKEN: ("start", "rolled_back"), TAIL: ("start", "rolled_back")}
    assert (event["status"], event["pcf_id"], event["heal"]["status"]) == ("recorded", TAIL, "rolled_back")
    assert "rolled back by rbk-up" in event["heal"]["reason"]
    assert executions(cloud, deployment) == before, "no heal, no revert"
    assert live(ec2) == {"rbk-tail": ["stopped"]}, "nothing created or started"
    for pcf_id in (BROKEN, TAIL):
        [why, *_] = [i for i in store.list_history(pcf_id) if i.kind == "heal"]  # newest first
        assert (why.detail["status"], why.detail["action"]) == ("rolled_back", "start")
        assert "until a new apply plans it" in why.detail["reason"]

    fixed = run(deployment, chain(ami_id, broken=False), "rbk-again")

    assert fixed.status == "SUCCEEDED", fixed.output
    assert live(ec2) == {"rbk-base": ["running"], "rbk-broken": ["running"], "rbk-tail": ["running"]}
    assert all(store.get_spec(pcf_id).flags.rolled_back_by is None for pcf_id in (BASE, BROKEN, TAIL)), (
        "the new plan cleared the mark")
