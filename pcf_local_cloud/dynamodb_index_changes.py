"""Global secondary indexes that ``UpdateTable`` creates or deletes, as DynamoDB manages them: moto takes any
number of index changes in one call and makes a new index ``ACTIVE`` and readable at once.

What DynamoDB documents (UpdateTable API reference, ``GlobalSecondaryIndexUpdates``: "You can create or delete
only one global secondary index per UpdateTable operation"; developer guide, "Managing global secondary indexes"
(GSI.OnlineOps.html); API reference, ``GlobalSecondaryIndexDescription.Backfilling``), and what this module does:

- more than one ``Create``/``Delete`` in one ``UpdateTable``, or one while another index of the table is still
  being created: ``LimitExceededException`` "Subscriber limit exceeded: Only 1 online index can be created or
  deleted simultaneously per table" (DynamoDB's message). ``Update`` entries (throughput) are not counted; the
  index being created may itself be deleted while it backfills ("You can delete an index that is being created
  during the Backfilling phase").
- a new index is ``CREATING`` with ``Backfilling: true`` for ``index_backfill_seconds`` on the cloud's clock, then
  ``ACTIVE`` with ``Backfilling: false``. AWS first allocates resources (``CREATING``, ``Backfilling: false``,
  the table ``UPDATING``) and then backfills, which together take minutes at least; the two phases are one
  window here, with the table ``ACTIVE`` throughout. An index made by ``CreateTable`` is ``ACTIVE`` at once and
  shows no ``Backfilling``, as moto has it.
- a ``Query`` or ``Scan`` of an index still ``CREATING``: ``ValidationException`` "Cannot read from backfilling
  global secondary index" (as DynamoDB answers it); of an index the table does not have (not created yet, or
  deleted): ``ValidationException`` "The table does not have the specified index: <name>", DynamoDB's answer,
  where moto says ``ResourceNotFoundException`` (which callers rightly take for a missing table).
Items written during the backfill are in the new index when it is readable (moto reads an index from the table's
items), so only the status and the refusal are emulated.

The build deadlines are kept on moto's ``Table`` object (gone with the table); ``update_table`` runs alone under
:mod:`pcf_local_cloud.dynamodb_atomic` (a write), reads beside each other (the end of a backfill under a lock of
its own). Patched: ``DynamoHandler.update_table``,
``describe_table``, ``query`` and ``scan`` (the API boundary, so a moto server gets them too).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any

from moto.core.responses import ActionResult
from moto.dynamodb.exceptions import ResourceNotFoundException
from moto.dynamodb.responses import DynamoHandler

from pcf_local_cloud.dynamodb_errors import backfilling_index, missing_index, online_index_limit
from pcf_local_cloud.patchset import PatchSet
from pcf_local_cloud.state import EmulationState

BUILDS_ATTR = "_pcf_index_builds"
CREATING = "CREATING"
ACTIVE = "ACTIVE"

Handler = Callable[[DynamoHandler], ActionResult]


def builds_of(table: Any) -> dict[str, float]:
    """Index name -> the clock time its backfill ends, for each index ``UpdateTable`` created on ``table`` (a moto
    ``Table``); made on first use."""
    builds = table.__dict__.get(BUILDS_ATTR)
    if builds is None:
        builds = table.__dict__.setdefault(BUILDS_ATTR, {})
    return builds


class IndexChanges:
    """Installs the index-change patches; durations and the clock come from ``state``."""

    def __init__(self, state: EmulationState) -> None:
        self._state = state
        self._lock = threading.Lock()  # reads (Query, DescribeTable) run beside each other and end backfills

    def install(self, patches: PatchSet) -> None:
        """Wrap the four handlers; undone by ``patches.restore()``."""
        wrappers: dict[str, Callable[[Handler], Handler]] = {
            "update_table": self._update_table, "describe_table": self._describe_table,
            "query": self._read_index, "scan": self._read_index}
        for name, wrap in wrappers.items():
            patches.replace(DynamoHandler, name, wrap(vars(DynamoHandler)[name]))

    # -- state --------------------------------------------------------------------------------------
    def backfilling(self, table: Any) -> set[str]:
        """The indexes of ``table`` still being created; those whose backfill ended are made ``ACTIVE``."""
        now = self._state.clock.now()
        with self._lock:
            builds = builds_of(table)
            present = {index.name: index for index in table.global_indexes}
            for name in [name for name in builds if name not in present]:
                del builds[name]
            creating = set()
            for name, ready_at in builds.items():
                index = present[name]
                if now < ready_at:
                    creating.add(name)
                    index.status = CREATING
                elif index.status == CREATING:
                    index.status = ACTIVE
            return creating

    def _describe(self, description: Mapping[str, Any], table: Any) -> None:
        creating = self.backfilling(table)
        builds = builds_of(table)
        for index in description.get("GlobalSecondaryIndexes", []):
            name = index.get("IndexName")
            if name in builds:
                index["IndexStatus"] = CREATING if name in creating else ACTIVE
                index["Backfilling"] = name in creating

    # -- handlers -----------------------------------------------------------------------------------
    def _update_table(self, original: Handler) -> Handler:
        @functools.wraps(original)
        def update_table(handler: DynamoHandler) -> ActionResult:
            table = handler.dynamodb_backend.get_table(handler.body["TableName"])
            changes = [update for update in handler.body.get("GlobalSecondaryIndexUpdates") or []
                       if "Create" in update or "Delete" in update]
            creating = self.backfilling(table)
            if len(changes) > 1 or (changes and creating - {changes[0].get("Delete", {}).get("IndexName")}):
                raise online_index_limit()
            result = original(handler)
            for change in changes:
                if "Create" in change:
                    builds_of(table)[change["Create"]["IndexName"]] = (
                        self._state.clock.now() + self._state.index_backfill_seconds)
            self._describe(_body(result)["TableDescription"], table)
            return result

        return update_table

    def _describe_table(self, original: Handler) -> Handler:
        @functools.wraps(original)
        def describe_table(handler: DynamoHandler) -> ActionResult:
            result = original(handler)
            table = handler.dynamodb_backend.get_table(handler.body["TableName"])
            self._describe(_body(result)["Table"], table)
            return result

        return describe_table

    def _read_index(self, original: Handler) -> Handler:
        @functools.wraps(original)
        def read(handler: DynamoHandler) -> ActionResult:
            index_name = handler.body.get("IndexName")
            if index_name:
                try:
                    table = handler.dynamodb_backend.get_table(handler.body["TableName"])
                except ResourceNotFoundException:
                    return original(handler)
                if index_name not in {index.name for index in table.all_indexes()}:
                    raise missing_index(index_name)
                if index_name in self.backfilling(table):
                    raise backfilling_index()
            return original(handler)

        return read


def _body(result: ActionResult) -> dict[str, Any]:
    body = result.result
    if not isinstance(body, dict):
        raise TypeError(f"unexpected DynamoDB answer {type(body).__name__}")
    return body
