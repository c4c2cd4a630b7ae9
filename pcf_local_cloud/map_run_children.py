"""The child workflow executions of the local cloud's distributed map runs, as Step Functions shows them.

On AWS each item of a ``Map`` in ``DISTRIBUTED`` mode runs as a child workflow execution "with its own, separate
execution history from that of the parent workflow" (Developer Guide, state-map-distributed.html). moto keeps none
of them; this registry holds one :class:`ChildExecution` per item, and answers for it the way ``DescribeExecution``,
``GetExecutionHistory``, ``ListExecutions(mapRunArn=...)`` and ``StopExecution`` do (API Reference:
API_DescribeExecution, API_ExecutionListItem: ``mapRunArn`` and ``itemCount`` only when listed by map run).

A child's ARN is its map run's labelled state machine ARN (``stateMachine:<machine>/<label or UUID>``, the form
child executions report metrics under, concepts-examine-map-run.html) under ``execution:``, then ``:<id>``; the
resource ``execution:<machine>/*`` that iam-policies-eg-dist-map.html grants for map runs covers it.
"""

from __future__ import annotations

import datetime
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

EXECUTION_ENDED = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")


def child_arn_prefix(labelled_machine_arn: str) -> str:
    """``arn:...:execution:<machine>/<label>`` for the labelled state machine ARN of a map run."""
    return labelled_machine_arn.replace(":stateMachine:", ":execution:", 1)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


@dataclass
class ChildExecution:
    """One child workflow execution of a map run: what ``DescribeExecution`` reports, its own history (an
    interpreter ``EventManager``) and the frame it runs in (``env``, to stop it)."""

    arn: str
    name: str
    map_run_arn: str
    state_machine_arn: str
    input: Any
    history: Any
    env: Any
    start_date: datetime.datetime = field(default_factory=_now)
    status: str = "RUNNING"
    stop_date: datetime.datetime | None = None
    output: Any = None
    error: str | None = None
    cause: str | None = None

    def end(self, status: str, *, output: Any = None, error: str | None = None, cause: str | None = None) -> None:
        """Record the outcome; the status is written last, as Step Functions publishes it."""
        self.output, self.error, self.cause = output, error, cause
        self.stop_date = _now()
        self.status = status

    def description(self) -> dict[str, Any]:
        """The ``DescribeExecution`` answer."""
        described: dict[str, Any] = {
            "executionArn": self.arn, "stateMachineArn": self.state_machine_arn, "name": self.name,
            "status": self.status, "startDate": self.start_date, "input": _json(self.input),
            "inputDetails": {"included": True}, "mapRunArn": self.map_run_arn,
        }
        if self.stop_date is not None:
            described["stopDate"] = self.stop_date
        if self.status == "SUCCEEDED":
            described["output"] = _json(self.output)
            described["outputDetails"] = {"included": True}
        if self.error is not None:
            described["error"] = self.error
        if self.cause is not None:
            described["cause"] = self.cause
        return described

    def list_item(self) -> dict[str, Any]:
        """The ``ExecutionListItem`` of ``ListExecutions(mapRunArn=...)`` (one item per child: no ItemBatcher)."""
        item: dict[str, Any] = {
            "executionArn": self.arn, "stateMachineArn": self.state_machine_arn, "name": self.name,
            "status": self.status, "startDate": self.start_date, "mapRunArn": self.map_run_arn, "itemCount": 1,
        }
        if self.stop_date is not None:
            item["stopDate"] = self.stop_date
        return item

    def events(self) -> list[Any]:
        """The child's own history, oldest first."""
        return list(self.history.get_event_history())

    def stop(self, error: str | None, cause: str | None) -> datetime.datetime:
        """Stop the child (its states see the stop as a stopped execution does); the stop date."""
        stopped = _now()
        if self.status == "RUNNING":
            self.env.set_stop(stop_date=stopped, cause=cause, error=error)
        return self.stop_date or stopped


class MapRunChildren:
    """Every map run and child execution of the installed local cloud, by ARN (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: dict[str, ChildExecution] = {}
        self._by_run: dict[str, list[ChildExecution]] = {}

    def open_run(self, map_run_arn: str) -> None:
        """A map run has started (it lists no child yet)."""
        with self._lock:
            self._by_run.setdefault(map_run_arn, [])

    def start(self, *, map_run_arn: str, labelled_machine_arn: str, child_input: Any, history: Any,
              env: Any) -> ChildExecution:
        """Register a new running child of ``map_run_arn``."""
        name = str(uuid.uuid4())
        child = ChildExecution(arn=f"{child_arn_prefix(labelled_machine_arn)}:{name}", name=name,
                               map_run_arn=map_run_arn, state_machine_arn=labelled_machine_arn,
                               input=child_input, history=history, env=env)
        with self._lock:
            self._children[child.arn] = child
            self._by_run.setdefault(map_run_arn, []).append(child)
        return child

    def get(self, arn: str | None) -> ChildExecution | None:
        """The child execution ``arn`` names, if it is one."""
        with self._lock:
            return self._children.get(arn) if arn else None

    def of_run(self, map_run_arn: str) -> list[ChildExecution] | None:
        """The children of a map run, newest first as ``ListExecutions`` orders them (``None``: no such run)."""
        with self._lock:
            children = self._by_run.get(map_run_arn)
            return None if children is None else sorted(children, key=lambda c: c.start_date, reverse=True)
