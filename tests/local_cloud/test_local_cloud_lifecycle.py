"""LocalCloud entry/exit: fresh clouds, exact patch removal, credentials, default factory, accounts."""

from __future__ import annotations

import os
import sys
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.config import default_user_config
from moto.ec2.models import ec2_backends
from moto.ec2.models.instances import Instance

from pcf.util.aws.clients import ClientFactory, get_default_factory, set_default_factory
from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.patching import active_patches, install_patches, uninstall_patches
from pcf_local_cloud.state import EmulationState

AMI = "ami-12345678"


def run(ec2: Any, **kwargs: Any) -> str:
    return ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, **kwargs)["Instances"][0]["InstanceId"]


def instance_count(ec2: Any) -> int:
    return sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"])


def snapshot_of(targets: list[str]) -> dict[str, object]:
    """What each patched attribute's owning class (or module) holds now (a sentinel when absent)."""
    snapshot: dict[str, object] = {}
    for target in targets:
        owner_name, _, attribute = target.rpartition(".")
        snapshot[target] = vars(_owner(owner_name)).get(attribute, "<absent>")
    return snapshot


def _owner(dotted: str) -> Any:
    """The module, or the class inside the longest importable module prefix, that ``dotted`` names."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is not None:
            owner: Any = module
            for name in parts[cut:]:
                owner = getattr(owner, name)
            return owner
    raise LookupError(f"{dotted}: no loaded module holds it")


def test_two_clouds_in_sequence_are_independent(vclock: VirtualClock) -> None:
    with LocalCloud(clock=vclock) as first:
        ec2 = first.client("ec2")
        first_id = run(ec2, ClientToken="tok")
        assert instance_count(ec2) == 1
    with LocalCloud(clock=vclock) as second:
        ec2 = second.client("ec2")
        assert instance_count(ec2) == 0
        assert run(ec2, ClientToken="tok") != first_id  # the token store went with the first cloud
        assert instance_count(ec2) == 1


def test_one_cloud_object_can_be_entered_again_empty(vclock: VirtualClock) -> None:
    cloud = LocalCloud(clock=vclock)
    with cloud:
        run(cloud.client("ec2"))
    assert not cloud.running
    with cloud:
        assert instance_count(cloud.client("ec2")) == 0


def test_exit_restores_every_moto_attribute_exactly(vclock: VirtualClock) -> None:
    with LocalCloud(clock=vclock) as probe:
        targets = list(probe.patches.targets)
    before = snapshot_of(targets)
    assert "moto.ec2.models.instances.Instance._state" in targets
    assert before["moto.ec2.models.instances.Instance._state"] == "<absent>"
    with LocalCloud(clock=vclock, pending_seconds=5) as cloud:
        during = snapshot_of(targets)
        assert all(during[t] is not before[t] for t in targets)
        run(cloud.client("ec2"))
    after = snapshot_of(targets)
    assert all(after[t] is before[t] for t in targets)
    assert active_patches() is None


def test_moto_is_stock_after_exit(vclock: VirtualClock) -> None:
    with LocalCloud(clock=vclock, pending_seconds=5):
        pass
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        first = run(ec2, ClientToken="tok")
        second = run(ec2, ClientToken="tok")
        assert first != second  # moto ignores ClientToken again
        state = ec2.describe_instances(InstanceIds=[first])["Reservations"][0]["Instances"][0]["State"]
        assert state["Name"] == "running"  # no pending phase
        ec2.terminate_instances(InstanceIds=[first])
        ec2.start_instances(InstanceIds=[first])  # stock moto allows it
        volume = ec2.create_volume(Size=8, AvailabilityZone="us-east-1a")
        assert volume["State"] == "available"


def test_credentials_do_not_touch_os_environ(vclock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    environ_before = dict(os.environ)
    with LocalCloud(clock=vclock) as cloud:
        assert dict(os.environ) == environ_before
        credentials = cloud.session.get_credentials()
        assert credentials.access_key == "testing"
        run(cloud.client("ec2"))
    assert dict(os.environ) == environ_before


def test_entering_makes_the_factory_the_default_and_exit_restores(vclock: VirtualClock) -> None:
    previous = ClientFactory(region_name="eu-west-1")
    set_default_factory(previous)
    try:
        with LocalCloud(clock=vclock) as cloud:
            assert get_default_factory() is cloud.client_factory
            assert cloud.client("ec2") is get_default_factory().client("ec2")
        assert get_default_factory() is previous
        with LocalCloud(clock=vclock, make_default=False):
            assert get_default_factory() is previous
    finally:
        set_default_factory(None)


def test_step_functions_execution_is_switched_on_only_inside(vclock: VirtualClock) -> None:
    with LocalCloud(clock=vclock):
        assert default_user_config["stepfunctions"]["execute_state_machine"] is True
    assert default_user_config["stepfunctions"]["execute_state_machine"] is False


def test_requests_are_made_in_the_clouds_account(vclock: VirtualClock) -> None:
    with LocalCloud(clock=vclock, account_id="111122223333") as cloud:
        assert cloud.client("sts").get_caller_identity()["Account"] == "111122223333"
        instance_id = run(cloud.client("ec2"))
        assert cloud.instance_backend(instance_id).owner_id == "111122223333"
        assert ec2_backends["111122223333"]["us-east-1"] is cloud.ec2_backend()


def test_a_second_cloud_cannot_start_inside_the_first(vclock: VirtualClock) -> None:
    with LocalCloud(clock=vclock) as outer:
        with pytest.raises(RuntimeError), LocalCloud(clock=vclock):
            pass
        run(outer.client("ec2"))
        assert active_patches() is outer.patches
    assert active_patches() is None


def test_helpers_need_a_running_cloud(vclock: VirtualClock) -> None:
    cloud = LocalCloud(clock=vclock)
    with pytest.raises(RuntimeError):
        cloud.client("ec2")
    with pytest.raises(RuntimeError):
        cloud.force_instance_state("i-0123456789abcdef0", "stopped")


def test_install_patches_standalone(vclock: VirtualClock) -> None:
    patches = install_patches(EmulationState(clock=vclock, pending_seconds=3))
    try:
        assert active_patches() is patches
        with pytest.raises(RuntimeError):
            install_patches(EmulationState(clock=vclock))
        with mock_aws():
            ec2 = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
            instance_id = run(ec2, ClientToken="tok")
            assert run(ec2, ClientToken="tok") == instance_id
            vclock.advance(3)
            state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
            assert state["State"]["Name"] == "running"
    finally:
        uninstall_patches()
    assert active_patches() is None
    assert "_state" not in vars(Instance)
    uninstall_patches()  # idempotent


def test_the_shells_aws_profile_and_endpoint_are_ignored(vclock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    with LocalCloud(clock=vclock) as cloud:
        assert instance_count(cloud.client("ec2")) == 0


def test_dynamodb_conditional_writes_are_atomic_across_threads() -> None:
    """moto checks a condition then writes without a lock; the local cloud serializes requests."""
    import threading

    with LocalCloud() as local:
        dynamodb = local.client("dynamodb")
        dynamodb.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        winners: list[int] = []
        start = threading.Barrier(8)

        def claim(worker: int) -> None:
            start.wait()
            try:
                dynamodb.put_item(TableName="t", Item={"pk": {"S": "lease"}, "owner": {"N": str(worker)}},
                                  ConditionExpression="attribute_not_exists(pk)")
                winners.append(worker)
            except dynamodb.exceptions.ConditionalCheckFailedException:
                pass

        for _round in range(5):
            dynamodb.delete_item(TableName="t", Key={"pk": {"S": "lease"}})
            winners.clear()
            threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert len(winners) == 1


def test_stopping_a_cloud_ends_its_running_executions(vclock: VirtualClock) -> None:
    """An execution left running must not outlive its cloud and act on the next one."""
    import json

    from pcf_local_cloud.executions import running_executions, stop_all

    with LocalCloud(clock=vclock) as cloud:
        role = cloud.client("iam").create_role(RoleName="waiter", AssumeRolePolicyDocument=json.dumps(
            {"Statement": []}))["Role"]
        sfn = cloud.client("stepfunctions")
        machine = sfn.create_state_machine(name="waits", roleArn=role["Arn"], definition=json.dumps(
            {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 300, "End": True}}}))["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, name="long", input="{}")["executionArn"]
        assert running_executions(sfn) == [arn]
        assert stop_all(sfn, timeout_s=10) == []
        assert sfn.describe_execution(executionArn=arn)["status"] in ("ABORTED", "FAILED")
        assert running_executions(sfn) == []
