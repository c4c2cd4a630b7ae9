"""Following an ``apply`` execution and the ``page`` executions it starts (each running up to 40 particles'
visits), as they run, then how it ended: ``docs/cli.md``, "Following an execution"."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TERMINAL_EVENTS = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"})
ENTERED_SUFFIX = "StateEntered"
TARGETS = {"start": "running", "stop": "stopped", "terminate": "terminated"}
"""The state each transition heads for (``update`` keeps the state and changes the definition)."""
UPDATE_REASON = "definition differs from the desired one"
ROLLBACK_REASON = "terminating what this execution created"
_PAGE_ID = re.compile(r"^page:(?P<phase>[a-z]+)-(?P<level>\d+)-(?P<page>\d+)$")
"""How ``PageFailed`` names a page that failed as a whole (``page:<phase>-<level>-<page>``, from 0)."""


@dataclass(frozen=True)
class FollowEvent:
    """One thing worth telling about a particle (``kind``: as ``pcf.core.runtime.EventKind``; a ``level`` has no
    ``pcf_id``, its ``detail`` says which level and how many particles); ``at`` in epoch seconds."""

    kind: str
    pcf_id: str
    at: float
    state: str | None = None
    action: str | None = None
    detail: str = ""
    resource_id: str | None = None


@dataclass(frozen=True)
class ExecutionOutcome:
    """How an execution ended: ``status``, the parsed ``output`` (SUCCEEDED), or the ``error`` and its ``message``."""

    status: str
    output: Any = None
    error: str | None = None
    message: str = ""
    started_at: float = 0.0
    stopped_at: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    @property
    def elapsed(self) -> float:
        return max(0.0, self.stopped_at - self.started_at)

    @property
    def failure(self) -> str:
        """``Error: message`` of an execution that did not succeed; ``""`` for one that did."""
        if self.succeeded:
            return ""
        return f"{self.error}: {self.message}" if self.message else str(self.error)


class HistoryCursor:
    """The read position in one execution's history: each read asks for the newest events first and pages back
    only until it meets one already seen (``GetExecutionHistory`` cannot resume past the end). Servers that ignore
    ``reverseOrder``/``maxResults`` (moto) are handled too: events are kept by id, whatever page they come in."""

    def __init__(self, sfn: Any, execution_arn: str, *, page_size: int = 100) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.sfn, self.execution_arn, self.page_size = sfn, execution_arn, page_size
        self.last_id = self.calls = 0
        self.finished = False

    def read_new(self) -> list[dict[str, Any]]:
        """The events added since the last read, oldest first (nothing once the execution has ended and
        everything has been read)."""
        if self.finished:
            return []
        fresh: dict[int, dict[str, Any]] = {}
        request: dict[str, Any] = {"executionArn": self.execution_arn, "reverseOrder": True,
                                   "maxResults": self.page_size}
        while True:
            page = self.sfn.get_execution_history(**request)
            self.calls += 1
            events = page.get("events", [])
            unseen = [event for event in events if event["id"] > self.last_id]
            fresh.update((event["id"], event) for event in unseen)
            request["nextToken"] = page.get("nextToken")
            if not request["nextToken"] or len(unseen) < len(events):
                break
        new = [fresh[key] for key in sorted(fresh)]
        if new:
            self.last_id = new[-1]["id"]
            self.finished = any(event["type"] in TERMINAL_EVENTS for event in new)
        return new


@dataclass
class _Execution:
    """What is known of one execution being read: its cursor, whether it is a page of a rollback, and the task
    state of each event id."""

    cursor: HistoryCursor
    rollback: bool = False
    last_read: int = -1
    states: dict[int, str] = field(default_factory=dict)

    def state_of(self, event: dict[str, Any]) -> str:
        """The name of the state ``event`` belongs to (remembered for the events that follow it)."""
        details = event.get("stateEnteredEventDetails")
        if event["type"].endswith(ENTERED_SUFFIX) and details:
            name = str(details.get("name", ""))
        else:
            name = self.states.get(event.get("previousEventId", 0), "")
        self.states[event["id"]] = name
        return name


class ExecutionFollower:
    """Reads an ``apply`` execution and its page executions incrementally; ``events()`` yields progress
    until the execution ends, then ``outcome`` tells how it ended (pacing: ``docs/cli.md``, "Following an
    execution"). ``max_child_reads`` bounds the child histories read per poll (``None``: all); the parent's is read
    when no child runs, after one ended, and every ``parent_every`` polls."""

    def __init__(self, sfn: Any, execution_arn: str, *, sleep: Callable[[float], None],
                 clock: Callable[[], float] = time.monotonic, poll_seconds: float = 1.0, idle_factor: float = 2.0,
                 max_child_reads: int | None = None, parent_every: int = 5, page_size: int = 100) -> None:
        if max_child_reads is not None and max_child_reads < 1:
            raise ValueError("max_child_reads must be at least 1")
        if parent_every < 1:
            raise ValueError("parent_every must be at least 1")
        self.sfn, self.execution_arn, self.sleep, self.clock = sfn, execution_arn, sleep, clock
        self.poll_seconds, self.idle_factor, self.page_size = poll_seconds, idle_factor, page_size
        self.max_child_reads, self.parent_every = max_child_reads, parent_every
        self.parent = _Execution(HistoryCursor(sfn, execution_arn, page_size=page_size))
        self.children: dict[str, _Execution] = {}
        self.planned_particles = 0
        self._rolling_back = False
        self.started_at: float | None = None
        self.outcome: ExecutionOutcome | None = None
        self._states: dict[str, str] = {}
        self._polls = self._parent_read = 0
        self._child_ended = False

    @property
    def calls(self) -> int:
        """``GetExecutionHistory`` calls made so far."""
        return self.parent.cursor.calls + sum(child.cursor.calls for child in self.children.values())

    def events(self) -> Iterator[FollowEvent]:
        """Progress events in time order, poll after poll, until the execution has ended."""
        while True:
            began = self.clock()
            yield from self.poll()
            if self.parent.cursor.finished:
                yield from self._sorted(self._read_children(everything=True))
                self.outcome = self._outcome()
                return
            self.sleep(max(self.poll_seconds, self.idle_factor * (self.clock() - began)))

    def poll(self) -> list[FollowEvent]:
        """One round: the parent's new events (when due), then those of (up to ``max_child_reads``) running
        children."""
        self._polls += 1
        found: list[FollowEvent] = []
        if self._parent_due():
            self._parent_read, self._child_ended = self._polls, False
            found += [e for event in self.parent.cursor.read_new() for e in self._parent_event(event)]
        found += self._read_children(everything=False)
        return self._sorted(found)

    def discover_children(self) -> list[str]:
        """The ARNs of the page executions started so far, reading the parent's history for new ones
        (what else it tells is dropped: used when the run is being stopped)."""
        for event in self.parent.cursor.read_new():
            self._parent_event(event)
        return list(self.children)

    def _parent_due(self) -> bool:
        running = any(not child.cursor.finished for child in self.children.values())
        return not running or self._child_ended or self._polls - self._parent_read >= self.parent_every

    def _read_children(self, *, everything: bool) -> list[FollowEvent]:
        running = sorted((c for c in self.children.values() if not c.cursor.finished), key=lambda c: c.last_read)
        if not everything and self.max_child_reads is not None:
            running = running[: self.max_child_reads]
        found: list[FollowEvent] = []
        for child in running:
            child.last_read = self._polls
            for event in child.cursor.read_new():
                found += self._child_event(child, event)
            self._child_ended |= child.cursor.finished
        return found

    @staticmethod
    def _sorted(events: list[FollowEvent]) -> list[FollowEvent]:
        return sorted(events, key=lambda e: e.at)

    def _add_child(self, arn: str | None) -> None:
        """A page execution the parent started: a rollback's when the parent had begun rolling back (its events
        are read in order, so a page is tagged by where it was started, whenever its own history is read)."""
        if arn and arn not in self.children:
            self.children[arn] = _Execution(HistoryCursor(self.sfn, arn, page_size=self.page_size),
                                            rollback=self._rolling_back)

    def _parent_event(self, event: dict[str, Any]) -> list[FollowEvent]:
        state = self.parent.state_of(event)
        kind, at = event["type"], _epoch(event)
        if kind == "ExecutionStarted":
            self.started_at = at
            return []
        if kind == "TaskSubmitted":
            details = event.get("taskSubmittedEventDetails") or {}
            if details.get("resourceType") == "states":
                self._add_child(json_object(details.get("output")).get("ExecutionArn"))
            return []
        if kind == "MapStateEntered" and state == "Pages":
            level = json_object(json_object((event.get("stateEnteredEventDetails") or {}).get("input")).get("level"))
            return [FollowEvent("level", "", at, detail=self._level_label(level))] if level else []
        if kind == "PassStateExited" and state == "RollingBack":
            self._rolling_back = True
            return []
        if kind != "LambdaFunctionSucceeded":
            return []
        output = json_object((event.get("lambdaFunctionSucceededEventDetails") or {}).get("output"))
        if state == "Plan":
            self.planned_particles = int(output.get("particles") or 0)
        elif state == "PageFailed" and output.get("error"):
            return [self._failed(output, at)]
        return []

    def _level_label(self, level: dict[str, Any]) -> str:
        """``start level 2: 85 particles in 3 pages`` (``rollback `` first while rolling back)."""
        particles, pages = int(level.get("particles") or 0), len(level.get("pages") or [])
        prefix = "rollback " if self._rolling_back else ""
        return (f"{prefix}{level.get('phase')} level {int(level.get('level') or 0) + 1}: "
                f"{particles} particle{'' if particles == 1 else 's'} in {pages} page{'' if pages == 1 else 's'}")

    def _failed(self, output: dict[str, Any], at: float) -> FollowEvent:
        """A particle's failure (``RecordFailure``), or a whole page's (``PageFailed``: named by its level and page,
        counted from 1 as the level lines count)."""
        pcf_id = str(output.get("pcf_id"))
        page = _PAGE_ID.match(pcf_id)
        if page:
            pcf_id = f"{page['phase']} level {int(page['level']) + 1} page {int(page['page']) + 1}"
        detail = f"{output['error']}: {output.get('cause') or ''}".rstrip(": ")
        return FollowEvent("failed", pcf_id, at, self._states.get(pcf_id), detail=detail)

    def _child_event(self, child: _Execution, event: dict[str, Any]) -> list[FollowEvent]:
        state = child.state_of(event)
        if event["type"] != "LambdaFunctionSucceeded":
            return []
        output = json_object((event.get("lambdaFunctionSucceededEventDetails") or {}).get("output"))
        at = _epoch(event)
        if state == "RecordFailure" and output.get("error"):
            return [self._failed(output, at)]
        if state != "Converge" or not output.get("pcf_id"):
            return []
        return self._visited(str(output["pcf_id"]), output, at, rollback=child.rollback)

    def _visited(self, pcf_id: str, visit: dict[str, Any], at: float, *, rollback: bool) -> list[FollowEvent]:
        """What one ``converge`` visit tells: the state it found when that is news, the transition it carried out,
        the state it left the particle in, and ``done``. A visit that changed nothing tells nothing."""
        found: list[FollowEvent] = []
        acted, before = visit.get("acted"), visit.get("found")
        if acted and before:
            found += self._observed(pcf_id, str(before), at, None if before == "terminated" else
                                    visit.get("last_resource_id"))
        if acted:
            kind = "rollback" if rollback else "transition"
            detail = ROLLBACK_REASON if rollback else _reason(str(acted), self._states.get(pcf_id))
            found.append(FollowEvent(kind, pcf_id, at, self._states.get(pcf_id), str(acted), detail))
        if visit.get("state"):
            found += self._observed(pcf_id, str(visit["state"]), at, visit.get("resource_id"))
        if visit.get("action") == "done":
            found.append(FollowEvent("done", pcf_id, at, self._states.get(pcf_id), "done",
                                     str(visit.get("reason") or ""),
                                     visit.get("resource_id") or visit.get("last_resource_id")))
        return found

    def _observed(self, pcf_id: str, state: str, at: float, resource_id: str | None) -> list[FollowEvent]:
        """An ``observed`` event when ``state`` is not the last one told for ``pcf_id``."""
        if self._states.get(pcf_id) == state:
            return []
        self._states[pcf_id] = state
        return [FollowEvent("observed", pcf_id, at, state, resource_id=resource_id)]

    def _outcome(self) -> ExecutionOutcome:
        described = self.sfn.describe_execution(executionArn=self.execution_arn)
        status = described["status"]
        started = _seconds(described.get("startDate"))
        stopped = _seconds(described.get("stopDate") or described.get("startDate"))
        if status == "SUCCEEDED":
            return ExecutionOutcome(status, json_object(described.get("output"), keep=True), started_at=started,
                                    stopped_at=stopped)
        error = described.get("error") or f"Execution{status.title().replace('_', '')}"
        return ExecutionOutcome(status, None, error, cause_message(described.get("cause")), started, stopped)


def _reason(action: str, before: str | None) -> str:
    """Why a visit acted, as the decision words it (``stopped -> running``), from the state last told for the
    particle (``-> running`` when none was)."""
    if action not in TARGETS:
        return UPDATE_REASON
    return f"{before or ''} -> {TARGETS[action]}".lstrip()


def cause_message(cause: Any) -> str:
    """The readable part of a failure's cause: a Lambda error's ``errorMessage``, a failed child execution's
    own cause, else the cause as it is."""
    parsed = json_object(cause, keep=True)
    if isinstance(parsed, dict):
        if "errorMessage" in parsed:
            return str(parsed["errorMessage"])
        inner = parsed.get("Cause") or parsed.get("cause")
        if inner:
            return cause_message(inner)
    return "" if cause is None else str(cause)


def json_object(text: Any, *, keep: bool = False) -> Any:
    """``text`` parsed; ``{}`` when it is not a JSON object (or, with ``keep``, whatever it parses to)."""
    try:
        value = json.loads(text) if isinstance(text, str | bytes) else text
    except ValueError:
        value = None
    if keep:
        return value
    return value if isinstance(value, dict) else {}


def _seconds(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value or 0.0)


def _epoch(event: dict[str, Any]) -> float:
    return _seconds(event.get("timestamp"))
