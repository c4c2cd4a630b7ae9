"""What an observation keeps of a particle's current definition: only the fields drift checks compare."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pcf.core.particle import Particle
from pcf.util import pcf_util

SNAPSHOT_FIELDS = ("InstanceType", "SecurityGroupIds", "ImageId", "SubnetId", "PrivateIpAddress",
                   "Size", "VolumeType", "Iops", "AvailabilityZone")


def observation_snapshot(particle: Particle) -> dict[str, Any]:
    """Instance type, security groups, tags, volume size/type/iops, addresses: small and JSON-safe."""
    return snapshot_of(particle.current_state_definition or {})


def snapshot_of(description: Mapping[str, Any]) -> dict[str, Any]:
    """The snapshot fields of an EC2 instance or volume description (or a particle's current definition):
    the same shape whoever observed it (a step, the reconciliation), so an unchanged resource compares equal."""
    snapshot: dict[str, Any] = {key: description[key] for key in SNAPSHOT_FIELDS if key in description}
    if "SecurityGroupIds" not in description and "SecurityGroups" in description:
        snapshot["SecurityGroupIds"] = [group["GroupId"] for group in description["SecurityGroups"]]
    if "SecurityGroupIds" in snapshot:
        snapshot["SecurityGroupIds"] = sorted(snapshot["SecurityGroupIds"])
    placement = description.get("Placement") or {}
    if "AvailabilityZone" in placement:
        snapshot["AvailabilityZone"] = placement["AvailabilityZone"]
    tags = description.get("Tags")
    if tags:
        snapshot["Tags"] = dict(tags) if isinstance(tags, dict) else pcf_util.tags_to_dict(tags)
    return snapshot


def resource_id_of(particle: Particle) -> str | None:
    """The cloud id of the particle's resource (instance or volume id), when it has one."""
    current = particle.current_state_definition or {}
    return current.get("InstanceId") or current.get("VolumeId") or None
