"""Whose a found resource is: "managed means tagged, twice" (see ``tag_specifications``).

A resource found by its ``PCFName`` tag is **ours** only when it also carries this deployment's
``PCFDeployment`` tag; otherwise it is **foreign** (another deployment's, or no deployment's) and is never
adopted, changed or deleted, nor treated as missing: the particle fails with ``ForeignResourceError``.
The one way to take such a resource over is the particle's ``custom_config.adopt: true``, honoured by library
mode (and ``pcf run --engine direct``), which retags it with our deployment before any transition changes it.
The control plane never adopts: its role may not retag another deployment's resources.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from pcf.core.pcf_exceptions import ForeignResourceError
from pcf.util.aws.tag_specifications import DEPLOYMENT_TAG, deployment_name
from pcf.util.pcf_util import dict_to_tags, tags_to_dict

ADOPT_KEY = "adopt"
ADOPT_HINT = "; to take it over on purpose, set custom_config.adopt: true and apply with the library or --engine direct"
CONTROL_PLANE_HINT = "; the control plane never adopts: adopt it with the library or `pcf run --engine direct`"

T = TypeVar("T")


class Ownership(StrEnum):
    ours = "ours"
    foreign = "foreign"


def owner_of(tags: Sequence[Mapping[str, str]] | None) -> str | None:
    """The ``PCFDeployment`` tag's value of a resource's AWS ``Tags``; ``None`` without one."""
    return tags_to_dict(tags).get(DEPLOYMENT_TAG)


def ownership(tags: Sequence[Mapping[str, str]] | None) -> Ownership:
    """``ours`` when the resource carries this deployment's ``PCFDeployment`` tag, else ``foreign``."""
    return Ownership.ours if owner_of(tags) == deployment_name() else Ownership.foreign


def choose_owned(
    pcf_id: str,
    found: Sequence[T],
    *,
    resource_id: Callable[[T], str],
    tags: Callable[[T], Any],
    adopt: bool,
    hint: str = ADOPT_HINT,
) -> tuple[list[T], T | None]:
    """Split resources found by a particle's ``PCFName``: ``(ours, adoptable)``.

    ``ours`` are those tagged with our deployment (the flavor picks among them as before). When there are
    none and foreign ones exist: with ``adopt`` and exactly one foreign resource it is returned as
    ``adoptable`` (the flavor retags it before changing it); otherwise ``ForeignResourceError`` names the first.
    Foreign resources beside ours are left alone (never changed; never picked)."""
    ours = [item for item in found if ownership(tags(item)) is Ownership.ours]
    foreign = [item for item in found if ownership(tags(item)) is Ownership.foreign]
    if ours or not foreign:
        return ours, None
    if adopt and len(foreign) == 1:
        return [], foreign[0]
    first = sorted(foreign, key=resource_id)[0]
    raise ForeignResourceError(pcf_id, resource_id(first), owner_of(tags(first)), deployment_name(), hint)


def adopt_requested(custom_config: Mapping[str, Any]) -> bool:
    return custom_config.get(ADOPT_KEY) is True


def claim(client: Any, resource_id: str) -> None:
    """Retag an adopted EC2 resource (instance or volume) with this deployment: it is ours from now on."""
    client.create_tags(Resources=[resource_id], Tags=dict_to_tags({DEPLOYMENT_TAG: deployment_name()}))
