"""Definitions several tests build the same way."""

from __future__ import annotations

from typing import Any


def anchored_workers(name: str, ami_id: str, workers: int) -> dict[str, Any]:
    """Quasiparticle ``name``: an EBS volume ``anchor`` and ``workers`` instances ``worker-NN`` that name it as their
    parent (two levels), each instance named ``<name>-worker-NN``."""
    anchor = {"pcf_name": "anchor", "flavor": "ebs_volume",
              "aws_resource": {"AvailabilityZone": "us-east-1a", "Size": 8, "custom_config": {"volume_name": "anchor"}}}
    members = [{"pcf_name": f"worker-{n:02d}", "flavor": "ec2_instance", "parents": ["ebs_volume:anchor"],
                "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                                 "custom_config": {"instance_name": f"{name}-worker-{n:02d}"}}}
               for n in range(workers)]
    return {"pcf_name": name, "flavor": "quasiparticle", "particles": [anchor, *members]}
