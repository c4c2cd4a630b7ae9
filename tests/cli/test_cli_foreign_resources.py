"""``pcf run --engine direct`` on the local cloud never adopts, changes or deletes a resource carrying the
particle's PCFName without this deployment's PCFDeployment tag; ``custom_config.adopt: true`` takes it over."""

from __future__ import annotations

from typing import Any

import pytest

from pcf.util.aws.tag_specifications import deployment_name
from pcf.util.pcf_util import tags_to_dict
from pcf_local_cloud.cloud import LocalCloud
from tests.cli.cli_support import CliRunner

ZONE = "us-east-1a"
OWNERS = [pytest.param("pcf-prod", id="another-deployment"), pytest.param(None, id="no-deployment-tag")]


def tags(name: str, owner: str | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in {"PCFName": name, **({"PCFDeployment": owner} if owner else {})}.items()]


def pair(ami_id: str, desired: str, **custom: Any) -> dict[str, Any]:
    return {"pcf_name": "pair", "flavor": "quasiparticle", "desired_state": desired, "particles": [
        {"pcf_name": "web", "flavor": "ec2_instance", "aws_resource": {
            "ImageId": ami_id, "InstanceType": "t3.micro", "custom_config": {"instance_name": "cli-web", **custom}}},
        {"pcf_name": "data", "flavor": "ebs_volume", "aws_resource": {
            "AvailabilityZone": ZONE, "Size": 20, "custom_config": {"volume_name": "cli-data", **custom}}},
    ]}


def foreign(cloud: LocalCloud, ami_id: str, owner: str | None) -> tuple[str, str]:
    ec2 = cloud.client("ec2")
    instance_id = ec2.run_instances(ImageId=ami_id, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                    TagSpecifications=[{"ResourceType": "instance", "Tags": tags("cli-web", owner)}],
                                    )["Instances"][0]["InstanceId"]
    volume_id = ec2.create_volume(AvailabilityZone=ZONE, Size=10, TagSpecifications=[
        {"ResourceType": "volume", "Tags": tags("cli-data", owner)}])["VolumeId"]
    return instance_id, volume_id


def facts(cloud: LocalCloud, instance_id: str, volume_id: str) -> dict[str, Any]:
    ec2 = cloud.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    return {"instance": (instance["State"]["Name"], instance["InstanceType"], tags_to_dict(instance["Tags"])),
            "volume": (volume["State"], volume["Size"], tags_to_dict(volume["Tags"])),
            "instances": sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"]),
            "volumes": len(ec2.describe_volumes(Filters=[{"Name": "tag:PCFName", "Values": ["cli-data"]}])["Volumes"])}


@pytest.mark.parametrize("owner", OWNERS)
@pytest.mark.parametrize("desired", ["running", "stopped", "terminated"])
def test_run_direct_refuses_foreign_resources_and_leaves_them_as_they_were(
    pcf_cli: CliRunner, cloud: LocalCloud, ami_id: str, owner: str | None, desired: str
) -> None:
    instance_id, volume_id = foreign(cloud, ami_id, owner)
    before = facts(cloud, instance_id, volume_id)
    pcf_cli.write("pcf.json", pair(ami_id, desired))

    result = pcf_cli("run", cloud=cloud)

    assert result.code != 0
    output = result.out + result.err
    assert "ForeignResourceError" in output
    assert instance_id in output and volume_id in output
    assert (f"PCFDeployment={owner!r}" if owner else "no PCFDeployment tag") in output
    assert facts(cloud, instance_id, volume_id) == before


def test_run_direct_with_adopt_takes_them_over_and_retags_them(
    pcf_cli: CliRunner, cloud: LocalCloud, ami_id: str
) -> None:
    instance_id, volume_id = foreign(cloud, ami_id, "pcf-prod")
    pcf_cli.write("pcf.json", pair(ami_id, "running", adopt=True))

    result = pcf_cli("run", cloud=cloud)

    assert result.code == 0, result.out + result.err
    after = facts(cloud, instance_id, volume_id)
    assert after["instance"][:2] == ("running", "t3.micro") and after["volume"][1] == 20
    assert after["instance"][2]["PCFDeployment"] == after["volume"][2]["PCFDeployment"] == deployment_name()
    assert (after["instances"], after["volumes"]) == (1, 1)  # adopted, not duplicated
