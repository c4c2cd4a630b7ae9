"""``TransactWriteItems`` without a copy of every table it names: an undo journal of the items it touches.

DynamoDB completes a transaction's actions "atomically so that either all of them succeed or none of them
succeeds" (developer guide, "Amazon DynamoDB Transactions: How it works",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html; API reference,
TransactWriteItems). moto 5.2.5 gets there by deep-copying the table of every action before it writes (once per
action: a table four actions name is copied four times), and putting the copies back when it cancels. Measured
(``benchmarks/local_cloud_scale.py``, process CPU per transaction of an update, two puts and a condition check):
6 ms on an empty table, 0.86 s at 8,000 items, 7.4 s at 80,000, alone under
:mod:`pcf_local_cloud.dynamodb_atomic`'s lock; with the journal about 3 ms at every size.

Here moto's own method runs unchanged - its condition checks, ``CancellationReasons`` (with
``ReturnValuesOnConditionCheckFailure``), the 100-action limit, the refusal of two actions on one item, every
validation - and only the copies are gone. Before moto reads an action's item, the journal keeps a copy of the
item (or notes its absence), whether the table held its partition, and how long the table's stream was; when
moto's method raises, each item is put back (or removed), partitions the transaction added are dropped, the
stream records it added are withdrawn, and the Query indexes (:mod:`pcf_local_cloud.dynamodb_indexes`) re-read
each key. The ``ClientRequestToken`` emulation (:mod:`pcf_local_cloud.dynamodb_idempotency`) wraps the request
handler, outside all of this.

What differs from moto shows in no answer of the API: moto puts back a new ``Table`` object whose items are all
copies, here the table and its untouched items stay the same objects; an item put back after a ``Delete`` is
last in its dict (every moto reader sorts: ``all_items``, ``sorted_items``). Stricter than moto, as AWS
documents: moto puts tables back only for a cancellation and its two validation refusals, so an exception it
does not expect leaves the earlier actions written, and it copies only the tables named by name (not by ARN);
here any exception undoes every action, whichever way its table was named.

``moto_copies()`` makes the calling thread's transactions copy whole tables as moto does, for comparisons and
benchmarks.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from pcf_local_cloud.moto_private import (
    ItemBefore,
    ItemWritten,
    StreamMark,
    TransactionJournal,
    drop_partition_if_empty,
    dynamodb_transactions_journaled,
    item_before,
    partition_present,
    put_back,
    rewind_stream,
    stream_mark,
)
from pcf_local_cloud.patchset import PatchSet
from pcf_local_cloud.thread_flag import ThreadFlag


class UndoJournal(TransactionJournal):
    """The journal of one transaction: every key it touched as it first saw it, put back on cancellation."""

    def __init__(self, written: ItemWritten) -> None:
        self._written = written
        self._tables: dict[int, tuple[Any, StreamMark | None]] = {}
        self._partitions: dict[tuple[int, Any], bool] = {}
        self._items: dict[tuple[int, Any, Any], ItemBefore] = {}

    def before(self, table: Any, hash_key: Any, range_key: Any) -> None:
        """Remember the key's item, partition and the table's stream the first time the transaction reads it."""
        table_id = id(table)
        if table_id not in self._tables:
            self._tables[table_id] = (table, stream_mark(table))
        self._partitions.setdefault((table_id, hash_key), partition_present(table, hash_key))
        key = (table_id, hash_key, range_key)
        if key not in self._items:
            self._items[key] = item_before(table, hash_key, range_key)

    def cancelled(self) -> None:
        """Put every touched item back as it was, newest first, and tell the indexes."""
        for before in reversed(self._items.values()):
            put_back(before)
            self._written(before.table, before.hash_key, before.range_key)
        for (table_id, hash_key), present in self._partitions.items():
            if not present:
                drop_partition_if_empty(self._tables[table_id][0], hash_key)
        for _, mark in self._tables.values():
            if mark is not None:
                rewind_stream(mark)


class TransactionUndo:
    """The patch: every ``TransactWriteItems`` of every moto DynamoDB backend keeps an :class:`UndoJournal`;
    ``written(table, hash_key, range_key)`` is told of each item put back."""

    def __init__(self, written: ItemWritten) -> None:
        self._written = written
        self._copying = ThreadFlag()

    def install(self, patches: PatchSet) -> None:
        """Replace moto's table copies with journals; undone by ``patches.restore()``."""
        dynamodb_transactions_journaled(patches, self.journal)

    def journal(self) -> UndoJournal | None:
        """A new transaction's journal (``None`` inside :meth:`moto_copies`)."""
        if self._copying.is_set():
            return None
        return UndoJournal(self._written)

    def moto_copies(self) -> AbstractContextManager[None]:
        """Within the block, this thread's transactions copy and put back whole tables, as moto does."""
        return self._copying.raised()
