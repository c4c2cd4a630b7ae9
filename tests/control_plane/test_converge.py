"""The ``converge`` step: one visit reads, decides, acts once and reads back, over each state store."""

from __future__ import annotations

from typing import Any

import pytest

from pcf_control_plane.converge import converge
from pcf_control_plane.errors import SupersededError
from pcf_control_plane.messages import ConvergeInput, ParticleFailure, PlanInput
from pcf_control_plane.steps import ControlPlane
from pcf_control_plane.store import HistoryKind
from pcf_local_cloud.clock import VirtualClock
from tests.store.store_support import CallCounter
from tests.support.ec2_calls import Calls
from tests.support.steps import STORES, instance, live_instances, plan_all, steps_over

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:apply:converge-1"
OTHER = "arn:aws:states:us-east-1:123456789012:execution:apply:converge-2"


@pytest.fixture(params=STORES)
def steps(request: pytest.FixtureRequest, slow_cloud: Any, clock: VirtualClock) -> ControlPlane:
    """The steps over each store, in a cloud whose instances spend 5 virtual seconds pending or stopping."""
    return steps_over(request.param, slow_cloud, clock)


@pytest.fixture
def ami(slow_cloud: Any, known_ami_id: str) -> str:
    """An AMI id moto knows, in the slow cloud."""
    return known_ami_id


def visit(steps: ControlPlane, pcf_id: str, execution: str = EXECUTION, generation: int = 0) -> Any:
    return converge(steps, ConvergeInput(pcf_id=pcf_id, execution=execution, generation=generation))


def kinds(steps: ControlPlane, pcf_id: str) -> list[tuple[str, Any]]:
    """The particle's history, oldest first, as (kind, the detail worth comparing)."""
    return [(item.kind.value, item.detail.get("acquired", item.detail.get("state", item.detail.get("action"))))
            for item in steps.store.list_history(pcf_id, newest_first=False)]


def test_a_new_particle_is_launched_on_the_first_visit_and_done_on_the_one_after_it_is_running(
    steps: ControlPlane, ami: str, slow_ec2: Any, clock: VirtualClock
) -> None:
    plan_all(steps, PlanInput(definition=instance("fresh", ami), desired_state="running", execution=EXECUTION))

    first = visit(steps, "ec2_instance:fresh")
    [launched] = live_instances(slow_ec2, "cp-fresh")
    assert (first.action, first.acted, first.state, first.generation) == ("later", "start", "pending", 1)
    assert first.resource_id == launched["InstanceId"]
    lease = steps.store.current_lease("ec2_instance:fresh")
    assert lease is not None and lease.owner == EXECUTION, "held while the launch is in progress"

    assert visit(steps, "ec2_instance:fresh", generation=1).action == "later", "still pending"
    clock.advance(5)
    done = visit(steps, "ec2_instance:fresh", generation=1)

    assert (done.action, done.acted, done.state) == ("done", None, "running")
    assert steps.store.current_lease("ec2_instance:fresh") is None
    assert len(live_instances(slow_ec2, "cp-fresh")) == 1
    assert kinds(steps, "ec2_instance:fresh") == [
        ("plan", None), ("observation", "terminated"), ("lease", True), ("transition", "start"),
        ("observation", "pending"), ("observation", "running"), ("lease", False)]


def test_a_particle_already_in_its_desired_state_is_recorded_and_left_without_a_lease(
    steps: ControlPlane, ami: str, clock: VirtualClock
) -> None:
    plan_all(steps, PlanInput(definition=instance("up", ami), desired_state="running", execution=EXECUTION))
    visit(steps, "ec2_instance:up")
    clock.advance(5)
    visit(steps, "ec2_instance:up", generation=1)
    plan_all(steps, PlanInput(definition=instance("up", ami), desired_state="running", execution=OTHER))
    before = len(steps.store.list_history("ec2_instance:up"))

    again = visit(steps, "ec2_instance:up", execution=OTHER)

    assert (again.action, again.acted, again.generation) == ("done", None, 1), "an unchanged spec keeps its generation"
    [reached] = steps.store.list_history("ec2_instance:up")[: -before]
    assert (reached.kind, reached.cause, reached.detail["converged"]) == (HistoryKind.observation, OTHER, True), (
        "no lease taken, no transition: only a note that this execution found it converged (rollback reads it)")
    assert steps.store.current_lease("ec2_instance:up") is None
    assert visit(steps, "ec2_instance:up", execution=OTHER).action == "done"
    assert len(steps.store.list_history("ec2_instance:up")) == before + 1, "a visit that changes nothing writes nothing"


def test_a_lease_held_by_another_execution_means_later_and_nothing_is_done(
    steps: ControlPlane, ami: str, slow_ec2: Any
) -> None:
    plan_all(steps, PlanInput(definition=instance("busy", ami), desired_state="running", execution=EXECUTION))
    assert steps.store.acquire_lease("ec2_instance:busy", OTHER, 600)

    answer = visit(steps, "ec2_instance:busy")

    assert (answer.action, answer.acted, answer.state) == ("later", None, None)
    assert OTHER in answer.reason
    assert live_instances(slow_ec2, "cp-busy") == []
    assert steps.store.get_observation("ec2_instance:busy") is None, "nothing read, nothing recorded"


def test_a_child_waits_for_its_parent_without_launching(
    steps: ControlPlane, ami: str, slow_ec2: Any, clock: VirtualClock
) -> None:
    plan_all(steps, PlanInput(definition={"pcf_name": "pair", "flavor": "quasiparticle", "particles": [
        instance("dad", ami), instance("son", ami, parents=["ec2_instance:dad"])]},
        desired_state="running", execution=EXECUTION))

    waiting = visit(steps, "ec2_instance:son")

    assert (waiting.action, waiting.acted) == ("later", None)
    assert "waiting for ec2_instance:dad" in waiting.reason
    assert live_instances(slow_ec2, "cp-son") == []
    assert steps.store.current_lease("ec2_instance:son") is None, "no lease taken to wait"
    visit(steps, "ec2_instance:dad")
    clock.advance(5)
    assert visit(steps, "ec2_instance:dad").action == "done"
    assert visit(steps, "ec2_instance:son").acted == "start"


def test_a_visit_retried_after_its_launch_launches_nothing_more(
    steps: ControlPlane, ami: str, slow_ec2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_all(steps, PlanInput(definition=instance("twice", ami), desired_state="running", execution=EXECUTION))
    real_commit = steps.store.commit_converge

    def lost_after_the_launch(commit: Any) -> Any:
        raise ConnectionError("the Lambda died after RunInstances, before its commit")

    monkeypatch.setattr(steps.store, "commit_converge", lost_after_the_launch)
    with pytest.raises(ConnectionError):
        visit(steps, "ec2_instance:twice")
    monkeypatch.setattr(steps.store, "commit_converge", real_commit)

    retried = visit(steps, "ec2_instance:twice")

    [launched] = live_instances(slow_ec2, "cp-twice")
    assert retried.resource_id == launched["InstanceId"], "the same ClientToken answered the same instance"


def test_a_newer_plan_supersedes_the_visit_and_the_failure_gives_the_lease_back(
    steps: ControlPlane, ami: str, clock: VirtualClock
) -> None:
    plan_all(steps, PlanInput(definition=instance("raced", ami), desired_state="running", execution=EXECUTION))
    first = visit(steps, "ec2_instance:raced")
    assert first.acted == "start"
    clock.advance(1)
    plan_all(steps, PlanInput(definition=instance("raced", ami), desired_state="terminated", execution=OTHER))

    with pytest.raises(SupersededError, match="generation 2"):
        visit(steps, "ec2_instance:raced", generation=first.generation)
    steps.particle_failed(ParticleFailure(pcf_id="ec2_instance:raced", execution=EXECUTION,
                                          failure={"Error": "SupersededError", "Cause": "replaced"}))

    assert steps.store.current_lease("ec2_instance:raced") is None, "the newer execution may take it"
    assert kinds(steps, "ec2_instance:raced")[-2:] == [("error", None), ("lease", False)]


def test_a_visit_reads_the_cloud_once_and_a_launch_three_times(
    steps: ControlPlane, ami: str, slow_cloud: Any, clock: VirtualClock
) -> None:
    plan_all(steps, PlanInput(definition=instance("counted", ami), desired_state="running", execution=EXECUTION))
    calls = Calls(slow_cloud)
    first = visit(steps, "ec2_instance:counted")
    launch = list(calls.names)
    clock.advance(5)
    visit(steps, "ec2_instance:counted", generation=first.generation)

    assert launch == ["DescribeInstances", "RunInstances", "DescribeInstances"]
    assert calls.names[len(launch):] == ["DescribeInstances"]


def test_a_launch_is_three_dynamodb_calls_and_the_last_visit_two(
    slow_cloud: Any, clock: VirtualClock, ami: str
) -> None:
    steps = steps_over("dynamodb", slow_cloud, clock, table="pcf-counted")
    plan_all(steps, PlanInput(definition=instance("costly", ami), desired_state="running", execution=EXECUTION))
    client = slow_cloud.client("dynamodb")
    with CallCounter(client) as launch:
        first = visit(steps, "ec2_instance:costly", generation=1)
    with CallCounter(client) as poll:
        visit(steps, "ec2_instance:costly", generation=1)
    clock.advance(5)
    with CallCounter(client) as last:
        visit(steps, "ec2_instance:costly", generation=1)
    with CallCounter(client) as unknown:
        visit(steps, "ec2_instance:costly")

    assert first.acted == "start"
    assert dict(launch.calls) == {"BatchGetItem": 1, "PutItem": 1, "TransactWriteItems": 1}, "read, lease, commit"
    assert dict(poll.calls) == {"BatchGetItem": 1}, "a visit that changes nothing writes nothing"
    assert dict(last.calls) == {"BatchGetItem": 1, "TransactWriteItems": 1}
    assert unknown.calls["Query"] == 1, "a visit that is not told its generation looks it up"


def test_a_child_reads_its_parents_with_itself_and_trusts_a_parent_its_execution_converged(
    steps: ControlPlane, ami: str, slow_cloud: Any, clock: VirtualClock
) -> None:
    plan_all(steps, PlanInput(definition={"pcf_name": "kin", "flavor": "quasiparticle", "particles": [
        instance("mom", ami), instance("kid", ami, parents=["ec2_instance:mom"])]},
        desired_state="running", execution=EXECUTION))
    visit(steps, "ec2_instance:mom", generation=1)
    clock.advance(5)
    assert visit(steps, "ec2_instance:mom", generation=1).action == "done"
    steps.store.record_observation("ec2_instance:mom", steps.store.get_observation("ec2_instance:mom").model_copy(
        update={"cause": "an event", "observed_at": clock.now() + 1}))
    calls = Calls(slow_cloud)

    kid = visit(steps, "ec2_instance:kid", generation=1)

    assert kid.acted == "start"
    assert calls.names == ["DescribeInstances", "RunInstances", "DescribeInstances"], (
        "the parent's stored state is trusted: this execution converged it, whoever recorded it last")
