"""Reading a Step Functions execution's history a little at a time: only the events not read before.

``GetExecutionHistory`` cannot be resumed once the end of a history is reached (the last page has no
``nextToken``), so each read asks for the newest events first (``reverseOrder``) and pages back only until
it meets an event it has already seen. A poll of a quiet execution costs one call returning one page.
Servers that ignore ``reverseOrder``/``maxResults`` (moto returns the whole history, oldest first) are
handled too: events are kept by id, whatever order and page they arrive in.
"""

from __future__ import annotations

from typing import Any

TERMINAL_EVENTS = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"})
PAGE_SIZE = 100


class HistoryCursor:
    """The read position in one execution's history."""

    def __init__(self, sfn: Any, execution_arn: str, *, page_size: int = PAGE_SIZE) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.sfn = sfn
        self.execution_arn = execution_arn
        self.page_size = page_size
        self.last_id = 0
        self.finished = False
        self.calls = 0

    def read_new(self) -> list[dict[str, Any]]:
        """The events added since the last read, oldest first (nothing once the execution has ended and
        everything has been read)."""
        if self.finished:
            return []
        fresh: dict[int, dict[str, Any]] = {}
        token: str | None = None
        while True:
            request: dict[str, Any] = {
                "executionArn": self.execution_arn,
                "reverseOrder": True,
                "maxResults": self.page_size,
            }
            if token:
                request["nextToken"] = token
            page = self.sfn.get_execution_history(**request)
            self.calls += 1
            events = page.get("events", [])
            unseen = [event for event in events if event["id"] > self.last_id]
            fresh.update((event["id"], event) for event in unseen)
            token = page.get("nextToken")
            if not token or len(unseen) < len(events):
                break
        new = [fresh[key] for key in sorted(fresh)]
        if new:
            self.last_id = new[-1]["id"]
            self.finished = any(event["type"] in TERMINAL_EVENTS for event in new)
        return new
