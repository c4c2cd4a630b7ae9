"""DynamoDB writes one request at a time, as DynamoDB makes each conditional write atomic.

moto checks a ``ConditionExpression`` and then writes without a lock, so two threads can both pass the
check (two holders of one lease, two writers of one generation). Serializing moto's DynamoDB request
handler restores the service's guarantee at the API boundary.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler

from pcf_local_cloud.patchset import PatchSet


class AtomicDynamoDB:
    """Patch that runs every moto DynamoDB action under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def install(self, patches: PatchSet) -> None:
        original = DynamoHandler.call_action
        lock = self._lock

        @functools.wraps(original)
        def call_action(handler: DynamoHandler) -> Any:
            with lock:
                return original(handler)

        patches.replace(DynamoHandler, "call_action", call_action)
