"""EC2 instances by id without a scan of every reservation, and an instance's tags without a scan of every tag.

moto 5.2.5 answers ``DescribeInstances`` with ``InstanceIds`` or an ``instance-id`` filter, and every
Start/Stop/Terminate/Reboot (``get_multi_instances_by_id``), by copying and scanning every reservation of the
region; and it reads each instance's tags (for the answer, and for every ``tag:`` filter) by scanning every tag
of the region, so a tag filter costs O(instances x tags). Here:

- the by-id lookups get, as their candidates, only the reservations holding the ids asked (from an index
  ``instance id -> reservation``), in moto's order; moto's own code then answers, so the errors stay moto's and
  AWS's: ``InvalidInstanceID.NotFound`` for an unknown id in ``InstanceIds``, nothing for an unknown id in the
  ``instance-id`` filter (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html);
- one resource's tags are read from that resource's entry (``moto_private.tag_lookups_narrowed``).

The index trusts nothing it cannot check cheaply: a hit is used only if that reservation is still moto's and
still holds the instance; reservations moto added since (``RunInstances`` appends) are indexed on the next
lookup; a miss, a removed reservation or a replaced backend rebuilds the index from moto's reservations before
answering. Terminated instances stay in moto's reservations, and so in the index, as moto keeps showing them.

``unindexed()`` answers the calling thread's lookups with moto's scan, for comparisons and benchmarks.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import AbstractContextManager
from typing import Any

from pcf_local_cloud.moto_private import (
    ec2_reservations,
    instance_lookups_narrowed,
    reservation_instance_ids,
    tag_lookups_narrowed,
)
from pcf_local_cloud.patchset import PatchSet
from pcf_local_cloud.thread_flag import ThreadFlag


class _BackendIndex:
    """One EC2 backend: instance id -> reservation, reservation id -> position in moto's order."""

    def __init__(self, reservations: Any) -> None:
        self.source = reservations
        self.order: list[str] = []
        self.position: dict[str, int] = {}
        self.reservation_of: dict[str, Any] = {}
        self.extend(reservations)

    def extend(self, reservations: Any) -> bool:
        """Index the reservations moto appended since; ``False`` if moto's mapping changed otherwise."""
        ids = list(reservations)
        known = len(self.order)
        if len(ids) < known or (known and ids[known - 1] != self.order[-1]):
            return False
        for reservation_id in ids[known:]:
            reservation = dict.get(reservations, reservation_id)
            if reservation is None:
                return False
            self.position[reservation_id] = len(self.order)
            self.order.append(reservation_id)
            for instance_id in reservation_instance_ids(reservation):
                self.reservation_of[instance_id] = reservation
        return True

    def holding(self, instance_ids: list[str]) -> tuple[list[Any], bool]:
        """The reservations holding ``instance_ids`` in moto's order, and whether every id was found and
        checked."""
        found: dict[str, Any] = {}
        complete = True
        for instance_id in instance_ids:
            if self._checked(instance_id):
                reservation = self.reservation_of[instance_id]
                found[reservation.id] = reservation
            else:
                complete = False
        return sorted(found.values(), key=lambda r: self.position[r.id]), complete

    def _checked(self, instance_id: str) -> bool:
        """Whether the indexed reservation of ``instance_id`` is still moto's and still holds it."""
        reservation = self.reservation_of.get(instance_id)
        if reservation is None:
            return False
        return dict.get(self.source, reservation.id) is reservation and \
            instance_id in reservation_instance_ids(reservation)


class InstanceIdIndex:
    """The patch: by-id instance lookups and one resource's tags, for every moto EC2 backend."""

    def __init__(self) -> None:
        self._backends: weakref.WeakKeyDictionary[Any, _BackendIndex] = weakref.WeakKeyDictionary()
        self._lock = threading.RLock()
        self._bypass = ThreadFlag()
        self.rebuilds = 0
        """How many times an index was built from a full scan of moto's reservations (for inspection)."""

    def install(self, patches: PatchSet) -> None:
        instance_lookups_narrowed(patches, self.holding)
        tag_lookups_narrowed(patches, self.indexing)

    def unindexed(self) -> AbstractContextManager[None]:
        """Within the block, this thread's by-id lookups scan every reservation, and every tag read scans every
        tag, as moto does."""
        return self._bypass.raised()

    def indexing(self) -> bool:
        """Whether this thread's lookups use the indexes (not inside :meth:`unindexed`)."""
        return not self._bypass.is_set()

    def holding(self, backend: Any, instance_ids: list[str]) -> list[Any] | None:
        """The reservations of ``backend`` holding ``instance_ids``, in moto's order (``None``: scan them all)."""
        if self._bypass.is_set():
            return None
        if not all(isinstance(instance_id, str) for instance_id in instance_ids):
            return None
        with self._lock:
            reservations = ec2_reservations(backend)
            index = self._backends.get(backend)
            if index is None or index.source is not reservations or not index.extend(reservations):
                index = self._rebuild(backend, reservations)
            found, complete = index.holding(instance_ids)
            if complete:
                return found
            found, _ = self._rebuild(backend, reservations).holding(instance_ids)
            return found

    def _rebuild(self, backend: Any, reservations: Any) -> _BackendIndex:
        index = _BackendIndex(reservations)
        self._backends[backend] = index
        self.rebuilds += 1
        return index
