"""Managed means tagged, twice: a resource with the particle's ``PCFName`` but another deployment's
``PCFDeployment`` tag (or none) is never adopted, changed or deleted by library mode; ``custom_config.adopt``
takes it over on purpose, retagging it before changing it."""

from __future__ import annotations

from typing import Any

import pytest

from pcf.core.pcf_exceptions import ForeignResourceError, InvalidConfigException
from pcf.particle.aws.ec2.ebs_volume import EBSVolume
from pcf.particle.aws.ec2.ec2_instance import EC2Instance
from pcf.util.aws.tag_specifications import deployment_name
from pcf.util.pcf_util import tags_to_dict
from tests.particles.conftest import Calls

ZONE = "us-east-1a"
OWNERS = [pytest.param("pcf-prod", id="another-deployment"), pytest.param(None, id="no-deployment-tag")]
READS = {"DescribeInstances", "DescribeVolumes", "DescribeInstanceAttribute", "DescribeVolumesModifications"}


def foreign_tags(name: str, owner: str | None) -> list[dict[str, str]]:
    tags = {"PCFName": name, "Team": "theirs", **({"PCFDeployment": owner} if owner else {})}
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def instance_particle(ami_id: str, desired: str, **custom: Any) -> EC2Instance:
    particle = EC2Instance({"pcf_name": "web", "flavor": "ec2_instance", "aws_resource": {
        "ImageId": ami_id, "InstanceType": "t3.micro", "custom_config": {"instance_name": "pcf-web", **custom}}})
    particle.set_desired_state(desired)
    return particle


def volume_particle(desired: str, **custom: Any) -> EBSVolume:
    return EBSVolume({"pcf_name": "data", "flavor": "ebs_volume", "desired_state": desired, "aws_resource": {
        "AvailabilityZone": ZONE, "Size": 20, "VolumeType": "gp3",
        "custom_config": {"volume_name": "data", **custom}}})


def foreign_instance(ec2: Any, ami_id: str, owner: str | None, state: str = "running") -> str:
    instance_id = ec2.run_instances(ImageId=ami_id, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                    TagSpecifications=[{"ResourceType": "instance",
                                                        "Tags": foreign_tags("pcf-web", owner)}],
                                    )["Instances"][0]["InstanceId"]
    if state == "stopped":
        ec2.stop_instances(InstanceIds=[instance_id])
    return str(instance_id)


def instance_facts(ec2: Any, instance_id: str) -> tuple[str, str, dict[str, str]]:
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return instance["State"]["Name"], instance["InstanceType"], tags_to_dict(instance.get("Tags"))


def foreign_volume(ec2: Any, owner: str | None) -> str:
    return str(ec2.create_volume(AvailabilityZone=ZONE, Size=10, VolumeType="gp2", TagSpecifications=[
        {"ResourceType": "volume", "Tags": foreign_tags("data", owner)}])["VolumeId"])


def volume_facts(ec2: Any, volume_id: str) -> tuple[str, int, str, dict[str, str]]:
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    return volume["State"], volume["Size"], volume["VolumeType"], tags_to_dict(volume.get("Tags"))


def writes(calls: Calls) -> list[str]:
    return [name for name, _ in calls if name not in READS]


# -- refused -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("owner", OWNERS)
@pytest.mark.parametrize(("found", "desired"), [
    ("running", "running"), ("stopped", "running"), ("running", "stopped"), ("running", "terminated"),
])
def test_a_foreign_instance_is_refused_and_left_exactly_as_it_was(
    cloud: Any, ec2: Any, ami_id: str, runtime: Any, api_calls: Calls, owner: str | None, found: str, desired: str
) -> None:
    instance_id = foreign_instance(ec2, ami_id, owner, found)
    before = instance_facts(ec2, instance_id)
    api_calls.clear()

    with pytest.raises(ForeignResourceError) as refused:
        instance_particle(ami_id, desired).apply(runtime=runtime)

    assert instance_id in str(refused.value)
    assert (f"PCFDeployment={owner!r}" if owner else "no PCFDeployment tag") in str(refused.value)
    assert (refused.value.resource_id, refused.value.owner) == (instance_id, owner)
    assert instance_facts(ec2, instance_id) == before
    assert writes(api_calls) == []  # nothing changed, and no second instance launched under the name


@pytest.mark.parametrize("owner", OWNERS)
@pytest.mark.parametrize("desired", ["running", "stopped", "terminated"])
def test_a_foreign_volume_is_refused_and_left_exactly_as_it_was(
    cloud: Any, ec2: Any, runtime: Any, api_calls: Calls, owner: str | None, desired: str
) -> None:
    volume_id = foreign_volume(ec2, owner)
    before = volume_facts(ec2, volume_id)
    api_calls.clear()

    with pytest.raises(ForeignResourceError) as refused:
        volume_particle(desired).apply(runtime=runtime)

    assert volume_id in str(refused.value)
    assert (f"PCFDeployment={owner!r}" if owner else "no PCFDeployment tag") in str(refused.value)
    assert volume_facts(ec2, volume_id) == before
    assert writes(api_calls) == []


def test_the_batch_sync_refuses_a_foreign_instance_for_that_particle(cloud: Any, ec2: Any, ami_id: str) -> None:
    instance_id = foreign_instance(ec2, ami_id, "pcf-prod")
    errors = EC2Instance.sync_states([instance_particle(ami_id, "running")])
    assert isinstance(errors["ec2_instance:web"], ForeignResourceError)
    assert instance_id in str(errors["ec2_instance:web"])


def test_a_known_instance_retagged_to_another_deployment_is_refused(
    cloud: Any, ec2: Any, ami_id: str, runtime: Any
) -> None:
    particle = instance_particle(ami_id, "running")
    particle.apply(runtime=runtime)
    instance_id = particle.get_instance_id()
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "PCFDeployment", "Value": "pcf-prod"}])
    particle.set_desired_state("terminated")
    with pytest.raises(ForeignResourceError):
        particle.apply(runtime=runtime)
    assert instance_facts(ec2, instance_id)[0] == "running"


def test_ours_is_picked_and_a_foreign_namesake_left_alone(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    theirs = foreign_instance(ec2, ami_id, "pcf-prod")
    before = instance_facts(ec2, theirs)
    mine = foreign_instance(ec2, ami_id, deployment_name())
    particle = instance_particle(ami_id, "running")
    particle.apply(runtime=runtime)
    assert particle.get_instance_id() == mine
    assert instance_facts(ec2, mine)[1] == "t3.micro"
    assert instance_facts(ec2, theirs) == before


# -- adopted on purpose ----------------------------------------------------------------------------------
@pytest.mark.parametrize("owner", OWNERS)
def test_adopt_retags_an_instance_before_changing_it(
    cloud: Any, ec2: Any, ami_id: str, runtime: Any, api_calls: Calls, owner: str | None
) -> None:
    instance_id = foreign_instance(ec2, ami_id, owner)
    api_calls.clear()
    particle = instance_particle(ami_id, "running", adopt=True)

    particle.apply(runtime=runtime)

    state, instance_type, tags = instance_facts(ec2, instance_id)
    assert (state, instance_type) == ("running", "t3.micro")
    assert tags["PCFDeployment"] == deployment_name() and tags["PCFName"] == "pcf-web"
    assert particle.adopted == instance_id and particle.get_instance_id() == instance_id
    first_write, retag = api_calls[[name for name, _ in api_calls].index(writes(api_calls)[0])]
    assert first_write == "CreateTags"
    assert retag["Tags"] == [{"Key": "PCFDeployment", "Value": deployment_name()}]
    assert "RunInstances" not in writes(api_calls)
    # ours from now on: a run without the flag manages it
    instance_particle(ami_id, "stopped").apply(runtime=runtime)
    assert instance_facts(ec2, instance_id)[0] == "stopped"


@pytest.mark.parametrize("owner", OWNERS)
def test_adopt_retags_a_volume_before_changing_it(
    cloud: Any, ec2: Any, runtime: Any, api_calls: Calls, owner: str | None
) -> None:
    volume_id = foreign_volume(ec2, owner)
    api_calls.clear()
    particle = volume_particle("running", adopt=True)

    particle.apply(runtime=runtime)

    _state, size, volume_type, tags = volume_facts(ec2, volume_id)
    assert (size, volume_type) == (20, "gp3")
    assert tags["PCFDeployment"] == deployment_name()
    assert particle.adopted == volume_id
    assert writes(api_calls)[0] == "CreateTags"
    assert "CreateVolume" not in writes(api_calls)


def test_adopt_takes_over_one_resource_only(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    ids = [foreign_instance(ec2, ami_id, "pcf-prod"), foreign_instance(ec2, ami_id, None)]
    with pytest.raises(ForeignResourceError):
        instance_particle(ami_id, "running", adopt=True).apply(runtime=runtime)
    assert [instance_facts(ec2, i)[1] for i in ids] == ["t3.nano", "t3.nano"]


def test_adopt_must_be_a_boolean_custom_config_key(ami_id: str) -> None:
    assert "adopt" in EC2Instance.CUSTOM_CONFIG_KEYS and "adopt" in EBSVolume.CUSTOM_CONFIG_KEYS
    with pytest.raises(InvalidConfigException, match=r"custom_config\.adopt"):
        instance_particle(ami_id, "running", adopt="yes")
    with pytest.raises(InvalidConfigException, match=r"custom_config\.adopt"):
        volume_particle("running", adopt="yes")
