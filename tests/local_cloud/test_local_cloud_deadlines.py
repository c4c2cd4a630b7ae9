"""Timed phases settle at their deadlines with nobody reading: by the clock's own move on a virtual clock, by the
settler thread on a real one; once per transition, whatever reads race with it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pcf_local_cloud.clock import RealClock, VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.deadlines import Deadlines
from pcf_local_cloud.moto_private import stored_state
from tests.local_cloud.fixtures.event_recorder import AMI, EC2_STATE_CHANGE, EPOCH, Recorder, recording_rule

GENEROUS_S = 30.0
"""How long a real-clock test waits for an event before failing (never a measure of anything)."""


@pytest.fixture
def timed_lc(clock: VirtualClock) -> Iterator[LocalCloud]:
    with LocalCloud(clock=clock, pending_seconds=5, epoch=EPOCH) as cloud:
        yield cloud


@pytest.fixture
def recorder(timed_lc: LocalCloud) -> Recorder:
    return recording_rule(timed_lc, "on-ec2", "ec2-states", EC2_STATE_CHANGE)


def launch(cloud: LocalCloud, count: int = 1) -> list[str]:
    reservation = cloud.client("ec2").run_instances(ImageId=AMI, MinCount=count, MaxCount=count)
    return [instance["InstanceId"] for instance in reservation["Instances"]]


def test_advancing_the_clock_publishes_running_with_no_describe_call(
    timed_lc: LocalCloud, recorder: Recorder, clock: VirtualClock
) -> None:
    describes: list[str] = []
    timed_lc.client("ec2").meta.events.register("before-call.ec2.DescribeInstances",
                                                 lambda **_: describes.append("read"))
    (instance_id,) = launch(timed_lc)
    clock.advance(5)
    assert recorder.states() == [(instance_id, "pending"), (instance_id, "running")]
    assert stored_state(timed_lc.instance_backend(instance_id)).name == "running"  # stored, not just shown
    assert describes == []


def test_advance_settles_each_phase_at_its_own_deadline_in_deadline_order(
    timed_lc: LocalCloud, recorder: Recorder, clock: VirtualClock
) -> None:
    (slow,) = launch(timed_lc)  # due at 5
    timed_lc.pending_seconds = 2
    clock.advance(1)
    (quick,) = launch(timed_lc)  # due at 3
    clock.advance(60)
    running = [event for event in recorder.events if event["detail"]["state"] == "running"]
    assert [event["detail"]["instance-id"] for event in running] == [quick, slow]
    assert [event["time"] for event in running] == ["2026-11-22T00:00:03Z", "2026-11-22T00:00:05Z"]
    assert clock.now() == 61


def test_a_sleep_that_passes_a_deadline_settles_it_too(
    timed_lc: LocalCloud, recorder: Recorder, clock: VirtualClock
) -> None:
    (instance_id,) = launch(timed_lc)
    clock.sleep(4.9)
    assert recorder.states()[-1] == (instance_id, "pending")
    clock.sleep(0.1)
    assert recorder.states()[-1] == (instance_id, "running")


def test_stop_during_the_phase_settles_only_the_newer_transition(
    timed_lc: LocalCloud, recorder: Recorder, clock: VirtualClock
) -> None:
    (instance_id,) = launch(timed_lc)
    clock.advance(5)
    ec2 = timed_lc.client("ec2")
    ec2.stop_instances(InstanceIds=[instance_id])  # stopping, due at 10
    clock.advance(2)
    timed_lc.force_instance_state(instance_id, "stopping")  # the phase is dropped: its deadline must do nothing
    clock.advance(10)
    assert [state for _, state in recorder.states()] == ["pending", "running", "stopping"]


def test_a_hold_released_after_its_deadline_settles_at_the_release(
    timed_lc: LocalCloud, recorder: Recorder, clock: VirtualClock
) -> None:
    (instance_id,) = launch(timed_lc)
    timed_lc.hold_pending(instance_id)
    clock.advance(100)
    assert recorder.states() == [(instance_id, "pending")]
    timed_lc.release_pending(instance_id)
    assert recorder.states() == [(instance_id, "pending"), (instance_id, "running")]


def test_a_volume_becomes_available_at_its_deadline(clock: VirtualClock) -> None:
    with LocalCloud(clock=clock, volume_pending_seconds=3, epoch=EPOCH) as cloud:
        volume_id = cloud.client("ec2").create_volume(Size=8, AvailabilityZone="us-east-1a")["VolumeId"]
        volume = cloud.ec2_backend().get_volume(volume_id)
        clock.advance(3)
        assert "_pcf_available_at" not in vars(volume)  # settled by the clock, not by this read
        assert volume.status == "available"


def test_on_a_real_clock_the_event_comes_without_any_read() -> None:
    with LocalCloud(clock=RealClock(), pending_seconds=0.05) as cloud:
        arrived = threading.Event()
        recorder = recording_rule(cloud, "on-ec2", "ec2-states", EC2_STATE_CHANGE)
        recorder.react = lambda event: arrived.set() if event["detail"]["state"] == "running" else None
        (instance_id,) = launch(cloud)
        assert arrived.wait(GENEROUS_S), "no running event without a read"
        assert recorder.states() == [(instance_id, "pending"), (instance_id, "running")]
        assert recorder.threads[-1].name == "pcf-local-cloud-deadlines"


def test_on_a_real_clock_reads_racing_the_settler_announce_each_transition_once() -> None:
    with LocalCloud(clock=RealClock(), pending_seconds=0.02) as cloud:
        recorder = recording_rule(cloud, "on-ec2", "ec2-states", EC2_STATE_CHANGE)
        ids = launch(cloud, 20)
        ec2 = cloud.client("ec2")
        reached = threading.Event()
        while not reached.is_set():  # reads race the settler until every instance is running
            states = [i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                      for i in r["Instances"]]
            if states == ["running"] * len(ids):
                reached.set()
        assert cloud.patches.state.outbox.wait_settled(GENEROUS_S)
        assert sorted(recorder.states()) == sorted([(i, "pending") for i in ids] + [(i, "running") for i in ids])


def test_deadlines_skip_cancelled_actions_and_survive_a_failing_one(clock: VirtualClock) -> None:
    deadlines = Deadlines(clock).start()
    ran: list[str] = []
    deadlines.at(2, lambda: ran.append("b"))
    cancelled = deadlines.at(1, lambda: ran.append("cancelled"))
    deadlines.at(1, lambda: 1 / 0)
    deadlines.at(1, lambda: ran.append("a"))
    deadlines.cancel(cancelled)
    assert deadlines.next_due() == 1 and len(deadlines) == 3
    clock.advance(5)
    assert ran == ["a", "b"]
    assert len(deadlines) == 0 and deadlines.next_due() is None
    deadlines.stop()
    deadlines.at(6, lambda: ran.append("after stop"))
    clock.advance(5)
    assert ran == ["a", "b"]  # a stopped set is no longer run by the clock


def test_a_deadline_already_passed_on_a_stepped_clock_runs_at_once(clock: VirtualClock) -> None:
    deadlines = Deadlines(clock).start()
    clock.advance(10)
    ran: list[float] = []
    deadlines.at(3, lambda: ran.append(clock.now()))
    assert ran == [10]
    deadlines.stop()


def test_the_real_clock_thread_runs_a_deadline_and_stops() -> None:
    clock = RealClock()
    deadlines = Deadlines(clock).start()
    done = threading.Event()
    deadlines.at(clock.now() + 0.01, done.set)
    assert done.wait(GENEROUS_S)
    deadlines.stop()
    assert not deadlines.running
