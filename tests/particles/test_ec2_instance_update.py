"""EC2Instance: definition equivalence and updates (in place, through a stop, by replacement)."""

from __future__ import annotations

from typing import Any

import pytest

from pcf.core import State
from pcf.core.decision import Action
from pcf.particle.aws.ec2.ec2_instance import EC2Instance
from pcf.particle.aws.ec2.ec2_update import UpdateResult
from pcf.util.pcf_util import tags_to_dict
from tests.support.ec2_calls import Calls


@pytest.fixture
def groups(ec2: Any) -> list[str]:
    return [ec2.create_security_group(GroupName=f"sg-{i}", Description=f"group {i}")["GroupId"] for i in range(3)]


def make_particle(ami_id: str, name: str = "web", custom: dict[str, Any] | None = None, **resource: Any) -> EC2Instance:
    config = {"instance_name": f"pcf-{name}", **(custom or {})}
    aws_resource = {"ImageId": ami_id, "InstanceType": "t2.micro", **resource, "custom_config": config}
    return EC2Instance({"pcf_name": name, "flavor": "ec2_instance", "aws_resource": aws_resource})


def running(particle: EC2Instance, runtime: Any) -> EC2Instance:
    particle.set_desired_state("running")
    particle.apply(runtime=runtime)
    assert particle.state is State.running
    return particle


def describe(ec2: Any, instance_id: str) -> dict[str, Any]:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def apply_running(particle: EC2Instance, runtime: Any) -> list[Action]:
    particle.set_desired_state("running")
    return particle.apply(runtime=runtime).outcomes[particle.pcf_id].transitions


# -- equivalence ------------------------------------------------------------------------------------
def test_a_fresh_instance_is_equivalent_and_extra_aws_tags_are_ignored(
    cloud: Any, ec2: Any, ami_id: str, runtime: Any, groups: list[str]
) -> None:
    particle = running(make_particle(ami_id, SecurityGroupIds=groups[:2], custom={"tags": {"Team": "a"}}), runtime)
    ec2.create_tags(Resources=[particle.get_instance_id()], Tags=[{"Key": "aws-backup", "Value": "daily"}])
    particle.sync_state()
    assert particle.is_state_definition_equivalent()
    assert particle.definition_differences() == {}


def test_unspecified_fields_are_not_compared(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = running(make_particle(ami_id), runtime)
    assert "SubnetId" in particle.current_state_definition  # the instance has one; the definition names none
    assert "KeyName" not in particle.desired_state_definition
    assert particle.is_state_definition_equivalent()


def test_instance_type_difference_is_detected(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = running(make_particle(ami_id), runtime)
    particle.desired_state_definition["InstanceType"] = "t2.large"
    differences = particle.definition_differences()
    assert list(differences) == ["InstanceType"]
    assert (differences["InstanceType"].current, differences["InstanceType"].desired) == ("t2.micro", "t2.large")
    assert not particle.is_state_definition_equivalent()


def test_security_groups_compare_as_sets(cloud: Any, ec2: Any, ami_id: str, runtime: Any, groups: list[str]) -> None:
    particle = running(make_particle(ami_id, SecurityGroupIds=groups[:2]), runtime)
    particle.desired_state_definition["SecurityGroupIds"] = [groups[1], groups[0]]
    assert particle.is_state_definition_equivalent()
    particle.desired_state_definition["SecurityGroupIds"] = [groups[0], groups[2]]
    assert list(particle.definition_differences()) == ["SecurityGroupIds"]


def test_tag_differences_are_detected(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = running(make_particle(ami_id, custom={"tags": {"Team": "a", "Old": "x"}}), runtime)
    particle.custom_config["tags"]["Team"] = "b"
    differences = particle.definition_differences()
    assert list(differences) == ["TagSpecifications"]
    assert differences["TagSpecifications"].desired == {"set": {"Team": "b"}, "remove": []}

    particle.custom_config["tags"] = {"Team": "a", "Old": None}  # None: the tag must go
    differences = particle.definition_differences()
    assert differences["TagSpecifications"].desired == {"set": {}, "remove": ["Old"]}


def test_a_missing_instance_is_not_equivalent(cloud: Any, ami_id: str) -> None:
    particle = make_particle(ami_id)
    particle.sync_state()
    assert not particle.is_state_definition_equivalent()


# -- updates in place ---------------------------------------------------------------------------------
def test_tags_and_security_groups_change_in_place(
    cloud: Any, ec2: Any, ami_id: str, runtime: Any, groups: list[str]
) -> None:
    particle = running(
        make_particle(ami_id, SecurityGroupIds=[groups[0]], custom={"tags": {"Team": "a", "Old": "x", "Keep": "k"}}),
        runtime,
    )
    instance_id = particle.get_instance_id()
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "NotOurs", "Value": "1"}])
    calls = Calls(cloud)
    particle.custom_config["tags"] = {"Team": "b", "Old": None, "Keep": "k"}
    particle.desired_state_definition["SecurityGroupIds"] = [groups[1], groups[2]]

    transitions = apply_running(particle, runtime)

    assert transitions == [Action.update]
    assert "StopInstances" not in calls.names and "StartInstances" not in calls.names
    assert calls.names.count("CreateTags") == 1 and calls.names.count("DeleteTags") == 1
    instance = describe(ec2, instance_id)
    assert instance["State"]["Name"] == "running"
    assert tags_to_dict(instance["Tags"]) == {
        "PCFName": "pcf-web", "PCFDeployment": "pcf", "Team": "b", "Keep": "k", "NotOurs": "1",
    }  # fmt: skip
    assert {g["GroupId"] for g in instance["SecurityGroups"]} == {groups[1], groups[2]}


def test_shutdown_behavior_changes_in_place(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = running(make_particle(ami_id, InstanceInitiatedShutdownBehavior="stop"), runtime)
    particle.desired_state_definition["InstanceInitiatedShutdownBehavior"] = "terminate"

    assert apply_running(particle, runtime) == [Action.update]

    attribute = ec2.describe_instance_attribute(
        InstanceId=particle.get_instance_id(), Attribute="instanceInitiatedShutdownBehavior"
    )
    assert attribute["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    assert particle.get_instance_id() == describe(ec2, particle.get_instance_id())["InstanceId"]


def test_instance_profile_is_associated_in_place(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    arn = cloud.client("iam").create_instance_profile(InstanceProfileName="app")["InstanceProfile"]["Arn"]
    particle = running(make_particle(ami_id), runtime)
    particle.desired_state_definition["IamInstanceProfile"] = {"Name": "app"}
    assert list(particle.definition_differences()) == ["IamInstanceProfile"]

    assert apply_running(particle, runtime) == [Action.update]

    assert describe(ec2, particle.get_instance_id())["IamInstanceProfile"]["Arn"] == arn
    particle.desired_state_definition["IamInstanceProfile"] = {"Arn": arn}
    assert particle.is_state_definition_equivalent()


def test_an_associated_instance_profile_is_replaced_in_place(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    iam = cloud.client("iam")
    first = iam.create_instance_profile(InstanceProfileName="first")["InstanceProfile"]["Arn"]
    second = iam.create_instance_profile(InstanceProfileName="second")["InstanceProfile"]["Arn"]
    particle = running(make_particle(ami_id, IamInstanceProfile={"Arn": first}), runtime)
    particle.desired_state_definition["IamInstanceProfile"] = {"Arn": second}

    assert apply_running(particle, runtime) == [Action.update]

    assert describe(ec2, particle.get_instance_id())["IamInstanceProfile"]["Arn"] == second
    particle.sync_state()
    assert particle.is_state_definition_equivalent()


# -- updates through a stop ---------------------------------------------------------------------------
def test_instance_type_and_user_data_change_through_stop_and_start(
    cloud: Any, ec2: Any, ami_id: str, runtime: Any
) -> None:
    particle = running(make_particle(ami_id, UserData="#!/bin/bash\necho one\n"), runtime)
    instance_id = particle.get_instance_id()
    calls = Calls(cloud)
    particle.desired_state_definition["InstanceType"] = "t2.large"
    particle.desired_state_definition["UserData"] = "#!/bin/bash\necho two\n"

    transitions = apply_running(particle, runtime)

    assert transitions == [Action.update, Action.start]
    stop, modify, start = (calls.names.index(n) for n in ("StopInstances", "ModifyInstanceAttribute", "StartInstances"))
    assert stop < modify < start
    instance = describe(ec2, instance_id)
    assert (instance["State"]["Name"], instance["InstanceType"]) == ("running", "t2.large")
    assert particle.get_instance_id() == instance_id
    assert particle.current_state_definition["UserData"] == "#!/bin/bash\necho two\n"
    assert particle.is_state_definition_equivalent()


def test_update_of_a_running_instance_only_stops_it(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = running(make_particle(ami_id), runtime)
    particle.desired_state_definition["InstanceType"] = "t2.large"
    result = particle.update()
    assert isinstance(result, UpdateResult)
    assert result.stopped_for == ["InstanceType"] and result.applied == []
    particle.sync_state()
    assert particle.state is State.stopped
    assert particle.current_state_definition["InstanceType"] == "t2.micro"


def test_starting_a_stopped_differing_instance_applies_the_change_first(
    cloud: Any, ec2: Any, ami_id: str, runtime: Any
) -> None:
    particle = running(make_particle(ami_id), runtime)
    particle.set_desired_state("stopped")
    particle.apply(runtime=runtime)
    particle.desired_state_definition["InstanceType"] = "t2.large"

    assert apply_running(particle, runtime) == [Action.start]
    assert describe(ec2, particle.get_instance_id())["InstanceType"] == "t2.large"


# -- replacement --------------------------------------------------------------------------------------
def test_a_new_image_replaces_the_instance(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    other_image = next(i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"] if i["ImageId"] != ami_id)
    particle = running(make_particle(ami_id), runtime)
    old = particle.get_instance_id()
    particle.desired_state_definition["ImageId"] = other_image

    assert apply_running(particle, runtime) == [Action.update, Action.start]

    new = particle.get_instance_id()
    assert new != old
    assert describe(ec2, old)["State"]["Name"] == "terminated"
    assert describe(ec2, new)["ImageId"] == other_image
    assert particle.is_state_definition_equivalent()


def test_persist_on_update_leaves_a_differing_instance_alone(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = EC2Instance(
        {
            "pcf_name": "web",
            "flavor": "ec2_instance",
            "persist_on_update": True,
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t2.micro", "custom_config": {"instance_name": "w"}},
        }
    )
    running(particle, runtime)
    instance_id = particle.get_instance_id()
    particle.desired_state_definition["InstanceType"] = "t2.large"
    particle.desired_state_definition["ImageId"] = "ami-00000000"

    outcome = particle.apply(runtime=runtime).outcomes[particle.pcf_id]

    assert outcome.transitions == []
    assert outcome.reason.startswith("persist_on_update")
    assert not particle._update().changed
    instance = describe(ec2, instance_id)
    assert (instance["State"]["Name"], instance["InstanceType"]) == ("running", "t2.micro")


def test_persist_on_update_does_not_change_a_stopped_instance_on_start(
    cloud: Any, ec2: Any, ami_id: str, runtime: Any
) -> None:
    particle = EC2Instance(
        {
            "pcf_name": "web",
            "flavor": "ec2_instance",
            "persist_on_update": True,
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t2.micro", "custom_config": {"instance_name": "w"}},
        }
    )
    running(particle, runtime)
    particle.set_desired_state("stopped")
    particle.apply(runtime=runtime)
    particle.desired_state_definition["InstanceType"] = "t2.large"
    assert apply_running(particle, runtime) == [Action.start]
    assert describe(ec2, particle.get_instance_id())["InstanceType"] == "t2.micro"
