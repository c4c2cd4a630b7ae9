"""The creating phase of volumes."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud

ZONE = "us-east-1a"


def volume_state(ec2: Any, volume_id: str) -> str:
    return ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"]


def test_a_new_volume_is_creating_then_available(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = slow_lc.client("ec2")
    created = ec2.create_volume(Size=8, AvailabilityZone=ZONE)
    volume_id = created["VolumeId"]
    assert created["State"] == "creating"
    assert volume_state(ec2, volume_id) == "creating"
    creating = ec2.describe_volumes(Filters=[{"Name": "status", "Values": ["creating"]}])["Volumes"]
    assert [v["VolumeId"] for v in creating] == [volume_id]
    vclock.advance(4.9)
    assert volume_state(ec2, volume_id) == "creating"
    vclock.advance(0.1)
    assert volume_state(ec2, volume_id) == "available"
    assert ec2.describe_volumes(Filters=[{"Name": "status", "Values": ["creating"]}])["Volumes"] == []


def test_a_creating_volume_cannot_be_attached(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = slow_lc.client("ec2")
    instance_id = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    volume_id = ec2.create_volume(Size=8, AvailabilityZone=ZONE)["VolumeId"]
    with pytest.raises(ClientError) as error:
        ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    assert error.value.response["Error"]["Code"] == "IncorrectState"
    vclock.advance(5)
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    assert volume_state(ec2, volume_id) == "in-use"


def test_instance_root_volumes_have_no_creating_phase(slow_lc: LocalCloud) -> None:
    ec2 = slow_lc.client("ec2")
    ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)
    states = {v["State"] for v in ec2.describe_volumes()["Volumes"]}
    assert states == {"in-use"}


def test_zero_volume_pending_seconds_is_instant(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    created = ec2.create_volume(Size=8, AvailabilityZone=ZONE)
    assert created["State"] == "available"
    assert volume_state(ec2, created["VolumeId"]) == "available"
