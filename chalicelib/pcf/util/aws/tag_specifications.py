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
    """Tags rendered as a ``TagSpecifications`` entry for one resource type."""

    resource_type = ""

    def __init__(self, PCFName: str, **tags: Any) -> None:
        self.tags = managed_tags(PCFName, tags)

    def render(self) -> list[dict[str, Any]]:
        return [{"ResourceType": self.resource_type, "Tags": dict_to_tags(self.tags)}]


class EC2InstanceTagSpecifications(TagSpecifications):
    resource_type = "instance"


class EBSVolumeTagSpecifications(TagSpecifications):
    resource_type = "volume"
