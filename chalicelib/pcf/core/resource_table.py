"""What the control plane knows of a flavor's AWS resource, declared once by the flavor (``RESOURCE_TABLE``).

Scheduled reconciliation (which resources to describe, how to find a particle's among them, which states mean
gone), observation snapshots, the resource id on progress lines, the events the control plane accepts and the
Lambda functions' IAM policies are all read from these tables; nothing outside a flavor's module names its
describe call, its keys or its actions. ``tests/core/test_resource_tables.py`` walks the flavor registry and holds
every table to botocore's service model and the IAM action catalogue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pcf.util import pcf_util

if TYPE_CHECKING:
    from pydantic import BaseModel

TRANSITIONS = ("sync", "start", "stop", "terminate", "update")
"""What a flavor's resource goes through; each needs its own IAM actions (``sync`` is observing it)."""


@dataclass(frozen=True)
class Describe:
    """How a deployment's resources of a flavor are listed: one paginated ``describe_*`` call, filtered by tag."""

    operation: str
    """The client method (``describe_instances``); it must have a paginator."""
    items: tuple[str, ...]
    """The path from a page to the resources, through lists (``("Reservations", "Instances")``)."""
    page_size: int
    """Resources per call (the call's largest ``MaxResults``)."""
    id_filter: str
    """The filter selecting resources by id (``instance-id``): unlike the ids parameter, it does not fail the call
    for an id that no longer exists."""
    service: str = "ec2"

    @property
    def action(self) -> str:
        """The IAM action of the call (``ec2:DescribeInstances``)."""
        return f"{self.service}:{''.join(part.capitalize() for part in self.operation.split('_'))}"

    def resources(self, page: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """The resources of one page."""
        found: list[Any] = [page]
        for key in self.items:
            found = [item for holder in found for item in holder.get(key) or []]
        yield from found


@dataclass(frozen=True)
class EventKind:
    """An EventBridge event about the flavor's resources, and the model that parses it (its ``resource_state()``
    gives ``(resource id, status or None)``)."""

    source: str
    detail_type: str
    model: type[BaseModel]
    detail: Mapping[str, tuple[str, ...]] | None = None
    """The event rule's content filter on ``detail``, when only some of these events are acted on (an instance's
    stable states: its transitional ones are already known to whoever caused them)."""


@dataclass(frozen=True)
class Permissions:
    """The IAM actions the flavor's transitions need.

    ``describe`` (``Resource: "*"``: EC2's describe actions have no resource-level permissions) are the reads of
    every transition; ``transitions`` are the actions on one existing resource, allowed only on one carrying the
    deployment's tag; ``create`` the actions creating one, allowed only with that tag; ``inputs`` the other
    resources, not the flavor's own, an action touches (the image and subnet of ``RunInstances``); ``arns`` the
    ARNs of the flavor's own resources.
    """

    describe: tuple[str, ...]
    transitions: Mapping[str, tuple[str, ...]]
    create: tuple[str, ...]
    arns: tuple[str, ...]
    inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def tagged(self) -> list[str]:
        """Every action on an existing resource, once each, sorted."""
        return sorted({action for actions in self.transitions.values() for action in actions})


@dataclass(frozen=True)
class ResourceTable:
    """One flavor's resource, as the control plane sees it (see the module docstring)."""

    id_key: str
    """The resource id in a description (``InstanceId``)."""
    name_key: str
    """The ``custom_config`` key holding the resource's name, its ``PCFName`` tag (``instance_name``)."""
    describe: Describe
    status: Callable[[Mapping[str, Any]], str]
    """A description's status, a key of the flavor's ``state_lookup``."""
    gone: frozenset[str]
    """Statuses of a resource that is gone or going: its name may belong to a new one."""
    snapshot_fields: tuple[str, ...]
    snapshot: Callable[[Mapping[str, Any]], dict[str, Any]]
    """The fields an observation keeps of a description (or of a particle's current definition), only those of
    ``snapshot_fields``, in one shape whoever observed it, so an unchanged resource compares equal."""
    events: tuple[EventKind, ...]
    permissions: Permissions
    unmanageable: frozenset[str] = frozenset()
    """Statuses AWS documents that the framework cannot act on (a volume in ``error``): a sync raises saying so;
    they are deliberately absent from ``state_lookup``."""
    awaited: frozenset[str] = frozenset()
    """Transitional statuses (``state_lookup`` gives ``pending``) whose end AWS announces with one of ``events``:
    the control plane waits for that event instead of polling (an instance's ``pending``; a volume's ``creating``,
    not its ``attaching``, which ends with no notification)."""

    def awaits_event(self, description: Mapping[str, Any] | None) -> bool:
        """Does the resource ``description`` shows end its transition with an event (see ``awaited``)?"""
        return bool(description) and self.status(description or {}) in self.awaited

    def resource_id(self, description: Mapping[str, Any] | None) -> str | None:
        """The resource's id in ``description``, when there is one."""
        found = (description or {}).get(self.id_key)
        return str(found) if found else None


def table_of(flavor_class: type[Any]) -> ResourceTable | None:
    """The flavor's table; ``None`` for a flavor that declares none (a user flavor, a quasiparticle)."""
    table = getattr(flavor_class, "RESOURCE_TABLE", None)
    return table if isinstance(table, ResourceTable) else None


def resource_tables() -> dict[str, ResourceTable]:
    """Every registered flavor's table (built-in flavors imported), by flavor name."""
    from pcf.core.registry import load_builtin_flavors

    return {flavor: table for flavor, cls in sorted(load_builtin_flavors().items())
            if (table := table_of(cls)) is not None}


def resource_id_of(particle: Any) -> str | None:
    """The id of the particle's resource from its last sync, when its flavor has a table and it has one."""
    table = table_of(type(particle))
    return table.resource_id(particle.current_state_definition) if table else None


def observation_snapshot(particle: Any) -> dict[str, Any]:
    """What an observation keeps of the particle's resource (its table's ``snapshot`` of its current definition):
    small and JSON-safe; ``{}`` for a flavor without a table."""
    table = table_of(type(particle))
    return table.snapshot(particle.current_state_definition or {}) if table else {}


def picked(description: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The ``fields`` ``description`` holds, with ``Tags`` as a ``{key: value}`` dict whatever its shape."""
    found = {key: description[key] for key in fields if key in description and key != "Tags"}
    tags = description.get("Tags") if "Tags" in fields else None
    if tags:
        found["Tags"] = dict(tags) if isinstance(tags, dict) else pcf_util.tags_to_dict(tags)
    return found
