"""Tags every managed resource carries: ``PCFName`` (its identity) and ``PCFDeployment`` (whose it is).

"Managed means tagged": the control plane acts only on resources with this deployment's tag.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pcf.util.pcf_util import dict_to_tags

NAME_TAG = "PCFName"
DEPLOYMENT_TAG = "PCFDeployment"
DEFAULT_DEPLOYMENT = "pcf"
DEPLOYMENT_ENV = "PCF_DEPLOYMENT"


def deployment_name() -> str:
    """This deployment's name: ``$PCF_DEPLOYMENT``, or ``pcf``."""
    return os.environ.get(DEPLOYMENT_ENV) or DEFAULT_DEPLOYMENT


def managed_tags(pcf_name_tag: str, extra: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The user's tags plus the identity and deployment tags (which the user cannot override)."""
    tags = {str(k): str(v) for k, v in (extra or {}).items()}
    tags[NAME_TAG] = pcf_name_tag
    tags[DEPLOYMENT_TAG] = deployment_name()
    return tags


class TagSpecifications:
    """Tags for one resource type, rendered as a ``TagSpecifications`` list (the original PCF's class).

    Args:
        resource_type: the EC2 resource type (``instance``, ``volume``); the class's default when empty.
        **tags: tag name to value.
    """

    DEFAULT_RESOURCE_TYPE: str | None = None
    KEY = "Key"
    VALUE = "Value"

    def __init__(self, resource_type: str | None = None, **tags: Any) -> None:
        self.resource_type = resource_type or self.DEFAULT_RESOURCE_TYPE
        self.tags: dict[str, Any] = dict(tags)

    def render(self) -> list[dict[str, Any]]:
        """``[{"ResourceType": ..., "Tags": [{"Key": ..., "Value": ...}, ...]}]``."""
        return [{"ResourceType": self.resource_type, "Tags": dict_to_tags(self.tags)}]

    def add_tag(self, name: str, value: Any) -> None:
        self.tags[name] = value

    def add_tags(self, *tags: Mapping[str, Any], **kvp: Any) -> None:
        """Add ``{"Key": ..., "Value": ...}`` tags and ``name=value`` pairs."""
        for tag in tags:
            self.add_tag(tag[self.KEY], tag[self.VALUE])
        for name, value in kvp.items():
            self.add_tag(name, value)

    def delete_tag(self, name: str | None) -> None:
        """Remove the tag if present."""
        if name is not None:
            self.tags.pop(name, None)

    def delete_tags(self, *names: str) -> None:
        for name in names:
            self.delete_tag(name)

    @classmethod
    def create_from_aws_response(cls, aws_response: Mapping[str, Any] | list[Mapping[str, Any]]) -> TagSpecifications:
        """From a request or response holding one ``TagSpecifications`` entry, or from the list itself."""
        entries = aws_response.get("TagSpecifications") if isinstance(aws_response, Mapping) else aws_response
        if not isinstance(entries, list) or len(entries) != 1:
            raise ValueError(f"expected exactly one TagSpecifications entry, got {aws_response!r}")
        entry = entries[0]
        return TagSpecifications(entry["ResourceType"], **{t[cls.KEY]: t[cls.VALUE] for t in entry.get("Tags", [])})

    def __sub__(self, other: TagSpecifications) -> TagSpecifications:
        """The tags of ``self`` that ``other`` does not have with the same value."""
        if self.resource_type != other.resource_type:
            raise ValueError("resource_type must be the same")
        return TagSpecifications(
            self.resource_type, **{k: v for k, v in self.tags.items() if k not in other.tags or other.tags[k] != v}
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.resource_type!r}, {self.tags!r})"


class EC2InstanceTagSpecifications(TagSpecifications):
    """Tags of an EC2 instance."""

    DEFAULT_RESOURCE_TYPE = "instance"

    def __init__(self, **tags: Any) -> None:
        super().__init__(None, **tags)


class EBSTagSpecifications(TagSpecifications):
    """Tags of an EBS volume."""

    DEFAULT_RESOURCE_TYPE = "volume"

    def __init__(self, **tags: Any) -> None:
        super().__init__(None, **tags)


EBSVolumeTagSpecifications = EBSTagSpecifications
