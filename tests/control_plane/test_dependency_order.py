"""Dependency order across executions: a child is never started while a parent it depends on is not in its
desired state, whatever the timing of the events that start the heals (a master and its worker stopped
together; the master's events late), and a second heal waits for the lease the first one holds."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pcf_control_plane import wiring
from pcf_control_plane.converge import converge
from pcf_control_plane.heal_plan import plan_heal
from pcf_control_plane.messages import ConvergeInput, PlanInput
from pcf_control_plane.steps import ControlPlane
from pcf_control_plane.store import HistoryItem, InMemoryStateStore, Observation, StateStore
from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.deployment import execution_tree_history
from tests.support.deployments import deployed, instance_event, invoke_function
from tests.support.executions import finished
from tests.support.steps import plan_all, visit_until_done

BOSS, HAND = "ec2_instance:boss", "ec2_instance:hand"
UP = "arn:aws:states:us-east-1:123456789012:execution:apply:up"
HEAL = "arn:aws:states:us-east-1:123456789012:execution:apply:heal-hand"
OTHER_HEAL = "arn:aws:states:us-east-1:123456789012:execution:apply:heal-boss"


def instance(name: str, ami_id: str, **extra: Any) -> dict[str, Any]:
    return {"pcf_name": name, "flavor": "ec2_instance", **extra,
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                             "custom_config": {"instance_name": f"order-{name}"}}}


def crew(ami_id: str, **boss: Any) -> dict[str, Any]:
    """A master ``boss`` and its worker ``hand``."""
    return {"pcf_name": "crew", "flavor": "quasiparticle",
            "particles": [instance("boss", ami_id, **boss), instance("hand", ami_id, parents=[BOSS])]}


# -- the steps, on a store in memory --------------------------------------------------------------------------

@pytest.fixture
def steps(cloud: Any, clock: VirtualClock) -> ControlPlane:
    return ControlPlane(InMemoryStateStore(clock=clock.now), cloud.client_factory, clock=clock.now,
                        deployment="test")


def drive(cp: ControlPlane, pcf_id: str, execution: str, clock: VirtualClock) -> list[str]:
    """The page machine's visits of one particle until it is done; the transitions carried out."""
    return visit_until_done(cp, pcf_id, clock, execution)


def visit(cp: ControlPlane, pcf_id: str, execution: str) -> Any:
    return converge(cp, ConvergeInput(pcf_id=pcf_id, execution=execution))


def bring_up(cp: ControlPlane, ami_id: str, clock: VirtualClock, **boss: Any) -> tuple[str, str]:
    plan_all(cp, PlanInput(definition=crew(ami_id, **boss), desired_state="running", execution=UP))
    drive(cp, BOSS, UP, clock)
    drive(cp, HAND, UP, clock)
    return resource(cp.store, BOSS), resource(cp.store, HAND)


def resource(store: StateStore, pcf_id: str) -> str:
    observation = store.get_observation(pcf_id)
    assert observation is not None and observation.resource_id
    return observation.resource_id


def record_event(store: StateStore, pcf_id: str, state: str, clock: VirtualClock) -> None:
    """What ``on_ec2_event`` records of an instance's state change."""
    clock.sleep(1.0)
    assert store.record_observation(pcf_id, Observation(state=state, observed_at=clock.now(),
                                                        resource_id=resource(store, pcf_id), cause="event:e-1"))


def test_a_worker_waits_while_its_master_is_seen_stopped(
    steps: ControlPlane, ami_id: str, ec2: Any, clock: VirtualClock
) -> None:
    boss, hand = bring_up(steps, ami_id, clock)
    ec2.stop_instances(InstanceIds=[boss, hand])
    record_event(steps.store, BOSS, "stopped", clock)

    waiting = visit(steps, HAND, HEAL)

    assert (waiting.state, waiting.action, waiting.acted) == ("stopped", "later", None)
    assert waiting.reason == "stopped -> running after its parents: waiting for ec2_instance:boss (stopped, " \
                             "desired running)"
    assert drive(steps, BOSS, OTHER_HEAL, clock) == ["start"]
    assert visit(steps, HAND, HEAL).acted == "start"


def test_a_masters_stored_running_is_checked_when_another_execution_wrote_it(
    steps: ControlPlane, ami_id: str, ec2: Any, clock: VirtualClock
) -> None:
    """The master's events are late: the store still says running (the apply wrote it), EC2 says stopped."""
    boss, hand = bring_up(steps, ami_id, clock)
    ec2.stop_instances(InstanceIds=[boss, hand])
    assert steps.store.get_observation(BOSS).state == "running"

    waiting = visit(steps, HAND, HEAL)

    assert waiting.action == "later" and "ec2_instance:boss (stopped, desired running)" in waiting.reason
    ec2.start_instances(InstanceIds=[boss])
    assert visit(steps, HAND, HEAL).acted == "start"


def test_a_heal_plan_starts_the_ancestors_not_in_their_desired_state_first(
    steps: ControlPlane, ami_id: str, ec2: Any, clock: VirtualClock
) -> None:
    boss, hand = bring_up(steps, ami_id, clock)
    ec2.stop_instances(InstanceIds=[boss, hand])
    record_event(steps.store, HAND, "stopped", clock)
    alone = plan_heal(steps.store, PlanInput(heal=HAND, execution="heal-1"))
    assert [p.levels for p in alone.phases] == [[[HAND]]], "the master is running, as far as the store knows"

    record_event(steps.store, BOSS, "stopped", clock)
    both = plan_heal(steps.store, PlanInput(heal=HAND, execution="heal-2"))

    assert [(p.phase, p.levels) for p in both.phases] == [("start", [[BOSS], [HAND]])]
    assert both.generations == {BOSS: 1, HAND: 1}
    assert drive(steps, BOSS, "heal-2", clock) == ["start"]
    assert drive(steps, HAND, "heal-2", clock) == ["start"]


def test_a_heal_plan_leaves_a_master_that_may_not_be_healed(
    steps: ControlPlane, ami_id: str, ec2: Any, clock: VirtualClock
) -> None:
    boss, hand = bring_up(steps, ami_id, clock, heal=False)
    ec2.stop_instances(InstanceIds=[boss, hand])
    record_event(steps.store, BOSS, "stopped", clock)
    record_event(steps.store, HAND, "stopped", clock)

    planned = plan_heal(steps.store, PlanInput(heal=HAND, execution="heal-3"))

    assert [p.levels for p in planned.phases] == [[[HAND]]]
    assert visit(steps, HAND, "heal-3").action == "later", "not started without it"


# -- whole heals, on the local cloud --------------------------------------------------------------------------

@pytest.fixture
def deployment(cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from deployed(cloud, monkeypatch.setenv, "order", max_polls=2000)


def apply_crew(deployment: Any, ami_id: str) -> tuple[str, str]:
    result = deployment.run_execution("apply", {"definition": crew(ami_id), "desired_state": "running",
                                                "wait_seconds": 0, "max_polls": 30}, name="crew-up")
    assert result.status == "SUCCEEDED", result.output
    store = wiring.control_plane().store
    return resource(store, BOSS), resource(store, HAND)


def heals(cloud: Any, deployment: Any) -> dict[str, str]:
    """Heal execution name -> ARN."""
    executions = cloud.client("stepfunctions").list_executions(
        stateMachineArn=deployment.state_machine_arns["apply"])["executions"]
    return {e["name"]: e["executionArn"] for e in executions if e["name"].startswith("heal-")}


def by_heals(store: StateStore, pcf_id: str) -> list[HistoryItem]:
    """What heal executions did to ``pcf_id`` (their steps stamp items with one clock), oldest first."""
    return [item for item in store.list_history(pcf_id, limit=500, newest_first=False) if ":heal-" in item.cause]


def visits(sfn: Any, heals: Any) -> list[tuple[Any, dict[str, Any]]]:
    """Every ``converge`` visit of the heal executions (their page executions included), with its time, in
    order: Step Functions' own timestamps, one clock for all of them."""
    found = []
    for arn in heals:
        for events in execution_tree_history(sfn, arn).values():
            for event in events:
                output = json.loads((event.get("lambdaFunctionSucceededEventDetails") or {}).get("output") or "{}")
                if isinstance(output, dict) and "acted" in output:
                    found.append((event["timestamp"], output))
    return sorted(found, key=lambda pair: pair[0])


def assert_started_after_its_master_ran(sfn: Any, heals: Any) -> None:
    seen = visits(sfn, heals)
    boss_running = [at for at, visit in seen if visit["pcf_id"] == BOSS and visit["state"] == "running"]
    [hand_start] = [at for at, visit in seen if visit["pcf_id"] == HAND and visit["acted"] == "start"]
    [boss_start] = [at for at, visit in seen if visit["pcf_id"] == BOSS and visit["acted"] == "start"]
    assert boss_running and boss_start <= min(boss_running) < hand_start, (
        "the worker's start came after the master's observation was running again")


def test_a_master_and_a_worker_stopped_together_are_healed_master_first(
    deployment: Any, cloud: Any, ami_id: str, ec2: Any, clock: VirtualClock
) -> None:
    boss, hand = apply_crew(deployment, ami_id)
    # The local cloud stamps EC2's events with its virtual clock: put it past the real time the apply's steps
    # stamped their observations with, so the stop's events are news.
    clock.advance(120)

    ec2.stop_instances(InstanceIds=[boss, hand])  # behind the framework's back; both events start a heal

    started = heals(cloud, deployment)
    assert len(started) == 2, "one heal per stopped instance"
    sfn = cloud.client("stepfunctions")
    assert {finished(sfn, arn, attempts=3000) for arn in started.values()} == {"SUCCEEDED"}, (
        "the second heal waited for the lease the first held")
    assert_started_after_its_master_ran(sfn, started.values())
    states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances()["Reservations"]
              for i in r["Instances"]}
    assert (states[boss], states[hand]) == ("running", "running")


def test_a_workers_heal_waits_for_its_master_whose_events_come_late(
    deployment: Any, cloud: Any, ami_id: str, ec2: Any
) -> None:
    boss, hand = apply_crew(deployment, ami_id)
    events = cloud.client("events")
    for rule in events.list_rules()["Rules"]:  # the test delivers the events, in the order it chooses
        events.disable_rule(Name=rule["Name"])
    ec2.stop_instances(InstanceIds=[boss, hand])

    # the master's events have not arrived: the store says running
    worker = invoke_function(deployment, "on_ec2_event", instance_event(hand, "stopped", seconds_ahead=120))
    assert worker["heal"]["status"] == "started"
    store = wiring.control_plane().store
    sfn = cloud.client("stepfunctions")
    for _ in range(2000):  # until the worker's heal has visited the worker: it waits for its master
        if any(visit["pcf_id"] == HAND and visit["action"] == "later" for _, visit in
               visits(sfn, [worker["heal"]["execution"]])):
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the worker's heal never visited the worker")
    master = invoke_function(deployment, "on_ec2_event", instance_event(boss, "stopped", seconds_ahead=120))
    assert master["heal"]["status"] == "started"

    heals = (worker["heal"]["execution"], master["heal"]["execution"])
    for arn in heals:
        assert finished(sfn, arn, attempts=3000) == "SUCCEEDED"
    assert_started_after_its_master_ran(sfn, heals)
    [hand_start] = [i for i in by_heals(store, HAND) if i.kind == "transition"]
    assert hand_start.cause == worker["heal"]["execution"], "the worker's own heal started it, once its master ran"
