"""The ``ebs_volume`` flavor on the local cloud: tables, lifecycle, ClientToken, updates, attach, budget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pcf.core import State
from pcf.core.apply_engine import ApplyResult
from pcf.core.particle import Particle
from pcf.core.pcf_exceptions import InvalidConfigException, TooManyResourceException, TransitionError
from pcf.core.runtime import ApplyEvent, Runtime
from pcf.particle.aws.ec2.ebs_volume import EBSVolume
from pcf.util.aws.tag_specifications import DEPLOYMENT_TAG, deployment_name
from pcf.util.pcf_util import tags_to_dict
from tests.particles.conftest import Calls

ZONE = "us-east-1a"


def volume_definition(name: str = "data", desired: str = "running", **aws: Any) -> dict[str, Any]:
    custom = {"volume_name": name, **aws.pop("custom_config", {})}
    return {
        "pcf_name": name,
        "flavor": "ebs_volume",
        "desired_state": desired,
        "aws_resource": {"AvailabilityZone": ZONE, "Size": 10, **aws, "custom_config": custom},
    }


def volumes_named(ec2: Any, name: str) -> list[dict[str, Any]]:
    return ec2.describe_volumes(Filters=[{"Name": "tag:PCFName", "Values": [name]}])["Volumes"]


def the_volume(ec2: Any, name: str) -> dict[str, Any]:
    found = volumes_named(ec2, name)
    assert len(found) == 1, found
    return found[0]



def operations(calls: Calls) -> list[str]:
    return [name for name, _ in calls]


# -- a stand-in parent EC2 particle ---------------------------------------------------------------------
class EC2Stub(Particle):
    """A minimal EC2 parent: an instance made directly with boto3, read back by id."""

    flavor = "ec2_instance_stub"

    def __init__(self, name: str, ec2: Any, instance_id: str) -> None:
        super().__init__({"pcf_name": name, "flavor": self.flavor, "desired_state": "running"})
        self._ec2 = ec2
        self.instance_id = instance_id

    def sync_state(self) -> None:
        reservations = self._ec2.describe_instances(InstanceIds=[self.instance_id])["Reservations"]
        name = reservations[0]["Instances"][0]["State"]["Name"]
        self.state = {"running": State.running, "stopped": State.stopped, "terminated": State.terminated}.get(
            name, State.pending
        )

    def get_instance_id(self) -> str:
        return self.instance_id


@pytest.fixture
def instance_id(ec2: Any, ami_id: str) -> str:
    reservation = ec2.run_instances(
        ImageId=ami_id,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        Placement={"AvailabilityZone": ZONE},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "PCFName", "Value": "host"}]}],
    )
    return reservation["Instances"][0]["InstanceId"]


def link(child: Particle, parent: Particle) -> None:
    child.parents.add(parent)
    parent.children.add(child)


# -- the contract ---------------------------------------------------------------------------------------
def test_class_tables_equal_the_seed() -> None:
    assert EBSVolume.flavor == "ebs_volume"
    assert {
        "AvailabilityZone",
        "Encrypted",
        "Iops",
        "KmsKeyId",
        "Size",
        "SnapshotId",
        "TagSpecifications",
        "VolumeType",
    } == EBSVolume.START_PARAM_FILTER
    assert EBSVolume.UPDATE_PARAM_FILTER == {"Iops": "", "Size": "", "VolumeType": ""}
    assert EBSVolume.UNIQUE_KEYS == ["aws_resource.custom_config.volume_name"]
    assert {
        "attaching": State.pending,
        "available": State.running,
        "creating": State.pending,
        "deleted": State.terminated,
        "deleting": State.pending,
        "detaching": State.terminated,
        "in-use": State.running,
    } == EBSVolume.state_lookup
    assert {State.running: 1, State.stopped: 0, State.terminated: 0} == EBSVolume.equivalent_states
    for method in (
        "_set_unique_keys",
        "_start",
        "_stop",
        "_terminate",
        "_update",
        "attach_volume",
        "detach_volume",
        "get_status",
        "is_state_definition_equivalent",
        "is_state_equivalent",
        "sync_state",
    ):
        assert method in vars(EBSVolume), method


def test_the_registry_finds_the_flavor() -> None:
    from pcf.core.registry import get_particle_flavor

    assert get_particle_flavor("ebs_volume") is EBSVolume


def test_stopped_is_terminated_for_a_volume() -> None:
    volume = EBSVolume(volume_definition())
    assert volume.is_state_equivalent(State.stopped, State.terminated)
    assert not volume.is_state_equivalent(State.running, State.terminated)
    assert not volume.is_state_equivalent(State.pending, State.running)


# -- create ---------------------------------------------------------------------------------------------
def test_apply_creates_an_available_volume_with_its_tags(cloud: Any, ec2: Any, runtime: Runtime) -> None:
    volume = EBSVolume(volume_definition(VolumeType="gp3", custom_config={"tags": {"team": "data", "cost": 7}}))
    result = volume.apply(runtime=runtime)

    found = the_volume(ec2, "data")
    assert found["State"] == "available"
    assert (found["Size"], found["VolumeType"], found["AvailabilityZone"]) == (10, "gp3", ZONE)
    assert tags_to_dict(found["Tags"]) == {
        "PCFName": "data",
        DEPLOYMENT_TAG: deployment_name(),
        "team": "data",
        "cost": "7",
    }
    assert volume.state is State.running
    assert volume.volume_id == found["VolumeId"]
    assert result.created() == ["ebs_volume:data"]
    assert volume.current_state_definition["custom_config"] == {
        "volume_name": "data",
        "tags": {"team": "data", "cost": "7"},
    }


def test_a_second_apply_changes_nothing(cloud: Any, ec2: Any, runtime: Runtime, api_calls: Calls) -> None:
    EBSVolume(volume_definition()).apply(runtime=runtime)
    api_calls.clear()
    result = EBSVolume(volume_definition()).apply(runtime=runtime)
    assert result.outcomes["ebs_volume:data"].transitions == []
    assert operations(api_calls) == ["DescribeVolumes"]
    assert len(volumes_named(ec2, "data")) == 1


def test_create_volume_carries_a_client_token(cloud: Any, api_calls: Calls) -> None:
    volume = EBSVolume(volume_definition())
    volume.idempotency_scope = "run-1"
    volume._start()
    (params,) = [p for name, p in api_calls if name == "CreateVolume"]
    assert params["ClientToken"].startswith("pcf-")
    assert len(params["ClientToken"]) <= 64
    assert params["TagSpecifications"][0]["ResourceType"] == "volume"


def test_start_twice_with_one_scope_creates_one_volume(cloud: Any, ec2: Any) -> None:
    first = EBSVolume(volume_definition())
    first.idempotency_scope = "run-1"
    one = first._start()["VolumeId"]
    again = first._start()["VolumeId"]
    # a retry from another process (a new particle object) with the same scope
    retry = EBSVolume(volume_definition())
    retry.idempotency_scope = "run-1"
    three = retry._start()["VolumeId"]

    assert one == again == three
    assert [v["VolumeId"] for v in volumes_named(ec2, "data")] == [one]


def test_another_scope_is_another_creation(cloud: Any, ec2: Any) -> None:
    first = EBSVolume(volume_definition())
    first.idempotency_scope = "run-1"
    first._start()
    second = EBSVolume(volume_definition())
    second.idempotency_scope = "run-2"
    second._start()
    assert len(volumes_named(ec2, "data")) == 2
    with pytest.raises(TooManyResourceException, match="2 volumes carry PCFName='data'"):
        EBSVolume(volume_definition()).sync_state()  # found by name: the framework will not guess


def test_recreating_after_a_delete_makes_a_new_volume(cloud: Any, ec2: Any) -> None:
    volume = EBSVolume(volume_definition())
    volume.start()
    first = volume.volume_id
    volume.terminate()
    volume.sync_state()
    assert volume.state is State.terminated
    volume.start()  # same (empty) scope: must not replay the deleted volume's token
    volume.sync_state()
    assert volume.state is State.running
    assert volume.volume_id not in (None, first)
    assert len(volumes_named(ec2, "data")) == 1


# -- stop / terminate -------------------------------------------------------------------------------------
@pytest.mark.parametrize("desired", ["stopped", "terminated"])
def test_desired_stopped_or_terminated_deletes(cloud: Any, ec2: Any, runtime: Runtime, desired: str) -> None:
    EBSVolume(volume_definition()).apply(runtime=runtime)
    volume = EBSVolume(volume_definition(desired=desired))
    result = volume.apply(runtime=runtime)

    assert volumes_named(ec2, "data") == []
    assert volume.state is State.terminated
    assert result.outcomes["ebs_volume:data"].transitions == ["stop" if desired == "stopped" else "terminate"]


@pytest.mark.parametrize("desired", ["stopped", "terminated"])
def test_persist_on_termination_keeps_the_volume(cloud: Any, ec2: Any, runtime: Runtime, desired: str) -> None:
    EBSVolume(volume_definition()).apply(runtime=runtime)
    volume = EBSVolume({**volume_definition(desired=desired), "persist_on_termination": True})
    result = volume.apply(runtime=runtime)

    assert the_volume(ec2, "data")["State"] == "available"
    assert result.outcomes["ebs_volume:data"].transitions == []
    assert "persist_on_termination" in result.outcomes["ebs_volume:data"].reason


def test_terminate_is_idempotent(cloud: Any, ec2: Any) -> None:
    volume = EBSVolume(volume_definition())
    volume.start()
    assert volume.terminate() is not None
    assert volume._terminate() is None  # already gone: nothing to do, no error
    assert volume.terminate() is None
    assert volumes_named(ec2, "data") == []


def test_a_volume_deleted_behind_our_back_is_forgotten(cloud: Any, ec2: Any) -> None:
    volume = EBSVolume(volume_definition())
    volume.start()
    ec2.delete_volume(VolumeId=volume.volume_id)
    volume.sync_state()
    assert volume.state is State.terminated
    assert volume.volume_id is None
    assert volume.current_state_definition == {}


# -- update -------------------------------------------------------------------------------------------------
def test_apply_modifies_size_type_and_iops(cloud: Any, ec2: Any, runtime: Runtime, api_calls: Calls) -> None:
    EBSVolume(volume_definition()).apply(runtime=runtime)
    api_calls.clear()
    volume = EBSVolume(volume_definition(Size=20, VolumeType="io1", Iops=400))
    result = volume.apply(runtime=runtime)

    found = the_volume(ec2, "data")
    assert (found["Size"], found["VolumeType"], found["Iops"]) == (20, "io1", 400)
    assert result.outcomes["ebs_volume:data"].transitions == ["update"]
    (params,) = [p for name, p in api_calls if name == "ModifyVolume"]
    assert params == {"VolumeId": found["VolumeId"], "Size": 20, "VolumeType": "io1", "Iops": 400}
    assert volume.is_state_definition_equivalent()


def test_update_sends_only_what_differs(cloud: Any, ec2: Any, runtime: Runtime, api_calls: Calls) -> None:
    EBSVolume(volume_definition(VolumeType="gp3", Iops=3000)).apply(runtime=runtime)
    api_calls.clear()
    EBSVolume(volume_definition(VolumeType="gp3", Iops=4000)).apply(runtime=runtime)
    (params,) = [p for name, p in api_calls if name == "ModifyVolume"]
    assert params == {"VolumeId": the_volume(ec2, "data")["VolumeId"], "Iops": 4000}
    assert the_volume(ec2, "data")["Iops"] == 4000


def test_tags_update_touches_only_differing_tags(cloud: Any, ec2: Any, runtime: Runtime, api_calls: Calls) -> None:
    tags = {"keep": "same", "change": "old", "drop": "x"}
    EBSVolume(volume_definition(custom_config={"tags": tags})).apply(runtime=runtime)
    api_calls.clear()
    new_tags = {"keep": "same", "change": "new", "add": "y"}
    result = EBSVolume(volume_definition(custom_config={"tags": new_tags})).apply(runtime=runtime)

    volume_id = the_volume(ec2, "data")["VolumeId"]
    assert result.outcomes["ebs_volume:data"].transitions == ["update"]
    assert "ModifyVolume" not in operations(api_calls)
    (deleted,) = [p for name, p in api_calls if name == "DeleteTags"]
    (created,) = [p for name, p in api_calls if name == "CreateTags"]
    assert deleted == {"Resources": [volume_id], "Tags": [{"Key": "drop"}]}
    assert created == {
        "Resources": [volume_id],
        "Tags": [{"Key": "add", "Value": "y"}, {"Key": "change", "Value": "new"}],
    }
    assert tags_to_dict(the_volume(ec2, "data")["Tags"]) == {
        "PCFName": "data",
        DEPLOYMENT_TAG: deployment_name(),
        **new_tags,
    }


def test_equivalence_ignores_unspecified_fields(cloud: Any, ec2: Any, runtime: Runtime) -> None:
    EBSVolume(volume_definition(VolumeType="io1", Iops=500)).apply(runtime=runtime)
    ec2.create_tags(Resources=[the_volume(ec2, "data")["VolumeId"]], Tags=[{"Key": "owner", "Value": "ops"}])

    unlisted = EBSVolume(volume_definition())  # no VolumeType, no Iops, no tags listed
    unlisted.sync_state()
    assert unlisted.is_state_definition_equivalent()

    listed = EBSVolume(volume_definition(custom_config={"tags": {}}))  # tags listed: "owner" must go
    listed.sync_state()
    assert not listed.is_state_definition_equivalent()

    bigger = EBSVolume(volume_definition(Size=11))
    bigger.sync_state()
    assert not bigger.is_state_definition_equivalent()


def test_a_volume_cannot_shrink(cloud: Any, ec2: Any, runtime: Runtime) -> None:
    EBSVolume(volume_definition(Size=50)).apply(runtime=runtime)
    with pytest.raises(InvalidConfigException) as caught:
        EBSVolume(volume_definition(Size=20)).apply(runtime=runtime)
    assert caught.value.field == "ebs_volume:data.aws_resource.Size"
    assert the_volume(ec2, "data")["Size"] == 50


def test_persist_on_update_leaves_a_differing_volume(cloud: Any, ec2: Any, runtime: Runtime) -> None:
    EBSVolume(volume_definition()).apply(runtime=runtime)
    result = EBSVolume({**volume_definition(Size=30), "persist_on_update": True}).apply(runtime=runtime)
    assert result.outcomes["ebs_volume:data"].transitions == []
    assert the_volume(ec2, "data")["Size"] == 10


# -- attach / detach ----------------------------------------------------------------------------------------
def test_auto_attach_to_a_running_parent_then_detach_before_delete(
    cloud: Any, ec2: Any, runtime: Runtime, instance_id: str, api_calls: Calls
) -> None:
    parent = EC2Stub("host", ec2, instance_id)
    volume = EBSVolume(volume_definition(custom_config={"attach": True, "device": "/dev/sdg"}))
    link(volume, parent)
    volume.apply(runtime=runtime)

    found = the_volume(ec2, "data")
    assert found["State"] == "in-use"
    assert [(a["InstanceId"], a["Device"]) for a in found["Attachments"]] == [(instance_id, "/dev/sdg")]
    assert volume.state is State.running
    (attach,) = [p for name, p in api_calls if name == "AttachVolume"]
    assert attach == {"Device": "/dev/sdg", "InstanceId": instance_id, "VolumeId": found["VolumeId"]}

    api_calls.clear()
    volume.set_desired_state("terminated")
    volume.apply(runtime=runtime)
    ops = operations(api_calls)
    assert "AttachVolume" not in ops
    assert ops.index("DetachVolume") < ops.index("DeleteVolume")
    (detach,) = [p for name, p in api_calls if name == "DetachVolume"]
    assert detach["InstanceId"] == instance_id
    assert volumes_named(ec2, "data") == []
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"


def test_no_auto_attach_without_the_flag_or_a_running_parent(
    cloud: Any, ec2: Any, runtime: Runtime, instance_id: str
) -> None:
    parent = EC2Stub("host", ec2, instance_id)
    plain = EBSVolume(volume_definition("plain"))
    link(plain, parent)
    plain.apply(runtime=runtime)
    assert the_volume(ec2, "plain")["Attachments"] == []

    ec2.stop_instances(InstanceIds=[instance_id])
    stopped_parent = EC2Stub("host2", ec2, instance_id)
    stopped_parent.sync_state()
    assert stopped_parent.state is State.stopped
    waiting = EBSVolume(volume_definition("waiting", custom_config={"attach": True}))
    link(waiting, stopped_parent)
    waiting.start()
    waiting.sync_state()
    assert waiting.state is State.running
    assert the_volume(ec2, "waiting")["State"] == "available"


def test_a_direct_terminate_does_not_attach_first(cloud: Any, ec2: Any, instance_id: str, api_calls: Calls) -> None:
    parent = EC2Stub("host", ec2, instance_id)
    parent.sync_state()
    volume = EBSVolume(volume_definition(custom_config={"attach": True}))  # desired running
    link(volume, parent)
    volume._start()  # created, not attached yet
    volume.terminate()
    assert "AttachVolume" not in operations(api_calls)
    assert volumes_named(ec2, "data") == []


def test_attach_and_detach_by_hand(cloud: Any, ec2: Any, instance_id: str) -> None:
    volume = EBSVolume(volume_definition())
    volume.start()
    volume.attach_volume(ec2_parent_id=instance_id)
    volume.sync_state()
    assert volume.current_state_definition["Attachments"][0]["Device"] == "/dev/sdf"
    assert volume.detach_volume()["InstanceId"] == instance_id
    volume.sync_state()
    assert volume.current_state_definition["Attachments"] == []
    assert volume.detach_volume() is None


def test_a_volume_of_a_terminated_instance_can_be_deleted(
    cloud: Any, ec2: Any, runtime: Runtime, instance_id: str
) -> None:
    parent = EC2Stub("host", ec2, instance_id)
    volume = EBSVolume(volume_definition(custom_config={"attach": True}))
    link(volume, parent)
    volume.apply(runtime=runtime)
    ec2.terminate_instances(InstanceIds=[instance_id])
    volume.sync_state()
    assert volume.current_state_definition["State"] == "available"
    volume.terminate()
    assert volumes_named(ec2, "data") == []


def test_two_ec2_parents_are_refused(cloud: Any, ec2: Any, runtime: Runtime, instance_id: str) -> None:
    volume = EBSVolume(volume_definition(custom_config={"attach": True}))
    link(volume, EC2Stub("a", ec2, instance_id))
    link(volume, EC2Stub("b", ec2, instance_id))
    with pytest.raises(InvalidConfigException) as caught:
        volume.apply(runtime=runtime, validate_config=True)
    assert caught.value.field == "ebs_volume:data.parents"
    assert "ec2_instance_stub:a, ec2_instance_stub:b" in caught.value.reason
    assert volumes_named(ec2, "data") == []


# -- pending phases and the API budget ------------------------------------------------------------------------
def test_creating_is_waited_through_on_the_virtual_clock(slow_cloud: Any, clock: Any, runtime: Runtime) -> None:
    events: list[ApplyEvent] = []
    runtime.on_event = events.append
    volume = EBSVolume(volume_definition())
    started = clock.now()
    result: ApplyResult = volume.apply(runtime=runtime)

    outcome = result.outcomes["ebs_volume:data"]
    assert outcome.transitions == ["start"]
    assert outcome.polls >= 1
    assert clock.now() - started >= 2.0
    observed = [e.state for e in events if e.kind == "observed"]
    assert observed == [State.terminated, State.pending, State.running]
    assert volume.current_state_definition["State"] == "available"


def test_auto_attach_waits_for_creating_to_end(slow_cloud: Any, runtime: Runtime) -> None:
    ec2 = slow_cloud.client("ec2")
    ami_id = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    slow_cloud.pending_seconds = 0.0
    reservation = ec2.run_instances(ImageId=ami_id, MinCount=1, MaxCount=1, Placement={"AvailabilityZone": ZONE})
    instance_id = reservation["Instances"][0]["InstanceId"]
    parent = EC2Stub("host", ec2, instance_id)
    volume = EBSVolume(volume_definition(custom_config={"attach": True}))
    link(volume, parent)
    volume.apply(runtime=runtime)
    assert the_volume(ec2, "data")["Attachments"][0]["InstanceId"] == instance_id


def test_a_sync_is_one_describe_volumes(cloud: Any, runtime: Runtime, api_calls: Calls) -> None:
    EBSVolume(volume_definition(custom_config={"tags": {"a": "b"}})).apply(runtime=runtime)
    fresh = EBSVolume(volume_definition(custom_config={"tags": {"a": "b"}}))
    api_calls.clear()
    fresh.sync_state()  # by name
    fresh.sync_state()  # by cached id
    assert operations(api_calls) == ["DescribeVolumes", "DescribeVolumes"]
    assert "Filters" in api_calls[0][1]
    assert api_calls[1][1] == {"VolumeIds": [fresh.volume_id]}
    assert fresh.state is State.running


# -- configuration ------------------------------------------------------------------------------------------
def _without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda aws: aws.pop(key)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (_without("AvailabilityZone"), "AvailabilityZone", "required"),
        (_without("Size"), "Size", "SnapshotId"),
        (lambda aws: aws["custom_config"].update(attach=True), "custom_config.attach", "no parent EC2"),
    ],
)
def test_validate_config_names_the_field(
    cloud: Any, ec2: Any, runtime: Runtime, change: Callable[[dict[str, Any]], None], field: str, words: str
) -> None:
    definition = volume_definition()
    change(definition["aws_resource"])
    volume = EBSVolume(definition)
    with pytest.raises(InvalidConfigException) as caught:
        volume.apply(runtime=runtime, validate_config=True)
    assert caught.value.field == f"ebs_volume:data.aws_resource.{field}"
    assert words in caught.value.reason
    assert ec2.describe_volumes()["Volumes"] == []


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda aws: aws.update(Size=0), "Size", "positive"),
        (lambda aws: aws.update(Size="big"), "Size", "whole number"),
        (lambda aws: aws.update(VolumeType="st1", Size=10), "Size", "125"),
        (lambda aws: aws.update(VolumeType="ssd"), "VolumeType", "not a value AWS accepts"),
        (lambda aws: aws.update(VolumeType="gp4"), "VolumeType", "did you mean 'gp3'"),
        (lambda aws: aws.update(Iops=300), "Iops", "only allowed"),
        (lambda aws: aws.update(VolumeType="io2"), "Iops", "required"),
        (lambda aws: aws.update(KmsKeyId="alias/x"), "KmsKeyId", "Encrypted"),
        (lambda aws: aws.update(Throughput=300), "Throughput", "not a CreateVolume parameter"),
        (lambda aws: aws.update(region_name="xx-fake-9"), "region_name", "not a region"),
        (lambda aws: aws["custom_config"].update(tags={"aws:x": "1"}), "custom_config.tags.aws:x", "reserved"),
        (lambda aws: aws["custom_config"].update(tags={"PCFName": "x"}), "custom_config.tags.PCFName", "framework"),
        (lambda aws: aws["custom_config"].update(attach="yes"), "custom_config.attach", "true or false"),
        (lambda aws: aws["custom_config"].update(atach=True), "custom_config.atach", "did you mean 'attach'"),
    ],
)
def test_a_bad_definition_is_refused_when_the_particle_is_built(
    cloud: Any, ec2: Any, change: Callable[[dict[str, Any]], None], field: str, words: str
) -> None:
    definition = volume_definition()
    change(definition["aws_resource"])
    with pytest.raises(InvalidConfigException) as caught:
        EBSVolume(definition)
    assert caught.value.field == f"ebs_volume:data.aws_resource.{field}"
    assert words in caught.value.reason
    assert ec2.describe_volumes()["Volumes"] == []


def test_an_aws_refusal_is_a_transition_error_naming_the_particle(cloud: Any, ec2: Any, runtime: Runtime) -> None:
    volume = EBSVolume(volume_definition(SnapshotId="snap-0123456789abcdef0"))  # EC2 knows no such snapshot
    with pytest.raises(TransitionError, match="ebs_volume:data: create_volume failed") as caught:
        volume.apply(runtime=runtime)
    assert isinstance(caught.value.__cause__, ClientError)
    assert ec2.describe_volumes()["Volumes"] == []


def test_a_snapshot_alone_is_a_valid_size(cloud: Any, ec2: Any, runtime: Runtime) -> None:
    source = ec2.create_volume(AvailabilityZone=ZONE, Size=12)
    snapshot = ec2.create_snapshot(VolumeId=source["VolumeId"])["SnapshotId"]
    definition = volume_definition(SnapshotId=snapshot)
    del definition["aws_resource"]["Size"]
    EBSVolume(definition).apply(runtime=runtime, validate_config=True)
    found = the_volume(ec2, "data")
    assert (found["Size"], found["SnapshotId"]) == (12, snapshot)
