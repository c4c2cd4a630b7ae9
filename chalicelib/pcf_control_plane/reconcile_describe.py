"""One page's resources, described in batches: by resource id first, then by name for the particles still missing.

Each flavor's describe call (``pcf.core.resource_table``) is made with the resources' ids in its id filter
(``instance-id``, ``volume-id``: an id that no longer exists is simply absent, where the ids parameter would fail the
call), at most ``FILTER_VALUES_MAX`` values a call, and always with the deployment's tag: a resource is the
deployment's only with both tags. A particle whose observed id found nothing (or that has none) is then looked for
by its ``PCFName`` tag, in the same chunks. A name still to be resolved at apply time (``$lookup$``) finds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from pcf.core.resource_table import ResourceTable
from pcf.util import pcf_util
from pcf.util.aws.tag_specifications import DEPLOYMENT_TAG, NAME_TAG
from pcf_control_plane.drift import unresolved
from pcf_control_plane.store import ParticleRecord

FILTER_VALUES_MAX = 200
"""Values of one filter in one describe call."""


class Entry(NamedTuple):
    """A particle of the page whose flavor has a resource table."""

    record: ParticleRecord
    flavor: str
    table: ResourceTable


class PageResources:
    """Describes the resources of one page's particles with ``ec2`` (a boto3 EC2 client); ``calls`` counts the
    describe calls made (one per page of answers)."""

    def __init__(self, ec2: Any, deployment: str) -> None:
        self.ec2 = ec2
        self.deployment = deployment
        self.calls = 0

    def find(self, entries: Sequence[Entry]) -> dict[str, dict[str, Any] | None]:
        """Each entry's resource (``None``: none of the deployment's), by pcf_id."""
        found: dict[str, dict[str, Any] | None] = {}
        for flavor, table in {entry.flavor: entry.table for entry in entries}.items():
            own = [entry for entry in entries if entry.flavor == flavor]
            described: dict[str, dict[str, Any]] = {}
            ids = sorted({rid for entry in own if (rid := _observed_id(entry.record))})
            self._describe(flavor, table, table.describe.id_filter, ids, described)
            names = sorted({name for entry in own if resource_of(entry.record, table, described) is None
                            and (name := name_of(entry.record, table))})
            self._describe(flavor, table, f"tag:{NAME_TAG}", names, described)
            found.update({entry.record.pcf_id: resource_of(entry.record, table, described) for entry in own})
        return found

    def _describe(self, flavor: str, table: ResourceTable, filter_name: str, values: Sequence[str],
                  described: dict[str, dict[str, Any]]) -> None:
        tagged = {"Name": f"tag:{DEPLOYMENT_TAG}", "Values": [self.deployment]}
        for chunk in _chunks(values, FILTER_VALUES_MAX):
            pages = self.ec2.get_paginator(table.describe.operation).paginate(
                Filters=[{"Name": filter_name, "Values": list(chunk)}, tagged],
                PaginationConfig={"PageSize": table.describe.page_size})
            for page in pages:
                self.calls += 1
                for resource in table.describe.resources(page):
                    index(described, flavor, table, resource)


def _observed_id(record: ParticleRecord) -> str | None:
    return record.observation.resource_id if record.observation else None


def name_of(record: ParticleRecord, table: ResourceTable) -> str | None:
    """The particle's ``PCFName`` when its definition states it (not one looked up at apply time)."""
    assert record.spec is not None
    name = ((record.spec.definition.get("aws_resource") or {}).get("custom_config") or {}).get(table.name_key)
    return None if not name or unresolved(name) else str(name)


def resource_of(record: ParticleRecord, table: ResourceTable,
                described: Mapping[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The particle's resource among ``described``: by its observed id, else by its name."""
    assert record.spec is not None
    resource_id = _observed_id(record)
    if resource_id and resource_id in described:
        return described[resource_id]
    name = name_of(record, table)
    return described.get(f"{record.spec.definition['flavor']}:{name}") if name else None


def index(described: dict[str, dict[str, Any]], flavor: str, table: ResourceTable, resource: dict[str, Any]) -> None:
    """``resource`` by its id, and by ``flavor:PCFName`` unless a live resource already holds that name."""
    described[str(resource[table.id_key])] = resource
    name = pcf_util.tags_to_dict(resource.get("Tags")).get(NAME_TAG)
    if name and (table.status(resource) not in table.gone or f"{flavor}:{name}" not in described):
        described[f"{flavor}:{name}"] = resource


def _chunks(values: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def flavors_of(records: Iterable[ParticleRecord]) -> set[str]:
    """The flavors of ``records``' specs."""
    return {record.spec.definition["flavor"] for record in records if record.spec is not None}
