"""DynamoDB requests isolated from each other as DynamoDB isolates them: a write alone, reads together.

moto checks a ``ConditionExpression`` and then writes without a lock, so two threads can both pass the
check (two holders of one lease, two writers of one generation), and a read answered while a write changes
an item in place could show half of it. Every write request runs alone (its check and write atomic, as
DynamoDB makes each conditional write and transaction); read requests (:data:`READS`) run beside each other
but never beside a write, their answers serialized before a write may change the items they hold (moto answers
a ``Query`` with the live item attributes).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from typing import Any

from moto.dynamodb.responses import DynamoHandler

from pcf_local_cloud.patchset import PatchSet

READS = frozenset({
    "BatchGetItem", "DescribeContinuousBackups", "DescribeTable", "DescribeTimeToLive", "GetItem",
    "ListTables", "ListTagsOfResource", "Query", "Scan", "TransactGetItems",
})
"""Operations that change nothing (DynamoDB API Reference); every other operation is a write here."""


class SharedLock:
    """Many holders of the shared side at once, or one of the exclusive side; a waiting exclusive holder
    keeps new shared holders out, so writes are not starved by a stream of reads. A release wakes only whom it
    lets in: one writer, or every waiting reader."""

    def __init__(self) -> None:
        mutex = threading.Lock()
        self._readers_may = threading.Condition(mutex)
        self._writer_may = threading.Condition(mutex)
        self._sharing = 0
        self._exclusive = False
        self._waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._readers_may:
            while self._exclusive or self._waiting:
                self._readers_may.wait()
            self._sharing += 1
        try:
            yield
        finally:
            with self._readers_may:
                self._sharing -= 1
                if not self._sharing and self._waiting:
                    self._writer_may.notify()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._writer_may:
            self._waiting += 1
            while self._exclusive or self._sharing:
                self._writer_may.wait()
            self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._writer_may:
                self._exclusive = False
                if self._waiting:
                    self._writer_may.notify()
                else:
                    self._readers_may.notify_all()


class AtomicDynamoDB:
    """Patch that runs moto's DynamoDB requests under one :class:`SharedLock`: reads shared, writes exclusive."""

    def __init__(self) -> None:
        self.lock = SharedLock()

    def install(self, patches: PatchSet) -> None:
        original = DynamoHandler.call_action
        lock = self.lock

        @functools.wraps(original)
        def call_action(handler: DynamoHandler) -> Any:
            side = lock.shared if handler.get_endpoint_name(handler.headers) in READS else lock.exclusive
            with side():
                return original(handler)

        patches.replace(DynamoHandler, "call_action", call_action)
