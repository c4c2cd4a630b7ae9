"""Run partitions on DynamoDB, for ``DynamoDBStateStore`` (calls per operation in ``docs/state-store.md``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pcf_control_plane.store import items, run_items
from pcf_control_plane.store.dynamodb_io import ConditionFailed, DynamoIO
from pcf_control_plane.store.keys import (
    META_SK,
    PAGE_PREFIX,
    created_sk,
    failure_prefix,
    failure_sk,
    page_sk,
    run_pk,
)
from pcf_control_plane.store.models import HistoryItem
from pcf_control_plane.store.runs import (
    LevelFailures,
    PageListing,
    RunFailure,
    RunMeta,
    RunPage,
    check_pages,
    decode_specs,
    encode_specs,
    failure_history,
)
from pcf_control_plane.store.serialization import serialize, serialize_item
from pcf_control_plane.store.table import PK, SK


class DynamoRuns:
    """Reads and writes of run partitions through one ``DynamoIO``."""

    def __init__(self, io: DynamoIO, clock: Callable[[], float], history_ttl_seconds: float | None) -> None:
        self._io = io
        self._table = io.table_name
        self._clock = clock
        self._history_ttl = history_ttl_seconds

    def put(self, meta: RunMeta, pages: Sequence[RunPage]) -> None:
        """``META`` and the pages: BatchWriteItem, 25 items a call (pages checked and encoded first)."""
        blobs = check_pages(meta, pages)
        now = self._clock()
        written = [run_items.meta_item(meta, now)]
        written += [run_items.page_item(meta.execution, page, blob, now) for page, blob in zip(pages, blobs,
                                                                                            strict=True)]
        self._io.batch_write(written)

    def put_page(self, execution: str, page: RunPage) -> None:
        """One PutItem of the page (its specs encoded first)."""
        blob = encode_specs(page)
        self._io.call("put_item", TableName=self._table, Item=run_items.page_item(execution, page, blob, self._clock()))

    def meta(self, execution: str) -> RunMeta | None:
        item = self._get(execution, META_SK)
        return run_items.meta_from(item) if item else None

    def set_rolling_back(self, execution: str, rolling_back: bool) -> bool:
        return self._update_existing(execution, META_SK, "rolling_back", rolling_back)

    def page(self, execution: str, phase: str, level: int, page: int) -> RunPage | None:
        item = self._get(execution, page_sk(phase, level, page))
        if not item:
            return None
        found, defs = run_items.page_from(item)
        return found.model_copy(update={"specs": decode_specs(defs) if defs else ()})

    def set_generations(self, execution: str, phase: str, level: int, page: int, gens: Mapping[str, int]) -> bool:
        return self._update_existing(execution, page_sk(phase, level, page), "gens", dict(gens))

    def list(self, execution: str, cursor: str | None, limit: int) -> PageListing:
        """One Query of the run's pages (specs not read); the cursor is the last page's sort key."""
        names = {f"#p{n}": name for n, name in enumerate(run_items.PAGE_LISTED)}
        request: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :pg)",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK, **names},
            "ExpressionAttributeValues": serialize_item({":pk": run_pk(execution), ":pg": PAGE_PREFIX}),
            "ProjectionExpression": ", ".join(names), "Limit": limit, "ConsistentRead": True,
        }
        if cursor is not None:
            request["ExclusiveStartKey"] = run_items.run_key(execution, cursor)
        answer = self._io.call("query", **request)
        pages = tuple(run_items.page_from(item)[0] for item in answer.get("Items", []))
        last = answer.get("LastEvaluatedKey")
        return PageListing(pages=pages, cursor=last[SK]["S"] if last else None)

    def record_failure(self, execution: str, failure: RunFailure, cause: str | None = None) -> HistoryItem:
        """The ``F#`` item and the ``error`` history item (caused by ``cause``, else ``execution``) in one
        TransactWriteItems."""
        history = failure_history(execution, failure, self._history_ttl, cause)
        self._io.call("transact_write_items", TransactItems=[
            {"Put": {"TableName": self._table, "Item": run_items.failure_item(execution, failure)}},
            {"Put": {"TableName": self._table, "Item": items.history_item(history)}},
        ])
        return history

    def failures(self, execution: str, phase: str, level: int, first: int) -> LevelFailures:
        """Two Queries: the first ``first`` failures, then their count (``Select COUNT``, paged)."""
        shape = {
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :f)",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": serialize_item({":pk": run_pk(execution), ":f": failure_prefix(phase, level)}),
        }
        answer = self._io.call("query", TableName=self._table, Limit=first, ConsistentRead=True, **shape)
        found = tuple(run_items.failure_from(item) for item in answer.get("Items", []))
        if "LastEvaluatedKey" not in answer:
            return LevelFailures(first=found, count=len(found))
        count, request = 0, {"TableName": self._table, "Select": "COUNT", **shape}
        while True:
            page = self._io.call("query", **request)
            count += page.get("Count", 0)
            if "LastEvaluatedKey" not in page:
                return LevelFailures(first=found, count=count)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def failed(self, execution: str, phase: str, level: int, pcf_ids: Iterable[str]) -> set[str]:
        """A consistent BatchGetItem of the level's ``F#`` items of ``pcf_ids`` (100 keys a call)."""
        keys = [run_items.run_key(execution, failure_sk(phase, level, pcf_id)) for pcf_id in dict.fromkeys(pcf_ids)]
        return {item["particle"]["S"] for item in self._io.batch_get(keys, projection=("particle",))}

    def created(self, execution: str, pcf_ids: Iterable[str]) -> set[str]:
        """A consistent BatchGetItem of the ``C#`` marks (100 keys a call)."""
        keys = [run_items.run_key(execution, created_sk(pcf_id)) for pcf_id in dict.fromkeys(pcf_ids)]
        return {item["particle"]["S"] for item in self._io.batch_get(keys, projection=("particle",))}

    def _get(self, execution: str, sort_key: str) -> dict[str, Any] | None:
        return self._io.call("get_item", TableName=self._table, Key=run_items.run_key(execution, sort_key),
                             ConsistentRead=True).get("Item")

    def _update_existing(self, execution: str, sort_key: str, name: str, value: Any) -> bool:
        try:
            self._io.call("update_item", TableName=self._table, Key=run_items.run_key(execution, sort_key),
                          UpdateExpression="SET #a = :v", ConditionExpression="attribute_exists(#pk)",
                          ExpressionAttributeNames={"#a": name, "#pk": PK},
                          ExpressionAttributeValues={":v": serialize(value)})
        except ConditionFailed:
            return False
        return True
