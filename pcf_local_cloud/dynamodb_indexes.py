"""DynamoDB Query by partition key without a scan of the table: per-table indexes from a key value to its items.

moto 5.2.5 answers every ``Query`` (on the table or on a secondary index) by sorting and scanning every item of
the table. Here each Query is given, as its candidates, only the items that can match its partition-key
condition; moto's own code then applies the key conditions, ``FilterExpression``, ordering
(``ScanIndexForward``), ``Limit``, ``ExclusiveStartKey``/``LastEvaluatedKey`` and projection to them, so every
answer is the one moto gives, only sooner.

- a Query of the table, or of a local secondary index (same partition key): the items moto already keeps
  together under that partition key;
- a Query of a global secondary index: the items whose value of the index's partition-key attribute is the one
  asked, from an index of that attribute kept per table (built on the first Query that needs it).

An item belongs to a GSI only when it carries the index's key attributes (AWS: "sparse indexes",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-indexes-general-sparse-indexes.html); moto
checks that itself on the candidates. Every item moto writes (PutItem, UpdateItem, DeleteItem, BatchWriteItem,
TransactWriteItems, PartiQL) is re-read and re-indexed after the write, and every item a cancelled transaction
puts back (:mod:`pcf_local_cloud.dynamodb_transactions`) is re-read too; a table object moto replaces (a
transaction under ``moto_copies()``, a restore, a table deleted and created again) starts with no index and gets
one again on its next Query. moto 5.2.5 never expires items by TTL, so no expiry path exists to follow.

``unindexed()`` answers the calling thread's Queries with moto's scan, for comparisons and benchmarks.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import AbstractContextManager
from typing import Any

from pcf_local_cloud.moto_private import (
    dynamodb_query_candidates,
    dynamodb_writes_observed,
    item_attribute,
    item_key,
    items_under,
    stored_item,
    table_hash_attribute,
    table_items,
)
from pcf_local_cloud.patchset import PatchSet
from pcf_local_cloud.thread_flag import ThreadFlag

Key = tuple[Any, Any]
"""An item's ``(hash_key, range_key)``, moto ``DynamoType`` values."""


class _AttributeIndex:
    """One attribute of one table: value -> {item key: item}; items whose value cannot be hashed (a list or a
    map: never a key attribute on AWS) are kept aside and offered to every Query of the attribute."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.by_value: dict[Any, dict[Key, Any]] = {}
        self.unhashable: dict[Key, Any] = {}
        self.value_of: dict[Key, Any] = {}

    def add(self, item: Any) -> None:
        value = item_attribute(item, self.name)
        if value is None:
            return
        key = item_key(item)
        try:
            self.by_value.setdefault(value, {})[key] = item
        except TypeError:
            self.unhashable[key] = item
            return
        self.value_of[key] = value

    def discard(self, key: Key) -> None:
        self.unhashable.pop(key, None)
        if key not in self.value_of:
            return
        value = self.value_of.pop(key)
        bucket = self.by_value[value]
        bucket.pop(key, None)
        if not bucket:
            del self.by_value[value]

    def items_with(self, value: Any) -> list[Any]:
        try:
            found = list(self.by_value.get(value, {}).values())
        except TypeError:
            found = []
        return found + list(self.unhashable.values())


class HashKeyIndexes:
    """The patch: Query candidates by partition-key value, for every table of every moto DynamoDB backend."""

    def __init__(self) -> None:
        self._tables: weakref.WeakKeyDictionary[Any, dict[str, _AttributeIndex]] = weakref.WeakKeyDictionary()
        self._lock = threading.RLock()
        self._bypass = ThreadFlag()

    def install(self, patches: PatchSet) -> None:
        dynamodb_writes_observed(patches, self.written)
        dynamodb_query_candidates(patches, self.candidates)

    def unindexed(self) -> AbstractContextManager[None]:
        """Within the block, this thread's Queries scan the table as moto does (the indexes are still kept)."""
        return self._bypass.raised()

    def candidates(self, table: Any, index_name: str | None, hash_key: Any,
                   hash_conditions: list[tuple[str, Any]]) -> list[Any] | None:
        """The items a Query can match (``None``: every item, moto's scan)."""
        if self._bypass.is_set():
            return None
        if index_name is None:
            return None if hash_key is None else items_under(table, hash_key)
        if not hash_conditions:
            return None
        name, value = hash_conditions[0]
        if name == table_hash_attribute(table):
            return items_under(table, value)  # a local secondary index shares the table's partition key
        with self._lock:
            return self._attribute(table, name).items_with(value)

    def written(self, table: Any, hash_key: Any, range_key: Any) -> None:
        """Re-index the item at this key of ``table`` (it was put, updated or deleted)."""
        with self._lock:
            indexes = self._tables.get(table)
            if not indexes:
                return
            key: Key = (hash_key, range_key)
            current = stored_item(table, hash_key, range_key)
            for index in indexes.values():
                index.discard(key)
                if current is not None:
                    index.add(current)

    def indexed_attributes(self, table: Any) -> list[str]:
        """The attributes of ``table`` indexed so far (for inspection)."""
        with self._lock:
            return sorted(self._tables.get(table, {}))

    def _attribute(self, table: Any, name: str) -> _AttributeIndex:
        indexes = self._tables.setdefault(table, {})
        index = indexes.get(name)
        if index is None:
            index = _AttributeIndex(name)
            for item in table_items(table):
                index.add(item)
            indexes[name] = index
        return index
