"""An ``ebs_volume`` with a real ``ec2_instance`` parent: one field, applied up and torn down on the local cloud."""

from __future__ import annotations

from typing import Any

from pcf.core import State
from pcf.core.pcf import PCF
from pcf.core.runtime import Runtime
from pcf.particle.aws.ec2.ebs_volume import EBSVolume
from pcf.particle.aws.ec2.ec2_instance import EC2Instance
from tests.particles.conftest import Calls


def field_definition(ami_id: str, desired: str = "running") -> list[dict[str, Any]]:
    return [
        {
            "pcf_name": "host",
            "flavor": "ec2_instance",
            "desired_state": desired,
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro", "custom_config": {"instance_name": "host"}},
        },
        {
            "pcf_name": "data",
            "flavor": "ebs_volume",
            "desired_state": desired,
            "parents": ["ec2_instance:host"],
            "aws_resource": {
                "AvailabilityZone": "$inherit$ec2_instance:host$Placement.AvailabilityZone",
                "Size": 8,
                "custom_config": {"volume_name": "data", "attach": True, "device": "/dev/sdh"},
            },
        },
    ]


def test_volume_follows_its_instance_up_and_down(
    cloud: Any, ec2: Any, ami_id: str, runtime: Runtime, api_calls: Calls
) -> None:
    field = PCF(field_definition(ami_id))
    host = field.get_particle("ec2_instance", "host")
    volume = field.get_particle("ebs_volume", "data")
    assert isinstance(host, EC2Instance)
    assert isinstance(volume, EBSVolume)
    assert volume.get_ec2_parent() is host

    result = field.apply(runtime=runtime, validate_config=True)
    assert result.levels == [["ec2_instance:host"], ["ebs_volume:data"]]
    instance_id = host.get_instance_id()
    described = ec2.describe_volumes(VolumeIds=[volume.volume_id])["Volumes"][0]
    zone = host.current_state_definition["Placement"]["AvailabilityZone"]
    assert described["AvailabilityZone"] == zone  # $inherit$ from the parent's current definition
    assert [(a["InstanceId"], a["Device"]) for a in described["Attachments"]] == [(instance_id, "/dev/sdh")]
    assert volume.state is State.running

    api_calls.clear()
    down = PCF(field_definition(ami_id, desired="terminated"))
    down.apply(runtime=runtime)
    ops = [name for name, _ in api_calls]
    assert ops.index("DetachVolume") < ops.index("DeleteVolume") < ops.index("TerminateInstances")
    assert "AttachVolume" not in ops
    (detach,) = [params for name, params in api_calls if name == "DetachVolume"]
    assert detach["InstanceId"] == instance_id
    assert ec2.describe_volumes(Filters=[{"Name": "tag:PCFName", "Values": ["data"]}])["Volumes"] == []
