"""``$lookup$``: AWS ids found by name, in the particle's own region, through an injected client factory."""

from __future__ import annotations

import os
from typing import Any

from pcf.core.pcf_exceptions import ResourceLookupNotDefinedException
from pcf.util.aws.clients import ClientFactory, get_default_factory
from pcf.util.aws.tag_specifications import NAME_TAG

LOOKUP_ACTIONS: dict[str, tuple[str, ...]] = {
    "ec2": ("ec2:DescribeImages", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeSnapshots",
            "ec2:DescribeTags"),
    "iam": ("iam:GetInstanceProfile", "iam:GetRole"),
}
"""Service -> the IAM actions lookups call (the ``steps`` role may make them)."""


class AWSLookup:
    """Finds ids by name: ``ami``/``image``, ``subnet``, ``security_groups``, ``snapshot``, ``iam``,
    ``instance_profile``; and ``instance_name``, an instance's ``PCFName`` by its id."""

    def __init__(self, client_factory: ClientFactory | None = None, region_name: str | None = None) -> None:
        self._clients = client_factory or get_default_factory()
        self._region = region_name or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"

    @property
    def region_name(self) -> str:
        return self._region

    @property
    def ec2_client(self) -> Any:
        """The EC2 client lookups use."""
        return self._ec2()

    @property
    def methods(self) -> dict[str, Any]:
        """Each lookup kind and the method that finds it."""
        return {
            "ami": self.ami,
            "image": self.ami,
            "subnet": self.subnet,
            "security_groups": self.security_groups,
            "snapshot": self.snapshot,
            "iam": self.iam,
            "instance_profile": self.instance_profile,
            "instance_name": self.instance_name,
        }

    def get_id(self, resource: str, names: list[str], field: str = "") -> Any:
        """The id for ``names`` of the lookup kind ``resource``; ``ResourceLookupNotDefinedException`` naming
        ``field`` when none matches."""
        kind = resource  # the original's parameter name
        finder = self.methods.get(kind)
        if finder is None:
            raise ResourceLookupNotDefinedException(field, f"unknown lookup kind {kind!r}")
        found = finder(names)
        if not found:
            raise ResourceLookupNotDefinedException(field, f"no {kind} named {':'.join(names)!r} in {self._region}")
        return found

    def _ec2(self) -> Any:
        return self._clients.client("ec2", self._region)

    def ami(self, names: list[str]) -> str | None:
        # Only images of this account or Amazon: a community AMI with a matching name is never picked.
        images = self._ec2().describe_images(
            Owners=["self", "amazon"], Filters=[{"Name": "name", "Values": names}]
        )["Images"]
        if len(images) > 1:
            newest = max(images, key=lambda image: image.get("CreationDate", ""))
            return newest["ImageId"]
        return images[0]["ImageId"] if images else None

    def instance_name(self, names: list[str]) -> str | None:
        """The ``PCFName`` tag of the instance whose id is ``names[0]``."""
        found = self._ec2().describe_tags(Filters=[
            {"Name": "resource-id", "Values": names[:1]},
            {"Name": "key", "Values": [NAME_TAG]},
        ])["Tags"]
        return found[0]["Value"] if len(found) == 1 else None

    def subnet(self, names: list[str]) -> str | None:
        subnets = self._ec2().describe_subnets(Filters=[{"Name": "tag:Name", "Values": names}])["Subnets"]
        return subnets[0]["SubnetId"] if subnets else None

    def security_groups(self, names: list[str]) -> list[str] | None:
        groups = self._ec2().describe_security_groups(Filters=[{"Name": "group-name", "Values": names}])
        ids = [g["GroupId"] for g in groups["SecurityGroups"]]
        return ids if len(ids) >= len(names) else None

    def snapshot(self, names: list[str]) -> str | None:
        snapshots = self._ec2().describe_snapshots(Filters=[{"Name": "tag:Name", "Values": names}])["Snapshots"]
        return snapshots[0]["SnapshotId"] if snapshots else None

    def iam(self, names: list[str]) -> str | None:
        """``["instance-profile", NAME]`` or ``["role", NAME]`` -> its ARN."""
        if len(names) != 2 or names[0] not in ("instance-profile", "role"):
            return None
        return self.instance_profile(names[1:]) if names[0] == "instance-profile" else self._role(names[1])

    def instance_profile(self, names: list[str]) -> str | None:
        iam = self._clients.client("iam", self._region)
        try:
            return iam.get_instance_profile(InstanceProfileName=names[0])["InstanceProfile"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            return None

    def _role(self, name: str) -> str | None:
        iam = self._clients.client("iam", self._region)
        try:
            return iam.get_role(RoleName=name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            return None
