"""ClientToken idempotency for run_instances and create_volume."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pcf_local_cloud.cloud import LocalCloud

AMI = "ami-12345678"
ZONE = "us-east-1a"


def run(ec2: Any, **kwargs: Any) -> dict[str, Any]:
    return ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, **kwargs)


def all_instance_ids(ec2: Any) -> list[str]:
    return [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]


def created_volume_ids(ec2: Any) -> list[str]:
    return [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"] if not v["Attachments"]]


def error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return error.value.response["Error"]["Code"]


def test_run_instances_with_the_same_token_returns_the_first_instance(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    first = run(ec2, ClientToken="tok-1")
    second = run(ec2, ClientToken="tok-1")
    assert second["ReservationId"] == first["ReservationId"]
    assert second["Instances"][0]["InstanceId"] == first["Instances"][0]["InstanceId"]
    assert all_instance_ids(ec2) == [first["Instances"][0]["InstanceId"]]


def test_different_tokens_and_no_token_make_new_instances(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    run(ec2, ClientToken="a")
    run(ec2, ClientToken="b")
    run(ec2)  # botocore fills in a fresh token for each call
    run(ec2)
    assert len(set(all_instance_ids(ec2))) == 4


def test_same_token_with_other_parameters_is_a_mismatch_and_creates_nothing(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    run(ec2, ClientToken="tok", InstanceType="t3.micro")
    with pytest.raises(ClientError) as error:
        run(ec2, ClientToken="tok", InstanceType="t3.large")
    assert error_code(error) == "IdempotentParameterMismatch"
    with pytest.raises(ClientError) as error:
        run(
            ec2,
            ClientToken="tok",
            InstanceType="t3.micro",
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "PCFName", "Value": "x"}]}],
        )
    assert error_code(error) == "IdempotentParameterMismatch"
    assert len(all_instance_ids(ec2)) == 1


def test_replay_returns_the_original_even_after_it_was_terminated(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    instance_id = run(ec2, ClientToken="tok")["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[instance_id])
    assert run(ec2, ClientToken="tok")["Instances"][0]["InstanceId"] == instance_id
    assert all_instance_ids(ec2) == [instance_id]


def test_tokens_are_per_region(instant_lc: LocalCloud) -> None:
    east = instant_lc.client("ec2")
    west = instant_lc.client("ec2", region_name="us-west-2")
    east_id = run(east, ClientToken="tok")["Instances"][0]["InstanceId"]
    west_id = run(west, ClientToken="tok")["Instances"][0]["InstanceId"]
    assert east_id != west_id
    assert all_instance_ids(west) == [west_id]


def test_a_failed_call_records_nothing(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    with pytest.raises(ClientError):
        run(ec2, ClientToken="tok", SecurityGroupIds=["sg-00000000000000000"])
    instance_id = run(ec2, ClientToken="tok")["Instances"][0]["InstanceId"]
    assert all_instance_ids(ec2) == [instance_id]


def test_dry_run_is_not_recorded(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    with pytest.raises(ClientError) as error:
        run(ec2, ClientToken="tok", DryRun=True)
    assert error_code(error) == "DryRunOperation"
    assert all_instance_ids(ec2) == []
    run(ec2, ClientToken="tok")
    assert len(all_instance_ids(ec2)) == 1


def test_concurrent_calls_with_one_token_make_one_instance(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    barrier = threading.Barrier(8)
    seen: list[str] = []

    def worker() -> None:
        barrier.wait()
        seen.append(run(ec2, ClientToken="shared")["Instances"][0]["InstanceId"])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(seen) == 8
    assert len(set(seen)) == 1
    assert all_instance_ids(ec2) == seen[:1]


def test_create_volume_with_the_same_token_returns_the_first_volume(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    first = ec2.create_volume(Size=8, AvailabilityZone=ZONE, ClientToken="vol-tok")
    second = ec2.create_volume(Size=8, AvailabilityZone=ZONE, ClientToken="vol-tok")
    assert second["VolumeId"] == first["VolumeId"]
    assert created_volume_ids(ec2) == [first["VolumeId"]]


def test_create_volume_mismatch_and_no_token(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    ec2.create_volume(Size=8, AvailabilityZone=ZONE, ClientToken="vol-tok")
    with pytest.raises(ClientError) as error:
        ec2.create_volume(Size=16, AvailabilityZone=ZONE, ClientToken="vol-tok")
    assert error_code(error) == "IdempotentParameterMismatch"
    ec2.create_volume(Size=8, AvailabilityZone=ZONE)
    ec2.create_volume(Size=8, AvailabilityZone=ZONE)
    assert len(created_volume_ids(ec2)) == 3


def test_one_token_may_serve_both_actions(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    run(ec2, ClientToken="same")
    volume = ec2.create_volume(Size=8, AvailabilityZone=ZONE, ClientToken="same")
    assert volume["VolumeId"].startswith("vol-")
    assert len(all_instance_ids(ec2)) == 1
