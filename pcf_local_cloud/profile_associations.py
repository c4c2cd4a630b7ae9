"""An instance's ``IamInstanceProfile`` follows ``ReplaceIamInstanceProfileAssociation``, as on AWS.

moto replaces the association's profile but leaves the instance's own attribute (what ``describe_instances``
shows) on the old one; ``associate``/``disassociate`` do update it. Without this, a profile swapped behind the
framework's back stays invisible to ``sync_state`` and reconciliation alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.ec2.models.iam_instance_profile import IamInstanceProfileAssociationBackend

from pcf_local_cloud.patchset import PatchSet, defining_class

REPLACE = "replace_iam_instance_profile_association"


class ProfileAssociations:
    """Installs the patch."""

    def install(self, patches: PatchSet) -> None:
        owner = defining_class(IamInstanceProfileAssociationBackend, REPLACE)
        patches.replace(owner, REPLACE, _following_instance(vars(owner)[REPLACE]))


def _following_instance(original: Callable[..., Any]) -> Callable[..., Any]:
    def replace(backend: Any, association_id: str, *args: Any, **kwargs: Any) -> Any:
        association = original(backend, association_id, *args, **kwargs)
        backend.modify_instance_attribute(association.instance_id, "iam_instance_profile",
                                          {"Arn": association.iam_instance_profile.arn, "Id": association_id})
        return association

    replace.__name__ = original.__name__
    replace.__doc__ = original.__doc__
    return replace
