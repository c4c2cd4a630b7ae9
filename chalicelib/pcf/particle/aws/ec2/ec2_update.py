"""How each difference of an EC2 instance is brought to the desired definition.

Three kinds of change, as EC2 allows them:

- in place, on a running or stopped instance: tags, security groups, shutdown behavior, instance profile;
- only while stopped: instance type, user data;
- not at all: image, subnet, key pair. The instance is replaced (terminated, then created anew).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pcf.particle.aws.ec2.ec2_definition import Difference
from pcf.util.pcf_util import dict_to_tags

REPLACE_FIELDS = frozenset({"ImageId", "SubnetId", "KeyName"})
STOPPED_FIELDS = frozenset({"InstanceType", "UserData"})
IN_PLACE_FIELDS = frozenset(
    {"TagSpecifications", "SecurityGroupIds", "InstanceInitiatedShutdownBehavior", "IamInstanceProfile"}
)


@dataclass
class UpdatePlan:
    """The differences of one instance, sorted by the kind of change they need."""

    replace: list[str] = field(default_factory=list)
    in_place: list[str] = field(default_factory=list)
    when_stopped: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, differences: Mapping[str, Difference]) -> UpdatePlan:
        plan = cls()
        for name in sorted(differences):
            if name in REPLACE_FIELDS:
                plan.replace.append(name)
            elif name in STOPPED_FIELDS:
                plan.when_stopped.append(name)
            else:
                plan.in_place.append(name)
        return plan


@dataclass
class UpdateResult:
    """What ``EC2Instance._update`` (or a start of a stopped, differing instance) did."""

    applied: list[str] = field(default_factory=list)
    stopped_for: list[str] = field(default_factory=list)
    replaced_for: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.applied or self.stopped_for or self.replaced_for)


class InstanceModifier:
    """Applies differences to one instance with EC2 API calls (one or two per field)."""

    def __init__(self, client: Any, instance_id: str) -> None:
        self.client = client
        self.instance_id = instance_id

    def apply(self, differences: Mapping[str, Difference], names: list[str]) -> list[str]:
        """Apply the differences named in ``names``; returns the names applied."""
        setters: dict[str, Callable[[Any], None]] = {
            "TagSpecifications": self._set_tags,
            "SecurityGroupIds": self._set_security_groups,
            "InstanceInitiatedShutdownBehavior": self._set_shutdown_behavior,
            "IamInstanceProfile": self._set_instance_profile,
            "InstanceType": self._set_instance_type,
            "UserData": self._set_user_data,
        }
        for name in names:
            setters[name](differences[name].desired)
        return list(names)

    def _set_tags(self, change: Mapping[str, Any]) -> None:
        if change["set"]:
            self.client.create_tags(Resources=[self.instance_id], Tags=dict_to_tags(change["set"]))
        if change["remove"]:
            self.client.delete_tags(Resources=[self.instance_id], Tags=[{"Key": k} for k in change["remove"]])

    def _set_security_groups(self, groups: list[str]) -> None:
        self.client.modify_instance_attribute(InstanceId=self.instance_id, Groups=list(groups))

    def _set_shutdown_behavior(self, behavior: str) -> None:
        self.client.modify_instance_attribute(
            InstanceId=self.instance_id, Attribute="instanceInitiatedShutdownBehavior", Value=behavior
        )

    def _set_instance_profile(self, profile: Mapping[str, str]) -> None:
        wanted = {k: v for k, v in profile.items() if k in ("Arn", "Name")}
        found = self.client.describe_iam_instance_profile_associations(
            Filters=[
                {"Name": "instance-id", "Values": [self.instance_id]},
                {"Name": "state", "Values": ["associating", "associated"]},
            ]
        ).get("IamInstanceProfileAssociations", [])
        if found:
            self.client.replace_iam_instance_profile_association(
                IamInstanceProfile=wanted, AssociationId=found[0]["AssociationId"]
            )
        else:
            self.client.associate_iam_instance_profile(IamInstanceProfile=wanted, InstanceId=self.instance_id)

    def _set_instance_type(self, instance_type: str) -> None:
        self.client.modify_instance_attribute(InstanceId=self.instance_id, InstanceType={"Value": instance_type})

    def _set_user_data(self, user_data: str) -> None:
        # ModifyInstanceAttribute wants the user data base64-encoded inside the blob botocore encodes again.
        encoded = base64.b64encode(user_data.encode("utf-8"))
        self.client.modify_instance_attribute(InstanceId=self.instance_id, UserData={"Value": encoded})
