"""Pending/stopping/shutting-down phases, EC2's refusals, and the force/hold helpers."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud

AMI = "ami-12345678"


def launch(ec2: Any, count: int = 1) -> list[str]:
    response = ec2.run_instances(ImageId=AMI, MinCount=count, MaxCount=count)
    return [i["InstanceId"] for i in response["Instances"]]


def state_of(ec2: Any, instance_id: str) -> tuple[str, int]:
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]
    return state["Name"], state["Code"]


def ids_in_state(ec2: Any, name: str) -> set[str]:
    filters = [{"Name": "instance-state-name", "Values": [name]}]
    reservations = ec2.describe_instances(Filters=filters)["Reservations"]
    return {i["InstanceId"] for r in reservations for i in r["Instances"]}


def error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return error.value.response["Error"]["Code"]


def test_run_instances_is_pending_until_the_clock_passes_pending_seconds(
    slow_lc: LocalCloud, vclock: VirtualClock
) -> None:
    ec2 = slow_lc.client("ec2")
    response = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)
    instance_id = response["Instances"][0]["InstanceId"]
    assert response["Instances"][0]["State"] == {"Code": 0, "Name": "pending"}
    assert state_of(ec2, instance_id) == ("pending", 0)
    vclock.advance(29.5)
    assert state_of(ec2, instance_id) == ("pending", 0)
    vclock.advance(0.5)
    assert state_of(ec2, instance_id) == ("running", 16)


def test_state_filters_follow_the_phase(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = slow_lc.client("ec2")
    [instance_id] = launch(ec2)
    assert ids_in_state(ec2, "pending") == {instance_id}
    assert ids_in_state(ec2, "running") == set()
    vclock.advance(30)
    assert ids_in_state(ec2, "pending") == set()
    assert ids_in_state(ec2, "running") == {instance_id}


def test_instance_status_reports_the_phase(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = slow_lc.client("ec2")
    [instance_id] = launch(ec2)
    assert ec2.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"] == []
    everything = ec2.describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)
    assert everything["InstanceStatuses"][0]["InstanceState"]["Name"] == "pending"
    vclock.advance(30)
    statuses = ec2.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"]
    assert statuses[0]["InstanceState"] == {"Code": 16, "Name": "running"}


def test_stop_then_start_go_through_stopping_and_pending(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = slow_lc.client("ec2")
    [instance_id] = launch(ec2)
    vclock.advance(30)
    stopping = ec2.stop_instances(InstanceIds=[instance_id])["StoppingInstances"][0]
    assert stopping["PreviousState"]["Name"] == "running"
    assert state_of(ec2, instance_id) == ("stopping", 64)
    vclock.advance(30)
    assert state_of(ec2, instance_id) == ("stopped", 80)
    starting = ec2.start_instances(InstanceIds=[instance_id])["StartingInstances"][0]
    assert starting["PreviousState"]["Name"] == "stopped"
    assert state_of(ec2, instance_id) == ("pending", 0)
    vclock.advance(30)
    assert state_of(ec2, instance_id) == ("running", 16)


def test_terminate_goes_through_shutting_down(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = slow_lc.client("ec2")
    [instance_id] = launch(ec2)
    vclock.advance(30)
    ec2.terminate_instances(InstanceIds=[instance_id])
    assert state_of(ec2, instance_id) == ("shutting-down", 32)
    assert ids_in_state(ec2, "shutting-down") == {instance_id}
    vclock.advance(30)
    assert state_of(ec2, instance_id) == ("terminated", 48)


def test_terminate_a_pending_instance(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = slow_lc.client("ec2")
    [instance_id] = launch(ec2)
    previous = ec2.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"][0]["PreviousState"]
    assert previous["Name"] == "pending"
    vclock.advance(30)
    assert state_of(ec2, instance_id) == ("terminated", 48)


def test_repeating_a_transition_keeps_its_deadline(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = slow_lc.client("ec2")
    [instance_id] = launch(ec2)
    vclock.advance(30)
    ec2.stop_instances(InstanceIds=[instance_id])
    vclock.advance(20)
    ec2.stop_instances(InstanceIds=[instance_id])
    assert state_of(ec2, instance_id) == ("stopping", 64)
    vclock.advance(10)
    assert state_of(ec2, instance_id) == ("stopped", 80)


def test_starting_a_running_instance_changes_nothing(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = slow_lc.client("ec2")
    [instance_id] = launch(ec2)
    vclock.advance(30)
    ec2.start_instances(InstanceIds=[instance_id])
    assert state_of(ec2, instance_id) == ("running", 16)


def test_start_of_a_terminated_instance_is_refused(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    [instance_id] = launch(ec2)
    ec2.terminate_instances(InstanceIds=[instance_id])
    with pytest.raises(ClientError) as error:
        ec2.start_instances(InstanceIds=[instance_id])
    assert error_code(error) == "IncorrectInstanceState"
    assert state_of(ec2, instance_id) == ("terminated", 48)


def test_a_refused_start_changes_no_instance(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    stopped_id, terminated_id = launch(ec2, count=2)
    ec2.stop_instances(InstanceIds=[stopped_id])
    ec2.terminate_instances(InstanceIds=[terminated_id])
    with pytest.raises(ClientError) as error:
        ec2.start_instances(InstanceIds=[stopped_id, terminated_id])
    assert error_code(error) == "IncorrectInstanceState"
    assert state_of(ec2, stopped_id) == ("stopped", 80)


@pytest.mark.parametrize(
    ("setup", "call"),
    [
        ("terminate", "start_instances"),  # shutting-down
        ("stop", "start_instances"),  # stopping
        ("terminate", "stop_instances"),  # shutting-down
        ("none", "stop_instances"),  # pending
    ],
)
def test_ec2_refuses_calls_from_transitional_states(slow_lc: LocalCloud, setup: str, call: str) -> None:
    ec2 = slow_lc.client("ec2")
    [instance_id] = launch(ec2)
    if setup != "none":
        slow_lc.force_instance_state(instance_id, "running")
        getattr(ec2, f"{setup}_instances")(InstanceIds=[instance_id])
    before = state_of(ec2, instance_id)
    with pytest.raises(ClientError) as error:
        getattr(ec2, call)(InstanceIds=[instance_id])
    assert error_code(error) == "IncorrectInstanceState"
    assert state_of(ec2, instance_id) == before


def test_stop_of_a_terminated_instance_is_refused(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    [instance_id] = launch(ec2)
    ec2.terminate_instances(InstanceIds=[instance_id])
    with pytest.raises(ClientError) as error:
        ec2.stop_instances(InstanceIds=[instance_id])
    assert error_code(error) == "IncorrectInstanceState"
    assert state_of(ec2, instance_id) == ("terminated", 48)


def test_unknown_instance_ids_still_fail_as_in_moto(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    with pytest.raises(ClientError) as error:
        ec2.start_instances(InstanceIds=["i-0123456789abcdef0"])
    assert error_code(error) == "InvalidInstanceID.NotFound"


def test_zero_pending_seconds_is_instant_like_moto(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    response = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)
    instance_id = response["Instances"][0]["InstanceId"]
    assert response["Instances"][0]["State"]["Name"] == "pending"  # what EC2 and moto answer
    assert state_of(ec2, instance_id) == ("running", 16)
    ec2.stop_instances(InstanceIds=[instance_id])
    assert state_of(ec2, instance_id) == ("stopped", 80)
    ec2.start_instances(InstanceIds=[instance_id])
    assert state_of(ec2, instance_id) == ("running", 16)
    ec2.terminate_instances(InstanceIds=[instance_id])
    assert state_of(ec2, instance_id) == ("terminated", 48)


def test_pending_seconds_can_change_while_running(instant_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = instant_lc.client("ec2")
    [fast] = launch(ec2)
    instant_lc.pending_seconds = 10
    [slow] = launch(ec2)
    assert state_of(ec2, fast) == ("running", 16)
    assert state_of(ec2, slow) == ("pending", 0)
    vclock.advance(10)
    assert state_of(ec2, slow) == ("running", 16)
    with pytest.raises(ValueError):
        instant_lc.pending_seconds = -1


def test_force_instance_state_simulates_drift(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = slow_lc.client("ec2")
    [instance_id] = launch(ec2)
    slow_lc.force_instance_state(instance_id, "running")  # drops the pending phase
    assert state_of(ec2, instance_id) == ("running", 16)
    slow_lc.force_instance_state(instance_id, "stopped")
    assert state_of(ec2, instance_id) == ("stopped", 80)
    assert ids_in_state(ec2, "stopped") == {instance_id}
    slow_lc.force_instance_state(instance_id, "stopping")
    vclock.advance(1000)
    assert state_of(ec2, instance_id) == ("stopping", 64)  # a forced state has no deadline
    slow_lc.force_instance_state(instance_id, "terminated")
    assert state_of(ec2, instance_id) == ("terminated", 48)


def test_forced_termination_runs_moto_side_effects(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    [instance_id] = launch(ec2)
    volume_id = ec2.create_volume(Size=8, AvailabilityZone="us-east-1a")["VolumeId"]
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    instant_lc.force_instance_state(instance_id, "terminated")
    assert ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"] == "available"


def test_force_rejects_unknown_states_and_ids(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    [instance_id] = launch(ec2)
    with pytest.raises(ValueError):
        instant_lc.force_instance_state(instance_id, "hibernating")
    assert state_of(ec2, instance_id) == ("running", 16)
    with pytest.raises(Exception, match="i-0123456789abcdef0"):
        instant_lc.force_instance_state("i-0123456789abcdef0", "stopped")


def test_hold_pending_keeps_a_new_instance_pending_until_released(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = slow_lc.client("ec2")
    [instance_id] = launch(ec2)
    slow_lc.hold_pending(instance_id)
    vclock.advance(1000)
    assert state_of(ec2, instance_id) == ("pending", 0)
    slow_lc.release_pending(instance_id)
    assert state_of(ec2, instance_id) == ("running", 16)


def test_release_before_the_deadline_waits_for_it(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = slow_lc.client("ec2")
    [instance_id] = launch(ec2)
    slow_lc.hold_pending(instance_id)
    vclock.advance(10)
    slow_lc.release_pending(instance_id)
    assert state_of(ec2, instance_id) == ("pending", 0)
    vclock.advance(20)
    assert state_of(ec2, instance_id) == ("running", 16)


def test_hold_pending_puts_a_running_instance_back(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    [instance_id] = launch(ec2)
    instant_lc.hold_pending(instance_id)
    assert state_of(ec2, instance_id) == ("pending", 0)
    ec2.start_instances(InstanceIds=[instance_id])  # allowed from pending, and still held
    assert state_of(ec2, instance_id) == ("pending", 0)
    instant_lc.release_pending(instance_id)
    assert state_of(ec2, instance_id) == ("running", 16)


def test_hold_pending_refuses_a_stopped_instance(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    [instance_id] = launch(ec2)
    ec2.stop_instances(InstanceIds=[instance_id])
    with pytest.raises(ValueError):
        instant_lc.hold_pending(instance_id)
    assert state_of(ec2, instance_id) == ("stopped", 80)


def test_instance_backend_is_the_moto_model(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = slow_lc.client("ec2")
    [instance_id] = launch(ec2)
    model = slow_lc.instance_backend(instance_id)
    assert model.id == instance_id
    assert (model.state, model.state_code) == ("pending", 0)
    vclock.advance(30)
    assert (model.state, model.state_code) == ("running", 16)
