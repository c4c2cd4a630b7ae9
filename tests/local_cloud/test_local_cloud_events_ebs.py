"""EBS volume notifications as AWS documents them: createVolume (when available) and deleteVolume; a successful
attach or detach sends none."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from tests.local_cloud.fixtures.event_recorder import (
    EBS_NOTIFICATION,
    EPOCH,
    Recorder,
    recording_rule,
)

ZONE = "us-east-1a"
ACCOUNT = "123456789012"


@pytest.fixture
def ebs_lc(clock: VirtualClock) -> Iterator[LocalCloud]:
    """New volumes stay creating for 2 virtual seconds; instances are instant."""
    with LocalCloud(clock=clock, volume_pending_seconds=2, epoch=EPOCH) as cloud:
        yield cloud


@pytest.fixture
def recorder(ebs_lc: LocalCloud) -> Recorder:
    return recording_rule(ebs_lc, "on-ebs", "ebs", EBS_NOTIFICATION)


def volume_arn(volume_id: str) -> str:
    return f"arn:aws:ec2:us-east-1:{ACCOUNT}:volume/{volume_id}"


def test_a_volume_lifecycle_emits_the_two_notifications_aws_documents(
    ebs_lc: LocalCloud, recorder: Recorder, clock: VirtualClock
) -> None:
    ec2 = ebs_lc.client("ec2")
    instance_id = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    assert recorder.events == []  # root volumes made by run_instances: no notification
    volume_id = ec2.create_volume(Size=8, AvailabilityZone=ZONE)["VolumeId"]
    assert recorder.events == []  # still creating
    clock.advance(2)
    assert [e["detail"]["event"] for e in recorder.events] == ["createVolume"]  # at its deadline, with no read
    assert ebs_lc.settle_due() == 0
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    ec2.detach_volume(VolumeId=volume_id, InstanceId=instance_id)
    assert len(recorder.events) == 1  # AWS sends nothing when an attach or a detach succeeds
    ec2.delete_volume(VolumeId=volume_id)
    created, deleted = recorder.events
    assert created["detail"]["event"] == "createVolume"
    assert created["detail"]["result"] == "available"
    assert created["detail"]["cause"] == ""
    assert created["detail"]["request-id"] != deleted["detail"]["request-id"]
    assert (deleted["detail"]["event"], deleted["detail"]["result"]) == ("deleteVolume", "deleted")
    assert created["detail-type"] == "EBS Volume Notification"
    assert created["source"] == "aws.ec2"
    assert created["time"] == "2026-11-22T00:00:02Z"
    assert created["resources"] == [volume_arn(volume_id)]
    assert deleted["resources"] == [volume_arn(volume_id)]


def test_create_volume_is_announced_once_at_its_deadline_whatever_reads_follow(
    ebs_lc: LocalCloud, recorder: Recorder, clock: VirtualClock
) -> None:
    ec2 = ebs_lc.client("ec2")
    volume_id = ec2.create_volume(Size=8, AvailabilityZone=ZONE)["VolumeId"]
    clock.advance(1.9)
    assert recorder.events == []
    clock.advance(0.1)
    assert len(recorder.events) == 1
    assert ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"] == "available"
    ec2.describe_volumes(VolumeIds=[volume_id])
    assert ebs_lc.settle_due() == 0
    assert [e["detail"]["event"] for e in recorder.events] == ["createVolume"]


def test_an_instant_volume_is_announced_at_creation(clock: VirtualClock) -> None:
    with LocalCloud(clock=clock, epoch=EPOCH) as cloud:
        recorder = recording_rule(cloud, "on-ebs", "ebs", EBS_NOTIFICATION)
        volume_id = cloud.client("ec2").create_volume(Size=8, AvailabilityZone=ZONE)["VolumeId"]
        assert [e["resources"] for e in recorder.events] == [[volume_arn(volume_id)]]


def test_a_retried_create_volume_is_announced_once(clock: VirtualClock) -> None:
    with LocalCloud(clock=clock, epoch=EPOCH) as cloud:
        recorder = recording_rule(cloud, "on-ebs", "ebs", EBS_NOTIFICATION)
        ec2 = cloud.client("ec2")
        first = ec2.create_volume(Size=8, AvailabilityZone=ZONE, ClientToken="once")["VolumeId"]
        assert ec2.create_volume(Size=8, AvailabilityZone=ZONE, ClientToken="once")["VolumeId"] == first
        assert len(recorder.events) == 1


def test_refused_volume_calls_announce_nothing(ebs_lc: LocalCloud, recorder: Recorder) -> None:
    ec2 = ebs_lc.client("ec2")
    instance_id = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    volume_id = ec2.create_volume(Size=8, AvailabilityZone=ZONE)["VolumeId"]
    with pytest.raises(ClientError, match="IncorrectState"):
        ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")  # still creating
    with pytest.raises(ClientError):
        ec2.delete_volume(VolumeId="vol-0123456789abcdef0")
    assert recorder.events == []
