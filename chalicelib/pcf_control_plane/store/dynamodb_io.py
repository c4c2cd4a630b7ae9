"""Talking to DynamoDB through a boto3 client: error mapping, paging, and batch reads with retries.

Expected races (a failed condition; a transaction cancelled by one or by a conflict) become ``ConditionFailed``,
which the store turns into ``False``/``None`` or a retry; every other error becomes ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pcf_control_plane.store.errors import IdempotencyMismatchError, IndexNotReadyError, StoreError

BATCH_GET_MAX_KEYS = 100
BATCH_WRITE_MAX_ITEMS = 25
"""BatchWriteItem takes at most 25 put or delete requests (BatchWriteItem API reference)."""
_INDEX_NOT_READY = ("backfilling global secondary index", "does not have the specified index")
_RACE_REASONS = {"ConditionalCheckFailed", "TransactionConflict"}


class ConditionFailed(Exception):
    """A conditional write (or a transaction) was refused because its condition did not hold. ``reasons``:
    a cancelled transaction's ``CancellationReasons``, one per item, in order (empty otherwise)."""

    def __init__(self, code: str, reasons: list[dict[str, Any]] | None = None) -> None:
        super().__init__(code)
        self.reasons = reasons or []


class DynamoIO:
    """Calls on one table, with botocore errors mapped to the store's own."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        sleep: Callable[[float], None],
        max_attempts: int = 8,
        backoff_seconds: float = 0.05,
        max_backoff_seconds: float = 2.0,
    ) -> None:
        self.client = client
        self.table_name = table_name
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds

    def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """``client.<operation>(**kwargs)``; ``ConditionFailed`` for a lost race, ``StoreError`` otherwise."""
        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise ConditionFailed(code) from error
            if code == "TransactionCanceledException" and _lost_race(error.response):
                raise ConditionFailed(code, error.response.get("CancellationReasons")) from error
            message = error.response.get("Error", {}).get("Message", "")
            if code == "IdempotentParameterMismatchException":
                raise IdempotencyMismatchError(f"DynamoDB {operation}: {message}") from error
            if code == "ValidationException" and any(text in message for text in _INDEX_NOT_READY):
                raise IndexNotReadyError(f"DynamoDB {operation} on {self.table_name}: {message}") from error
            raise StoreError(f"DynamoDB {operation} on {self.table_name} failed: {code}: {message}") from error
        except BotoCoreError as error:
            raise StoreError(f"DynamoDB {operation} on {self.table_name} failed: {error}") from error

    def query_items(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item a Query returns, page after page (each page up to ``Limit`` items or 1 MB)."""
        request = {"TableName": self.table_name, **kwargs}
        while True:
            page = self.call("query", **request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def batch_get(
        self, keys: list[dict[str, Any]], consistent: bool = True, projection: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """The items with ``keys`` (missing ones left out), 100 keys a call, unprocessed keys retried.

        ``projection`` names the attributes to read (all when empty).
        """
        items: list[dict[str, Any]] = []
        shape: dict[str, Any] = {"ConsistentRead": consistent}
        if projection:
            names = {f"#p{i}": name for i, name in enumerate(projection)}
            shape.update(ProjectionExpression=", ".join(names), ExpressionAttributeNames=names)
        for start in range(0, len(keys), BATCH_GET_MAX_KEYS):
            request = {self.table_name: {"Keys": keys[start:start + BATCH_GET_MAX_KEYS], **shape}}
            for attempt in range(self._max_attempts):
                answer = self.call("batch_get_item", RequestItems=request)
                items.extend(answer.get("Responses", {}).get(self.table_name, []))
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(min(self._max_backoff, self._backoff * 2**attempt))
            else:
                raise StoreError(f"BatchGetItem on {self.table_name} left keys unprocessed {self._max_attempts} times")
        return items

    def batch_write(self, items: list[dict[str, Any]]) -> int:
        """Put ``items`` (low-level), 25 a call, unprocessed items sent again with backoff; the calls made."""
        calls = 0
        for start in range(0, len(items), BATCH_WRITE_MAX_ITEMS):
            request = {self.table_name: [{"PutRequest": {"Item": item}}
                                         for item in items[start:start + BATCH_WRITE_MAX_ITEMS]]}
            for attempt in range(self._max_attempts):
                answer = self.call("batch_write_item", RequestItems=request)
                calls += 1
                request = answer.get("UnprocessedItems") or {}
                if not request:
                    break
                self._sleep(min(self._max_backoff, self._backoff * 2**attempt))
            else:
                raise StoreError(f"BatchWriteItem on {self.table_name} left items unprocessed {self._max_attempts} "
                                 "times")
        return calls


def _lost_race(response: dict[str, Any]) -> bool:
    reasons = {reason.get("Code") for reason in response.get("CancellationReasons", [])}
    return not reasons or bool(reasons & _RACE_REASONS)
