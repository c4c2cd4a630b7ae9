"""Configuration drift: the fields of a resource that no longer match its stored definition.

Compared per flavor, only where the definition says something: an EC2 instance's type, security groups and
tags (those the definition names); an EBS volume's size, type and IOPS. Values still to be resolved
(``$inherit$``, ``$lookup$``) are left to the apply that resolves them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pcf.util import pcf_util

Difference = tuple[Any, Any]
"""``(desired, actual)``."""


def _unresolved(value: Any) -> bool:
    text = repr(value)
    return "$inherit$" in text or "$lookup$" in text


def _instance(definition: Mapping[str, Any], instance: Mapping[str, Any]) -> dict[str, Difference]:
    desired = definition.get("aws_resource") or {}
    found: dict[str, Difference] = {}
    if "InstanceType" in desired and desired["InstanceType"] != instance.get("InstanceType"):
        found["InstanceType"] = (desired["InstanceType"], instance.get("InstanceType"))
    groups = desired.get("SecurityGroupIds")
    actual_groups = sorted(group["GroupId"] for group in instance.get("SecurityGroups", []))
    if groups and sorted(groups) != actual_groups:
        found["SecurityGroupIds"] = (sorted(groups), actual_groups)
    tags = (desired.get("custom_config") or {}).get("tags") or {}
    actual_tags = pcf_util.tags_to_dict(instance.get("Tags"))
    for key, value in tags.items():
        if str(actual_tags.get(key)) != str(value):
            found[f"Tags.{key}"] = (value, actual_tags.get(key))
    return {field: diff for field, diff in found.items() if not _unresolved(diff[0])}


def _volume(definition: Mapping[str, Any], volume: Mapping[str, Any]) -> dict[str, Difference]:
    desired = definition.get("aws_resource") or {}
    found = {field: (desired[field], volume.get(field)) for field in ("Size", "VolumeType", "Iops")
             if field in desired and desired[field] != volume.get(field)}
    return {field: diff for field, diff in found.items() if not _unresolved(diff[0])}


CHECKS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Difference]]] = {
    "ec2_instance": _instance,
    "ebs_volume": _volume,
}


def config_differences(
    flavor: str, definition: Mapping[str, Any], resource: Mapping[str, Any]
) -> dict[str, Difference]:
    """The drifted fields of ``resource`` (an EC2 description) against ``definition``, by field name."""
    check = CHECKS.get(flavor)
    return check(definition, resource) if check else {}
