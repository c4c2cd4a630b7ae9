"""The page machine waits for the event that ends a particle's transition instead of polling (``Await``: a task
token written on the particle's observation item, the event handler resumes it), on the local cloud with its
roles enforced: the event resumes it, a lost event ends with the heartbeat and one more visit, and ``waits: poll``
polls as before. The ``Await`` task's UpdateItem is the store's ``arm_wait`` request."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from deploy.build_merge_template import definition
from pcf_control_plane import wiring
from pcf_control_plane.store import Wait
from pcf_control_plane.store.items import arm_wait_update
from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.control_plane import deploy_control_plane
from pcf_local_cloud.deployment import child_executions, execution_history
from tests.support.executions import finished, time_passing

PCF_ID = "ec2_instance:waiter"
PENDING_S = 5.0


def _await_state() -> dict[str, Any]:
    return dict(definition("page")["States"]["Particles"]["ItemProcessor"]["States"]["Await"])


def test_the_await_task_sends_the_stores_arm_wait_request() -> None:
    parameters = _await_state()["Parameters"]
    expected = arm_wait_update("web", Wait(token="t", want="running", owner="run", generation=3), "i-1")
    assert parameters["UpdateExpression"] == expected["UpdateExpression"]
    assert parameters["ConditionExpression"] == expected["ConditionExpression"]
    assert parameters["ExpressionAttributeNames"] == expected["ExpressionAttributeNames"]
    assert set(parameters["ExpressionAttributeValues"]) == set(expected["ExpressionAttributeValues"])
    assert parameters["ExpressionAttributeValues"][":pending"] == expected["ExpressionAttributeValues"][":pending"]
    assert {name: next(iter(value)).removesuffix(".$") for name, value in
            parameters["ExpressionAttributeValues"].items()} == {
        name: next(iter(value)) for name, value in expected["ExpressionAttributeValues"].items()}, "same types"
    assert parameters["Key"]["sk"] == expected["Key"]["sk"]
    assert parameters["Key"]["pk"] == {"S.$": "States.Format('P#{}', $.pcf_id)"}
    assert expected["Key"]["pk"] == {"S": "P#web"}


@pytest.fixture
def deployment(slow_cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    slow_cloud.pending_seconds = PENDING_S
    yield deploy_control_plane(slow_cloud, environment={"PCF_TABLE_NAME": "pcf-await-test",
                                                        "PCF_DEPLOYMENT": "await"}, setenv=monkeypatch.setenv)
    wiring.reset()


def _input(ami_id: str, **settings: Any) -> dict[str, Any]:
    return {"definition": {"pcf_name": "waiter", "flavor": "ec2_instance", "aws_resource": {
        "ImageId": ami_id, "InstanceType": "t3.micro", "custom_config": {"instance_name": "await-waiter"}}},
        "desired_state": "running", "wait_seconds": 0, "max_polls": 200, **settings}


def _start(deployment: Any, name: str, ami_id: str, **settings: Any) -> str:
    return str(deployment.cloud.client("stepfunctions").start_execution(
        stateMachineArn=deployment.state_machine_arns["apply"], name=name,
        input=json.dumps(_input(ami_id, **settings)))["executionArn"])


def _armed_by(execution: str) -> Wait:
    """The wait ``execution`` armed on the particle (10 s of real time at most)."""
    for _ in range(500):
        family = wiring.control_plane().store.read_family(PCF_ID, []) if _planned() else None
        wait = family.particle.wait if family else None
        if wait is not None and wait.owner == execution:
            return wait
        time.sleep(0.02)
    raise AssertionError(f"{execution} never waited for an event")


def _planned() -> bool:
    return wiring.control_plane().store.get_spec(PCF_ID) is not None


def _page(sfn: Any, execution: str) -> list[dict[str, Any]]:
    [page] = child_executions(execution_history(sfn, execution))
    return execution_history(sfn, page)


def _entered(history: list[dict[str, Any]], state_type: str) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in history if e["type"] == state_type]


def test_the_launch_event_resumes_the_waiting_particle(
    deployment: Any, slow_cloud: Any, clock: VirtualClock, known_ami_id: str
) -> None:
    sfn = slow_cloud.client("stepfunctions")
    arn = _start(deployment, "events", known_ami_id)
    wait = _armed_by(arn)
    assert wait.want == "running" and wait.generation == 1
    clock.advance(PENDING_S)  # the launch ends: EC2's event reaches on_ec2_event, which resumes the task
    assert finished(sfn, arn) == "SUCCEEDED"

    page = _page(sfn, arn)
    assert _entered(page, "TaskStateEntered") == ["LoadPage", "Converge", "Await", "Converge"]
    assert _entered(page, "WaitStateEntered") == [], "no poll"
    assert [e["type"] for e in page if e["type"].startswith("TaskTimedOut")] == []
    store = wiring.control_plane().store
    family = store.read_family(PCF_ID, [])
    assert family.particle.observation is not None and family.particle.observation.state == "running"
    assert family.particle.converged_by == arn and store.current_lease(PCF_ID) is None
    assert family.particle.wait is None, "the last visit's commit removed the wait"


def test_a_lost_event_ends_with_the_heartbeat_and_one_more_visit(
    deployment: Any, slow_cloud: Any, clock: VirtualClock, known_ami_id: str
) -> None:
    slow_cloud.client("events").disable_rule(Name="pcf-serverless-dev-on_ec2_event-event")  # events go nowhere
    sfn = slow_cloud.client("stepfunctions")
    arn = _start(deployment, "lost", known_ami_id, await_seconds=30)
    _armed_by(arn)
    clock.advance(PENDING_S)  # running, unannounced
    clock.advance(30)  # the heartbeat expires: the particle is visited again and found running
    assert finished(sfn, arn) == "SUCCEEDED"
    page = _page(sfn, arn)
    assert [e["taskTimedOutEventDetails"]["error"] for e in page if e["type"] == "TaskTimedOut"] == [
        "States.HeartbeatTimeout"]
    assert _entered(page, "TaskStateEntered") == ["LoadPage", "Converge", "Await", "Converge"]


def test_poll_mode_polls_and_never_waits_for_an_event(
    deployment: Any, slow_cloud: Any, clock: VirtualClock, known_ami_id: str
) -> None:
    with time_passing(clock, 1):
        result = deployment.run_execution("apply", _input(known_ami_id, max_polls=2000, waits="poll"), name="polls")
    assert result.status == "SUCCEEDED", result.output
    [page_arn] = child_executions(result.history)
    page = execution_history(slow_cloud.client("stepfunctions"), page_arn)
    assert "Await" not in _entered(page, "TaskStateEntered")
    assert _entered(page, "WaitStateEntered"), "it polled"
