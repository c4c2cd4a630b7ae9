"""EC2 instance state-change events: published on every real change, delivered by EventBridge rules in order,
synchronously, never under the emulation lock."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.outbox import Outbox, OutboxLock
from tests.local_cloud.fixtures.event_recorder import (
    AMI,
    EC2_STATE_CHANGE,
    EPOCH,
    Recorder,
    function_arn,
    recording_function,
    recording_rule,
    rule_to,
    run_instance,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
LIFECYCLE = ["pending", "running", "stopping", "stopped", "pending", "running", "shutting-down", "terminated"]
"""The states an instance announces from launch through stop, start and termination."""


@pytest.fixture
def events_lc(clock: VirtualClock) -> Iterator[LocalCloud]:
    """Transitions take 5 virtual seconds; the clock's start is 2026-11-22T00:00:00Z."""
    with LocalCloud(clock=clock, pending_seconds=5, epoch=EPOCH) as cloud:
        yield cloud


@pytest.fixture
def recorder(events_lc: LocalCloud) -> Recorder:
    """A function that receives every EC2 state-change event (rule ``ec2-states``)."""
    return recording_rule(events_lc, "on-ec2", "ec2-states", EC2_STATE_CHANGE)


def test_run_instances_emits_pending_then_running_when_the_phase_ends(
    events_lc: LocalCloud, recorder: Recorder, clock: VirtualClock
) -> None:
    instance_id = run_instance(events_lc)
    assert recorder.states() == [(instance_id, "pending")]
    clock.advance(4.9)
    assert recorder.states() == [(instance_id, "pending")]
    clock.advance(0.1)  # the deadline: settled and announced by the clock, with no read
    assert recorder.states() == [(instance_id, "pending"), (instance_id, "running")]
    assert events_lc.settle_due() == 0  # nothing left: no second event
    events_lc.client("ec2").describe_instances(InstanceIds=[instance_id])
    assert len(recorder.events) == 2


def test_the_event_has_awss_shape(events_lc: LocalCloud, recorder: Recorder, clock: VirtualClock) -> None:
    instance_id = run_instance(events_lc)
    clock.advance(65)
    events_lc.settle_due()
    pending, running = recorder.events
    assert set(pending) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert pending["version"] == "0"
    assert uuid.UUID(pending["id"]) and pending["id"] != running["id"]
    assert pending["detail-type"] == "EC2 Instance State-change Notification"
    assert pending["source"] == "aws.ec2"
    assert (pending["account"], pending["region"]) == (ACCOUNT, REGION)
    assert pending["resources"] == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}"]
    assert pending["detail"] == {"instance-id": instance_id, "state": "pending"}
    assert pending["time"] == "2026-11-22T00:00:00Z"
    assert running["time"] == "2026-11-22T00:00:05Z"  # at its deadline, though the clock was moved to 65 s


def test_a_read_settles_and_delivers_before_the_call_returns(
    events_lc: LocalCloud, recorder: Recorder, clock: VirtualClock
) -> None:
    instance_id = run_instance(events_lc)
    clock.advance(5)
    reservations = events_lc.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    assert reservations[0]["Instances"][0]["State"]["Name"] == "running"
    assert recorder.states()[-1] == (instance_id, "running")


def test_stop_start_and_terminate_emit_each_state_once(
    events_lc: LocalCloud, recorder: Recorder, clock: VirtualClock
) -> None:
    ec2 = events_lc.client("ec2")
    instance_id = run_instance(events_lc)
    clock.advance(5)
    ec2.stop_instances(InstanceIds=[instance_id])  # settles running first, then starts stopping
    assert recorder.states()[-2:] == [(instance_id, "running"), (instance_id, "stopping")]
    ec2.stop_instances(InstanceIds=[instance_id])  # already on its way: no change, no event
    clock.advance(5)
    events_lc.settle_due()
    ec2.start_instances(InstanceIds=[instance_id])
    clock.advance(5)
    ec2.terminate_instances(InstanceIds=[instance_id])
    clock.advance(5)
    events_lc.settle_due()
    ec2.terminate_instances(InstanceIds=[instance_id])  # terminated already: nothing
    assert [state for _, state in recorder.states()] == LIFECYCLE


def test_instant_transitions_emit_both_states(clock: VirtualClock) -> None:
    with LocalCloud(clock=clock, epoch=EPOCH) as cloud:
        recorder = recording_rule(cloud, "on-ec2", "ec2-states", EC2_STATE_CHANGE)
        ec2 = cloud.client("ec2")
        instance_id = run_instance(cloud)
        ec2.stop_instances(InstanceIds=[instance_id])
        ec2.start_instances(InstanceIds=[instance_id])
        ec2.start_instances(InstanceIds=[instance_id])  # running already: nothing
        ec2.terminate_instances(InstanceIds=[instance_id])
        assert [state for _, state in recorder.states()] == LIFECYCLE


def test_force_and_hold_emit_the_state_they_set(events_lc: LocalCloud, recorder: Recorder, clock: VirtualClock) -> None:
    instance_id = run_instance(events_lc)
    clock.advance(5)
    events_lc.settle_due()
    events_lc.force_instance_state(instance_id, "stopped")
    events_lc.force_instance_state(instance_id, "stopped")  # no change: no event
    events_lc.force_instance_state(instance_id, "running")
    events_lc.hold_pending(instance_id)
    events_lc.release_pending(instance_id)
    events_lc.settle_due()
    assert [state for _, state in recorder.states()] == [
        "pending",
        "running",
        "stopped",
        "running",
        "pending",
        "running",
    ]


def test_a_refused_call_emits_nothing(events_lc: LocalCloud, recorder: Recorder) -> None:
    instance_id = run_instance(events_lc)
    with pytest.raises(events_lc.client("ec2").exceptions.ClientError, match="IncorrectInstanceState"):
        events_lc.client("ec2").stop_instances(InstanceIds=[instance_id])  # pending cannot be stopped
    assert recorder.states() == [(instance_id, "pending")]


def test_several_instances_are_delivered_in_order_in_the_callers_thread(
    events_lc: LocalCloud, recorder: Recorder, clock: VirtualClock
) -> None:
    reservation = events_lc.client("ec2").run_instances(ImageId=AMI, MinCount=3, MaxCount=3)
    ids = [instance["InstanceId"] for instance in reservation["Instances"]]
    assert recorder.states() == [(i, "pending") for i in ids]
    assert set(recorder.threads) == {threading.current_thread()}
    clock.advance(5)
    assert recorder.states()[3:] == [(i, "running") for i in ids]  # in the order their deadlines were set
    assert set(recorder.threads) == {threading.current_thread()}  # the thread that moved the clock
    assert events_lc.settle_due() == 0


def test_a_rule_that_does_not_match_gets_nothing(events_lc: LocalCloud, recorder: Recorder) -> None:
    stopped_only = recording_function(events_lc, "on-stopped")
    pattern = {**EC2_STATE_CHANGE, "detail": {"state": ["stopped"]}}
    rule_to(events_lc, "stopped-only", function_arn(events_lc, "on-stopped"), pattern=pattern)
    other = recording_function(events_lc, "on-s3")
    rule_to(events_lc, "s3-only", function_arn(events_lc, "on-s3"), pattern={"source": ["aws.s3"]})
    instance_id = run_instance(events_lc)
    events_lc.force_instance_state(instance_id, "stopped")
    assert stopped_only.states() == [(instance_id, "stopped")]
    assert other.events == []
    assert len(recorder.events) == 2


def test_a_disabled_rule_gets_nothing(events_lc: LocalCloud, recorder: Recorder) -> None:
    events_lc.client("events").disable_rule(Name="ec2-states")
    run_instance(events_lc)
    assert recorder.events == []
    events_lc.client("events").enable_rule(Name="ec2-states")
    run_instance(events_lc)
    assert len(recorder.events) == 1


def test_a_failing_handler_is_recorded_not_raised(events_lc: LocalCloud, clock: VirtualClock) -> None:
    def fail(event: dict[str, Any]) -> None:
        raise RuntimeError(f"cannot handle {event['detail']['state']}")

    recording_function(events_lc, "fragile", react=fail)
    rule_arn = rule_to(events_lc, "fragile-rule", function_arn(events_lc, "fragile"), pattern=EC2_STATE_CHANGE)
    instance_id = run_instance(events_lc)  # does not raise
    clock.advance(5)
    assert events_lc.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    failures = events_lc.delivery_failures
    assert [f.error for f in failures] == [
        "AsyncInvocationFailed: RuntimeError: cannot handle pending "
        "(after 3 attempts; no on-failure destination: the event is lost)",
        "AsyncInvocationFailed: RuntimeError: cannot handle running "
        "(after 3 attempts; no on-failure destination: the event is lost)",
    ]
    assert {(f.rule_arn, f.target_id) for f in failures} == {(rule_arn, "1")}
    assert events_lc.patches.deliveries.failed == 2
    assert events_lc.patches.deliveries.delivered == 0


def test_a_missing_function_is_a_failed_delivery(events_lc: LocalCloud) -> None:
    missing = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:nobody"
    rule_to(events_lc, "dangling", missing, pattern=EC2_STATE_CHANGE)
    run_instance(events_lc)
    [failure] = events_lc.delivery_failures
    assert failure.target_arn == missing
    assert "nobody" in (failure.error or "")


def test_every_delivery_is_logged(events_lc: LocalCloud, recorder: Recorder) -> None:
    instance_id = run_instance(events_lc)
    [delivery] = events_lc.deliveries
    assert delivery.ok and delivery.error is None
    assert delivery.event_id == recorder.events[0]["id"]
    assert delivery.detail_type == "EC2 Instance State-change Notification"
    assert delivery.rule_arn.endswith(":rule/ec2-states")
    assert delivery.target_arn == function_arn(events_lc, "on-ec2")
    assert recorder.states() == [(instance_id, "pending")]


def test_delivery_happens_outside_the_emulation_lock(events_lc: LocalCloud, clock: VirtualClock) -> None:
    """The handler waits for another thread's EC2 transition, which needs the lock: it would deadlock if the
    event were delivered while the emitting thread still held it."""
    other = run_instance(events_lc)
    clock.advance(5)
    events_lc.settle_due()
    finished = threading.Event()

    def stop_other(event: dict[str, Any]) -> None:
        if event["detail"]["state"] != "stopping":
            return
        worker = threading.Thread(target=lambda: (events_lc.force_instance_state(other, "stopped"), finished.set()))
        worker.start()
        worker.join(10)

    recording_function(events_lc, "stopper", react=stop_other)
    rule_to(events_lc, "stopper-rule", function_arn(events_lc, "stopper"), pattern=EC2_STATE_CHANGE)
    first = run_instance(events_lc)
    clock.advance(5)
    events_lc.client("ec2").stop_instances(InstanceIds=[first])
    assert finished.is_set()
    assert events_lc.delivery_failures == []


def test_a_handler_may_call_ec2_and_its_events_follow(events_lc: LocalCloud, clock: VirtualClock) -> None:
    """A handler that stops the instance it hears about: the nested call's events are delivered too."""
    ec2 = events_lc.client("ec2")

    def stop_when_running(event: dict[str, Any]) -> None:
        if event["detail"]["state"] == "running":
            ec2.stop_instances(InstanceIds=[event["detail"]["instance-id"]])

    recorder = recording_function(events_lc, "janitor", react=stop_when_running)
    rule_to(events_lc, "janitor-rule", function_arn(events_lc, "janitor"), pattern=EC2_STATE_CHANGE)
    instance_id = run_instance(events_lc)
    clock.advance(5)
    events_lc.settle_due()
    clock.advance(5)
    events_lc.settle_due()
    assert [state for _, state in recorder.states()] == ["pending", "running", "stopping", "stopped"]
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] == "stopped"


def test_no_rules_no_deliveries(events_lc: LocalCloud, clock: VirtualClock) -> None:
    instance_id = run_instance(events_lc)
    clock.advance(5)
    events_lc.settle_due()
    events_lc.client("ec2").terminate_instances(InstanceIds=[instance_id])
    assert events_lc.deliveries == []


def test_events_go_to_the_instances_account(clock: VirtualClock) -> None:
    with LocalCloud(clock=clock, account_id="111122223333", epoch=EPOCH) as cloud:
        recorder = recording_rule(cloud, "on-ec2", "ec2-states", EC2_STATE_CHANGE)
        instance_id = run_instance(cloud)
        assert recorder.events[0]["account"] == "111122223333"
        assert recorder.events[0]["resources"] == [f"arn:aws:ec2:{REGION}:111122223333:instance/{instance_id}"]


def test_the_outbox_delivers_when_the_thread_leaves_its_outermost_deferral() -> None:
    outbox = Outbox()
    lock = OutboxLock(outbox)
    delivered: list[str] = []
    with outbox.deferred():
        with lock:
            with lock:
                outbox.post(lambda: delivered.append("a"))
            assert delivered == []
        outbox.post(lambda: delivered.append("b"))
        assert delivered == []
    assert delivered == ["a", "b"]
    outbox.post(lambda: delivered.append("c"))  # not deferring: at once
    assert delivered == ["a", "b", "c"]


def test_the_outbox_keeps_going_after_a_broken_delivery() -> None:
    outbox = Outbox()
    delivered: list[str] = []

    def broken() -> None:
        raise RuntimeError("bug")

    with outbox.deferred():
        outbox.post(broken)
        outbox.post(lambda: delivered.append("after"))
    assert delivered == ["after"]
    assert outbox.depth == 0


def test_the_outbox_counts_deliveries_in_flight_in_any_thread() -> None:
    outbox = Outbox()
    started, release = threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(timeout=30)

    deferring = threading.Thread(target=lambda: outbox.post(slow))
    deferring.start()
    assert started.wait(timeout=30)
    assert (outbox.in_flight, outbox.wait_settled(0)) == (1, False), "another thread's delivery is running"
    release.set()
    assert outbox.wait_settled(30)
    deferring.join(timeout=30)
    assert outbox.in_flight == 0
    with outbox.deferred():
        outbox.post(lambda: None)
        assert outbox.in_flight == 1, "posted, held back until the deferral ends"
    assert outbox.in_flight == 0
