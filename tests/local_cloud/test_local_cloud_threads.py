"""The patches under many threads against one in-process moto, and inside a moto server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import requests

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.ec2_phases import STATE_CODES
from pcf_local_cloud.patching import install_patches
from pcf_local_cloud.state import EmulationState

AMI = "ami-12345678"


def in_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def wrapper(index: int) -> None:
        try:
            work(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    return errors


def state_of(ec2: Any, instance_id: str) -> dict[str, Any]:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]


def test_concurrent_poll_loops_all_reach_running_without_inflating_time(
    slow_lc: LocalCloud, vclock: VirtualClock
) -> None:
    ec2 = slow_lc.client("ec2")
    launched = threading.Barrier(16)
    polls: list[int] = []

    def particle(_: int) -> None:
        instance_id = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        launched.wait()
        count = 0
        while state_of(ec2, instance_id)["Name"] != "running":
            count += 1
            assert count < 100
            vclock.sleep(5)
        polls.append(count)

    assert in_threads(16, particle) == []
    assert len(polls) == 16
    assert 30 <= vclock.now() <= 35
    running = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
    assert sum(len(r["Instances"]) for r in running["Reservations"]) == 16


def test_concurrent_transitions_and_reads_keep_states_consistent(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    ec2 = slow_lc.client("ec2")
    response = ec2.run_instances(ImageId=AMI, MinCount=8, MaxCount=8)
    ids = [i["InstanceId"] for i in response["Instances"]]
    vclock.advance(30)

    def churn(index: int) -> None:
        instance_id = ids[index % len(ids)]
        for step in range(6):
            if index % 2:
                for reservation in ec2.describe_instances()["Reservations"]:
                    for instance in reservation["Instances"]:
                        assert STATE_CODES[instance["State"]["Name"]] == instance["State"]["Code"]
            else:
                try:
                    action = ec2.stop_instances if step % 2 == 0 else ec2.start_instances
                    action(InstanceIds=[instance_id])
                except ec2.exceptions.ClientError as error:
                    assert error.response["Error"]["Code"] == "IncorrectInstanceState"
            vclock.sleep(7)

    assert in_threads(16, churn) == []
    vclock.advance(60)
    for instance_id in ids:
        state = state_of(ec2, instance_id)
        assert state["Name"] in ("running", "stopped")
        assert STATE_CODES[state["Name"]] == state["Code"]


def test_patches_apply_inside_a_threaded_moto_server(vclock: VirtualClock) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    patches = install_patches(EmulationState(clock=vclock, pending_seconds=10))
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        ec2 = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        ).client("ec2", endpoint_url=endpoint)
        instance_id = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, ClientToken="srv")["Instances"][0][
            "InstanceId"
        ]
        again = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, ClientToken="srv")["Instances"][0]
        assert again["InstanceId"] == instance_id
        assert state_of(ec2, instance_id)["Name"] == "pending"
        vclock.advance(10)
        assert state_of(ec2, instance_id)["Name"] == "running"
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    finally:
        patches.uninstall()
        server.stop()
