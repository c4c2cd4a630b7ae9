"""EC2 tag filters without a scan of every instance or volume: a tag index (key -> value -> resource ids).

moto 5.2.5 answers ``DescribeInstances`` and ``DescribeVolumes`` with ``tag:<key>`` filters by reading the tags of
every instance (every volume) of the region; at 10,000 particles that is about 2 s a call, on the hot path of
reconciliation and of every particle found by its ``PCFName``. Here a ``tag:<key>`` filter whose values are all
literal (no ``*``, ``?``, ``[`` or ``\\``: EC2's filter wildcards) can only match resources whose tag ``key`` has one
of those values exactly, so moto's own code runs over those candidates only (the intersection over such filters,
as every filter must hold) and still decides the answer: same resources, order, pages and errors as moto's scan
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html, ``tag:<key>``; tag keys and
values are case-sensitive: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html).

The index follows moto's tag store: every write to it goes through ``TagBackend.create_tags``, ``delete_tags`` or
``delete_tag_keys`` (``CreateTags``, ``DeleteTags``, the ``TagSpecifications`` of ``RunInstances``/``CreateVolume``,
any resource's ``add_tags``), after which the resources named are re-read from moto. It is built from moto's store
on first use, and again when a backend's store is replaced. moto keeps the tags of terminated instances and deleted
volumes: a deleted volume is a candidate that is simply not found. Instance candidates become reservations through
the instance-id index; ``InstanceIdIndex.unindexed()`` switches this index off too (for comparisons).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

from pcf_local_cloud.ec2_instance_index import InstanceIdIndex
from pcf_local_cloud.moto_private import (
    ebs_volumes,
    instance_tag_filters_narrowed,
    resource_tags,
    tag_writes_observed,
    volume_tag_filters_narrowed,
)
from pcf_local_cloud.patchset import PatchSet

TAG_FILTER = "tag:"
WILDCARDS = frozenset("*?[\\")
INSTANCE_PREFIX = "i-"
VOLUME_PREFIX = "vol-"


class _BackendTags:
    """One backend's tags, by key and value, as last read from moto's store ``source``."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.by_key: dict[str, dict[str, set[str]]] = {}
        self.indexed: dict[str, dict[str, str]] = {}
        for resource_id in list(source):
            self.refresh(resource_id)

    def refresh(self, resource_id: str) -> None:
        """Re-read ``resource_id``'s tags from moto and update the index to match."""
        now = dict(dict.get(self.source, resource_id) or {})  # not source[...]: a defaultdict would grow
        before = self.indexed.pop(resource_id, {})
        for key, value in before.items():
            if now.get(key) != value:
                by_value = self.by_key[key]
                by_value[value].discard(resource_id)
                if not by_value[value]:
                    del by_value[value]
        for key, value in now.items():
            if before.get(key) != value:
                self.by_key.setdefault(key, {}).setdefault(value, set()).add(resource_id)
        if now:
            self.indexed[resource_id] = now

    def tagged(self, key: str, values: Iterable[str]) -> set[str]:
        """The resources whose tag ``key`` is one of ``values``."""
        by_value = self.by_key.get(key, {})
        found: set[str] = set()
        for value in values:
            found.update(by_value.get(value, ()))
        return found


def literal_tag_filters(filters: Any) -> list[tuple[str, list[str]]]:
    """The ``tag:<key>`` filters of a moto filter dict whose values are all literal: ``(key, values)``."""
    if not isinstance(filters, dict):
        return []
    found = []
    for name, values in filters.items():
        if not isinstance(name, str) or not name.startswith(TAG_FILTER) or not isinstance(values, list):
            continue
        if all(isinstance(value, str) and not WILDCARDS.intersection(value) for value in values):
            found.append((name[len(TAG_FILTER):], values))
    return found


class TagIndex:
    """The patch: tag-filtered ``DescribeInstances``/``DescribeVolumes`` over their candidates only."""

    def __init__(self, instance_index: InstanceIdIndex) -> None:
        self._instances = instance_index
        self._backends: weakref.WeakKeyDictionary[Any, _BackendTags] = weakref.WeakKeyDictionary()
        self._lock = threading.RLock()
        self.builds = 0
        """How many times a backend's index was built from a full read of moto's tag store (for inspection)."""

    def install(self, patches: PatchSet) -> None:
        """Patch moto (see the module docstring); undone by ``patches.restore()``. Install after the
        instance-id index."""
        tag_writes_observed(patches, self.written)
        instance_tag_filters_narrowed(patches, self.reservations)
        volume_tag_filters_narrowed(patches, self.volumes)

    def written(self, backend: Any, resource_ids: list[str]) -> None:
        """moto may have changed the tags of ``resource_ids`` in ``backend``: re-read them (if indexed)."""
        with self._lock:
            tags = self._backends.get(backend)
            if tags is None or tags.source is not resource_tags(backend):
                return  # built, from moto's store, on the next lookup
            for resource_id in resource_ids:
                if isinstance(resource_id, str):
                    tags.refresh(resource_id)

    def matching(self, backend: Any, filters: Any, prefix: str) -> set[str] | None:
        """The ids starting with ``prefix`` that every literal tag filter of ``filters`` can match (a superset of
        the answer), or ``None`` when no filter narrows it (or the index is off in this thread)."""
        wanted = literal_tag_filters(filters)
        if not wanted or not self._instances.indexing():
            return None
        with self._lock:
            tags = self._tags_of(backend)
            found: set[str] | None = None
            for key, values in wanted:
                tagged = tags.tagged(key, values)
                found = tagged if found is None else found & tagged
                if not found:
                    break
        return {resource_id for resource_id in found or () if resource_id.startswith(prefix)}

    def reservations(self, backend: Any, filters: Any) -> list[Any] | None:
        """The reservations of ``backend`` a tag-filtered ``DescribeInstances`` can only find among (``None``:
        all of them: no literal tag filter, or an ``instance-id`` filter, which the instance-id index narrows)."""
        if isinstance(filters, dict) and "instance-id" in filters:
            return None
        ids = self.matching(backend, filters, INSTANCE_PREFIX)
        if ids is None:
            return None
        return self._instances.holding(backend, sorted(ids))

    def volumes(self, backend: Any, filters: Any) -> list[Any] | None:
        """The volumes a tag-filtered ``DescribeVolumes`` can only find among, in moto's order (``None``: all)."""
        ids = self.matching(backend, filters, VOLUME_PREFIX)
        if ids is None:
            return None
        volumes = ebs_volumes(backend)
        if len(ids) <= 1:
            found = [dict.get(volumes, volume_id) for volume_id in ids]
            return [volume for volume in found if volume is not None]
        return [volume for volume_id, volume in list(volumes.items()) if volume_id in ids]

    def _tags_of(self, backend: Any) -> _BackendTags:
        source = resource_tags(backend)
        tags = self._backends.get(backend)
        if tags is None or tags.source is not source:
            tags = self._backends[backend] = _BackendTags(source)
            self.builds += 1
        return tags
