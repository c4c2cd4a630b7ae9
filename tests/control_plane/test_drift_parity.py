"""Reconciliation and an apply agree on drift: for each change behind the framework's back (or in the stored
definition), the reconcile comparison of the resource's description and the flavor's own comparison after
``sync_state`` both find it, or both find nothing."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from pcf.core import State
from pcf.core.runtime import Runtime
from pcf.particle.aws.ec2.ebs_volume import EBSVolume
from pcf.particle.aws.ec2.ec2_instance import EC2Instance
from pcf_control_plane.drift import config_differences


def instance_definition(ami_id: str, subnet: str, group: str, profile_arn: str) -> dict[str, Any]:
    return {"pcf_name": "web", "flavor": "ec2_instance", "aws_resource": {
        "ImageId": ami_id, "InstanceType": "t3.micro", "KeyName": "key-a", "SubnetId": subnet,
        "SecurityGroupIds": [group], "IamInstanceProfile": {"Arn": profile_arn},
        "custom_config": {"instance_name": "parity-web", "tags": {"Team": "a", "Old": None}}}}


@pytest.fixture
def network(cloud: Any, ec2: Any) -> dict[str, str]:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    iam = cloud.client("iam")
    for name in ("key-a", "key-b"):
        ec2.create_key_pair(KeyName=name)
    return {
        "subnet": ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"],
        "other_subnet": ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"],
        "group": ec2.create_security_group(GroupName="a", Description="a", VpcId=vpc)["GroupId"],
        "other_group": ec2.create_security_group(GroupName="b", Description="b", VpcId=vpc)["GroupId"],
        "profile": iam.create_instance_profile(InstanceProfileName="parity-a")["InstanceProfile"]["Arn"],
        "other_profile": iam.create_instance_profile(InstanceProfileName="parity-b")["InstanceProfile"]["Arn"],
    }


def describe(ec2: Any, instance_id: str) -> dict[str, Any]:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def retype(ec2: Any, instance_id: str) -> None:
    ec2.stop_instances(InstanceIds=[instance_id])
    ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": "t3.large"})
    ec2.start_instances(InstanceIds=[instance_id])


def swap_profile(ec2: Any, instance_id: str, arn: str) -> None:
    [association] = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]
    ec2.replace_iam_instance_profile_association(AssociationId=association["AssociationId"],
                                                 IamInstanceProfile={"Arn": arn})


BEHIND_THE_BACK: dict[str, Callable[[Any, str, dict[str, str]], None]] = {
    "nothing": lambda ec2, iid, net: None,
    "instance type": lambda ec2, iid, net: retype(ec2, iid),
    "security groups": lambda ec2, iid, net: ec2.modify_instance_attribute(InstanceId=iid,
                                                                             Groups=[net["other_group"]]),
    "a defined tag": lambda ec2, iid, net: ec2.create_tags(Resources=[iid], Tags=[{"Key": "Team", "Value": "b"}]),
    "a tag meant to be absent": lambda ec2, iid, net: ec2.create_tags(Resources=[iid],
                                                                      Tags=[{"Key": "Old", "Value": "x"}]),
    "an undefined tag": lambda ec2, iid, net: ec2.create_tags(Resources=[iid], Tags=[{"Key": "Extra", "Value": "x"}]),
    "instance profile": lambda ec2, iid, net: swap_profile(ec2, iid, net["other_profile"]),
}

IN_THE_DEFINITION: dict[str, tuple[str, str | None]] = {
    "key pair": ("KeyName", "key-b"),
    "subnet": ("SubnetId", "other_subnet"),
    "image": ("ImageId", None),
}


def launched(ami_id: str, network: dict[str, str], runtime: Runtime) -> EC2Instance:
    particle = EC2Instance(instance_definition(ami_id, network["subnet"], network["group"], network["profile"]))
    particle.set_desired_state(State.running)
    particle.apply(runtime=runtime)
    return particle


def verdicts(particle: EC2Instance, ec2: Any) -> tuple[set[str], bool]:
    """(the fields reconciliation finds drifted, whether the flavor finds its definition differing)."""
    drifted = config_differences("ec2_instance", particle.normalized_definition,
                                 describe(ec2, particle.get_instance_id()))
    particle.sync_state()
    return set(drifted), not particle.is_state_definition_equivalent()


@pytest.mark.parametrize("change", sorted(BEHIND_THE_BACK))
def test_an_instance_changed_behind_the_back(
    change: str, cloud: Any, ec2: Any, ami_id: str, network: dict[str, str], runtime: Runtime
) -> None:
    particle = launched(ami_id, network, runtime)
    BEHIND_THE_BACK[change](ec2, particle.get_instance_id(), network)

    drifted, differs = verdicts(particle, ec2)

    assert bool(drifted) == differs
    assert differs == (change not in ("nothing", "an undefined tag"))


@pytest.mark.parametrize("field", sorted(IN_THE_DEFINITION))
def test_a_stored_definition_that_no_longer_matches(
    field: str, cloud: Any, ec2: Any, ami_id: str, known_ami_id: str, network: dict[str, str], runtime: Runtime
) -> None:
    launched(ami_id, network, runtime)
    key, value = IN_THE_DEFINITION[field]
    changed = instance_definition(ami_id, network["subnet"], network["group"], network["profile"])
    other_images = [i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"] if i["ImageId"] != ami_id]
    changed["aws_resource"][key] = network.get(value or "", value) or other_images[0]
    particle = EC2Instance(changed)

    drifted, differs = verdicts(particle, ec2)

    assert (drifted, differs) == ({key}, True)


def test_a_volume_changed_behind_the_back(cloud: Any, ec2: Any, runtime: Runtime) -> None:
    definition = {"pcf_name": "data", "flavor": "ebs_volume", "aws_resource": {
        "AvailabilityZone": "us-east-1a", "Size": 8, "VolumeType": "gp3",
        "custom_config": {"volume_name": "parity-data", "tags": {"Team": "a"}}}}
    volume = EBSVolume(copy.deepcopy(definition))
    volume.set_desired_state(State.running)
    volume.apply(runtime=runtime)
    volume_id = str(volume.volume_id)

    def judged() -> tuple[set[str], bool]:
        [described] = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
        drifted = config_differences("ebs_volume", volume.normalized_definition, described)
        volume.sync_state()
        return set(drifted), not volume.is_state_definition_equivalent()

    assert judged() == (set(), False)
    ec2.delete_tags(Resources=[volume_id], Tags=[{"Key": "Team"}])
    assert judged() == ({"Tags.Team"}, True)
    ec2.create_tags(Resources=[volume_id], Tags=[{"Key": "Team", "Value": "a"}, {"Key": "Extra", "Value": "x"}])
    assert judged() == ({"Tags.Extra"}, True), "a definition that lists tags manages them exactly"
