"""``ebs_volume`` behaviour the local cloud cannot show (moto modifies, detaches and deletes at once):
EC2's answers are scripted with botocore's ``Stubber``; plus properties of the pure tag helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from pcf.core import State
from pcf.core.pcf_exceptions import PCFError
from pcf.particle.aws.ec2 import ebs_config
from pcf.particle.aws.ec2.ebs_volume import EBSVolume
from pcf.util.aws.clients import ClientFactory
from pcf.util.aws.tag_specifications import DEPLOYMENT_TAG, deployment_name

VOLUME_ID = "vol-0123456789abcdef0"
INSTANCE_ID = "i-0123456789abcdef0"


@pytest.fixture
def stubbed() -> Iterator[tuple[ClientFactory, Stubber]]:
    """A client factory whose EC2 client answers only what the test scripts (nothing leaves the process)."""
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    factory = ClientFactory(session, region_name="us-east-1")
    stubber = Stubber(factory.client("ec2"))
    with stubber:
        yield factory, stubber
    stubber.assert_no_pending_responses()


def make_volume(factory: ClientFactory, **aws: Any) -> EBSVolume:
    return EBSVolume(
        {
            "pcf_name": "data",
            "flavor": "ebs_volume",
            "desired_state": "running",
            "aws_resource": {
                "AvailabilityZone": "us-east-1a",
                "Size": 20,
                **aws,
                "custom_config": {"volume_name": "data"},
            },
        },
        client_factory=factory,
    )


def described(state: str = "available", size: int = 10, attachments: list[dict[str, Any]] | None = None) -> dict:
    return {
        "Volumes": [
            {
                "VolumeId": VOLUME_ID,
                "State": state,
                "Size": size,
                "VolumeType": "gp2",
                "AvailabilityZone": "us-east-1a",
                "Attachments": attachments or [],
                "Tags": [{"Key": "PCFName", "Value": "data"}, {"Key": DEPLOYMENT_TAG, "Value": deployment_name()}],
            }
        ]
    }


def modification(state: str, target_size: int = 20) -> dict:
    return {
        "VolumesModifications": [
            {"VolumeId": VOLUME_ID, "ModificationState": state, "TargetSize": target_size, "OriginalSize": 10}
        ]
    }


@pytest.mark.parametrize(
    ("mod_state", "state", "equivalent"),
    [
        ("modifying", State.pending, True),  # under way: wait, do not modify again
        ("optimizing", State.running, True),  # targets reached as far as the definition goes
        ("completed", State.running, False),  # finished but not what we want: update
        ("failed", State.running, False),
    ],
)
def test_a_modification_under_way_is_not_requested_twice(
    stubbed: tuple[ClientFactory, Stubber], mod_state: str, state: State, equivalent: bool
) -> None:
    factory, stubber = stubbed
    stubber.add_response("describe_volumes", described(size=10))
    stubber.add_response("describe_volumes_modifications", modification(mod_state), {"VolumeIds": [VOLUME_ID]})
    volume = make_volume(factory)
    volume.sync_state()
    assert volume.state is state
    assert volume.is_state_definition_equivalent() is equivalent
    assert volume.current_state_definition["Modification"]["ModificationState"] == mod_state


def test_no_modification_lookup_when_nothing_differs(stubbed: tuple[ClientFactory, Stubber]) -> None:
    factory, stubber = stubbed
    stubber.add_response("describe_volumes", described(size=20))
    volume = make_volume(factory)
    volume.sync_state()  # a second scripted call would be missing: the Stubber would fail
    assert volume.state is State.running
    assert volume.is_state_definition_equivalent()


@pytest.mark.parametrize(("attachment_state", "state"), [("attaching", State.pending), ("detaching", State.pending)])
def test_an_attachment_on_the_move_is_pending(
    stubbed: tuple[ClientFactory, Stubber], attachment_state: str, state: State
) -> None:
    factory, stubber = stubbed
    attachment = {"InstanceId": INSTANCE_ID, "Device": "/dev/sdf", "State": attachment_state, "VolumeId": VOLUME_ID}
    stubber.add_response("describe_volumes", described("in-use", 20, [attachment]))
    volume = make_volume(factory)
    volume.sync_state()
    assert volume.state is state


def test_a_volume_in_error_is_reported_not_guessed(stubbed: tuple[ClientFactory, Stubber]) -> None:
    factory, stubber = stubbed
    stubber.add_response("describe_volumes", described("error"))
    with pytest.raises(PCFError, match=f"{VOLUME_ID} is in status 'error'"):
        make_volume(factory).sync_state()


def test_delete_waits_for_a_slow_detach(stubbed: tuple[ClientFactory, Stubber]) -> None:
    factory, stubber = stubbed
    attached = {"InstanceId": INSTANCE_ID, "Device": "/dev/sdf", "State": "attached", "VolumeId": VOLUME_ID}
    stubber.add_response("describe_volumes", described("in-use", 20, [attached]))
    stubber.add_response(
        "detach_volume",
        {"VolumeId": VOLUME_ID, "InstanceId": INSTANCE_ID, "State": "detaching"},
        {"VolumeId": VOLUME_ID, "InstanceId": INSTANCE_ID, "Device": "/dev/sdf"},
    )
    stubber.add_client_error("delete_volume", "VolumeInUse", f"Volume {VOLUME_ID} is attached")
    volume = make_volume(factory)
    volume.set_desired_state("terminated")
    assert volume.terminate() is None  # detach requested; the delete happens on a later pass
    assert volume.volume_id == VOLUME_ID


# -- pure helpers -----------------------------------------------------------------------------------------
tag_names = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=6)
tag_maps = st.dictionaries(tag_names | st.sampled_from(["aws:created", "PCFName"]), tag_names, max_size=6)


@given(current=tag_maps, desired=tag_maps, exact=st.booleans())
def test_tag_changes_reach_the_desired_tags(current: dict[str, str], desired: dict[str, str], exact: bool) -> None:
    desired = {k: v for k, v in desired.items() if not k.startswith("aws:")}
    to_delete, to_set = ebs_config.tag_changes(current, desired, exact)
    after = {k: v for k, v in current.items() if k not in to_delete}
    after.update(to_set)
    assert all(after.get(k) == v for k, v in desired.items())
    assert all(current.get(k) != v for k, v in to_set.items())  # only differing tags are written
    assert not any(k.startswith("aws:") for k in to_delete)
    if exact:
        assert {k for k in after if not k.startswith("aws:")} == set(desired)
    else:
        assert to_delete == []


def test_effective_values_take_targets_only_while_in_flight() -> None:
    volume = {"Size": 10, "VolumeType": "gp2", "Iops": 100}
    mod = {"ModificationState": "optimizing", "TargetSize": 30, "TargetVolumeType": "gp3", "TargetIops": 3000}
    assert ebs_config.effective_values(volume, mod) == {"Size": 30, "VolumeType": "gp3", "Iops": 3000}
    assert ebs_config.effective_values(volume, {**mod, "ModificationState": "completed"}) == volume
    assert ebs_config.effective_values(volume, None) == volume


def test_update_changes_ignore_unset_and_unresolved_values() -> None:
    current = {"Size": 10, "VolumeType": "gp2", "Iops": None}
    keys = EBSVolume.UPDATE_PARAM_FILTER
    assert ebs_config.update_changes({"Size": 10}, current, keys) == {}
    assert ebs_config.update_changes({"Size": 12, "VolumeType": "gp2"}, current, keys) == {"Size": 12}
    assert ebs_config.update_changes({"Size": "$inherit$ec2_instance:x$Size"}, current, keys) == {}


def test_user_tags_merge_tag_specifications_and_custom_tags() -> None:
    aws = {
        "TagSpecifications": [
            {"ResourceType": "volume", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}
        ],
        "custom_config": {"tags": {"b": "3", "PCFName": "sneaky"}},
    }
    assert ebs_config.user_tags(aws) == {"a": "1", "b": "3"}
    assert ebs_config.desired_tags(aws, "data") == {
        "a": "1",
        "b": "3",
        "PCFName": "data",
        DEPLOYMENT_TAG: deployment_name(),
    }
    assert ebs_config.tags_managed_exactly(aws)
    assert not ebs_config.tags_managed_exactly({"custom_config": {}})
