"""Two applies of the same particles to different desired states: the one whose plan a newer plan replaced fails
with ``SupersededError`` instead of converging to the other's state and succeeding; the newer one waits for the
lease the older held and converges."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pcf_control_plane import wiring
from pcf_control_plane.converge import converge
from pcf_control_plane.errors import SupersededError
from pcf_control_plane.messages import ConvergeInput, PlanInput
from pcf_control_plane.steps import ControlPlane
from pcf_control_plane.store import InMemoryStateStore
from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.control_plane import deploy_control_plane
from tests.support.executions import finished
from tests.support.steps import plan_all

DUEL = "ec2_instance:duel"
RUN = "arn:aws:states:us-east-1:123456789012:execution:apply:run-1"
TERMINATE = "arn:aws:states:us-east-1:123456789012:execution:apply:terminate-1"


def instance(name: str, ami_id: str) -> dict[str, Any]:
    return {"pcf_name": name, "flavor": "ec2_instance",
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                             "custom_config": {"instance_name": f"sup-{name}"}}}


def test_a_superseded_execution_fails_at_its_next_visit(cloud: Any, clock: VirtualClock, ami_id: str) -> None:
    steps = ControlPlane(InMemoryStateStore(clock=clock.now), cloud.client_factory, clock=clock.now,
                         deployment="test")
    cloud.pending_seconds = 5.0
    plan_all(steps, PlanInput(definition=instance("duel", ami_id), desired_state="running", execution=RUN))
    first = converge(steps, ConvergeInput(pcf_id=DUEL, execution=RUN))
    assert (first.acted, first.action, first.generation) == ("start", "later", 1)

    plan_all(steps, PlanInput(definition=instance("duel", ami_id), desired_state="terminated", execution=TERMINATE))

    with pytest.raises(SupersededError) as superseded:
        converge(steps, ConvergeInput(pcf_id=DUEL, execution=RUN, generation=first.generation))
    assert str(superseded.value) == (
        "ec2_instance:duel: this execution planned generation 1, but generation 2 (desired terminated) replaced "
        "it, planned by terminate-1; left to that execution")
    newer = converge(steps, ConvergeInput(pcf_id=DUEL, execution=TERMINATE))
    assert (newer.generation, newer.lease_holder) == (2, RUN), "the newer one goes on, once the lease is free"
    assert converge(steps, ConvergeInput(pcf_id=DUEL, execution="unplanned")).generation == 0, (
        "a visit outside a planned execution is not checked")


@pytest.fixture
def deployment(cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield deploy_control_plane(cloud, environment={"PCF_TABLE_NAME": "pcf-duel-test", "PCF_DEPLOYMENT": "duel"},
                               setenv=monkeypatch.setenv)
    wiring.reset()


def start(cloud: Any, deployment: Any, name: str, definition: dict[str, Any], state: str) -> str:
    return str(cloud.client("stepfunctions").start_execution(
        stateMachineArn=deployment.state_machine_arns["apply"], name=name, input=json.dumps(
            {"definition": definition, "desired_state": state, "wait_seconds": 1, "max_polls": 60,
             "await_seconds": 1}))["executionArn"])


def test_a_run_and_a_terminate_started_together_do_not_both_succeed(
    deployment: Any, cloud: Any, clock: VirtualClock, ami_id: str, ec2: Any
) -> None:
    """The run launches the instance and holds the lease while it is pending; the terminate plans meanwhile (a
    newer generation) and waits for the lease. The run fails by name at its next visit (its wait for the launch's
    event ends with its heartbeat, as the terminate's polls move the clock), giving the lease back; the terminate
    then converges."""
    cloud.pending_seconds = 600.0  # each phase lasts until the test moves the cloud's clock
    run_arn = start(cloud, deployment, "duel-run", instance("duel", ami_id), "running")
    for _ in range(500):
        store = wiring.control_plane().store
        lease = store.current_lease(DUEL) if store.get_spec(DUEL) else None
        if lease is not None:
            break
        time.sleep(0.02)
    assert lease is not None and lease.owner == run_arn

    terminate_arn = start(cloud, deployment, "duel-terminate", instance("duel", ami_id), "terminated")
    sfn = cloud.client("stepfunctions")
    for _ in range(1500):  # the run's wait for its launch's event ends with its heartbeat, on the cloud's clock
        clock.advance(1)
        if sfn.describe_execution(executionArn=run_arn)["status"] != "RUNNING":
            break
        time.sleep(0.02)
    assert finished(sfn, run_arn, attempts=1) == "FAILED"
    store = wiring.control_plane().store
    waits: list[str] = []
    for _ in range(1500):  # each wait of the terminate for an event (the launch's end, then its own) ends as the
        wait = store.read_family(DUEL, []).particle.wait  # clock passes the end of the phase it waits for
        if wait is not None and wait.owner == terminate_arn and wait.token not in waits:
            waits.append(wait.token)
            clock.advance(600)
        if sfn.describe_execution(executionArn=terminate_arn)["status"] != "RUNNING":
            break
        time.sleep(0.02)
    assert finished(sfn, terminate_arn, attempts=1) == "SUCCEEDED"
    assert waits, "the terminate waited for events, never polled the pending launch"
    clock.advance(600)  # the termination ends (when the terminate saw it gone already)

    failure = sfn.describe_execution(executionArn=run_arn)
    assert failure["error"] == "SupersededError"
    assert "replaced it, planned by duel-terminate" in failure["cause"]
    summary = json.loads(sfn.describe_execution(executionArn=terminate_arn)["output"])
    assert summary["states"] == {"terminated": 1}
    [launched] = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert launched["State"]["Name"] == "terminated"
    store = wiring.control_plane().store
    history = store.list_history(DUEL, newest_first=False)
    assert [i.detail["error"] for i in history if i.kind == "error"] == ["SupersededError"]
    replaced = next(n for n, item in enumerate(history) if item.kind == "plan" and item.cause == terminate_arn)
    assert not [i for i in history[replaced:] if i.kind == "transition" and i.cause == run_arn], (
        "the run never acted once the terminate had replaced its plan")
