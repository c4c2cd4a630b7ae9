"""Reading Step Functions execution histories: state transitions, payload sizes, step and child timings.

Every function takes history events as ``get_execution_history`` returns them (``type``, ``id``,
``previousEventId``, ``timestamp`` as a ``datetime``, one ``<type>EventDetails`` member), so they work on
the local cloud's histories and on AWS's alike.

State transitions are counted as AWS bills them ("each time a step of your workflow is executed, including
retries"): one per state entered (``*StateEntered`` events: Task, Pass, Choice, Wait, Map, ...; states inside
an inline Map iteration count once per iteration) plus one per retry attempt (a Task scheduled again after
it failed: ``*Scheduled`` events beyond one per ``TaskStateEntered``). Execution start and end events, Map
iteration events and a Task's own Scheduled/Started/Succeeded events are not transitions.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Event = Mapping[str, Any]
Tree = Mapping[str, Sequence[Event]]

PAYLOAD_FIELDS = ("input", "output", "parameters")
"""Detail fields holding a payload passed between states (each limited to 256 KiB of UTF-8)."""
SCHEDULED_TYPES = ("LambdaFunctionScheduled", "TaskScheduled", "ActivityScheduled")
RUN_PARTICLE = "RunParticle"
"""The apply machine's Task that runs one particle's child execution."""


@dataclass(frozen=True)
class Transitions:
    """The state transitions of one or more histories."""

    entered: Counter[str]
    retries: int = 0

    @property
    def total(self) -> int:
        return sum(self.entered.values()) + self.retries

    def __add__(self, other: Transitions) -> Transitions:
        return Transitions(self.entered + other.entered, self.retries + other.retries)


@dataclass(frozen=True)
class Payload:
    """The largest payload found: its size in UTF-8 bytes and where it was."""

    size: int = 0
    event_type: str = ""
    field: str = ""
    state: str = ""


def details(event: Event) -> Mapping[str, Any]:
    """The event's ``...EventDetails`` member (empty if it has none)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, Mapping):
            return value
    return {}


def transitions(events: Iterable[Event]) -> Transitions:
    """State transitions of one history, by state name (see the module docstring for what counts)."""
    entered: Counter[str] = Counter()
    task_entries = scheduled = 0
    for event in events:
        kind = str(event["type"])
        if kind.endswith("StateEntered"):
            entered[str(details(event).get("name", kind))] += 1
            task_entries += kind == "TaskStateEntered"
        elif kind in SCHEDULED_TYPES:
            scheduled += 1
    return Transitions(entered, max(0, scheduled - task_entries))


def tree_transitions(tree: Tree) -> Transitions:
    """State transitions of every history of an execution tree, summed."""
    total = Transitions(Counter())
    for events in tree.values():
        total = total + transitions(events)
    return total


def largest_payload(events: Sequence[Event]) -> Payload:
    """The largest input, output or parameters string of a history, and the state it belongs to."""
    best: tuple[int, Event | None, str] = (0, None, "")
    for event in events:
        info = details(event)
        for field in PAYLOAD_FIELDS:
            value = info.get(field)
            if isinstance(value, str) and len(value) > best[0] // 4:  # cheap pre-filter: utf-8 is <= 4x chars
                size = len(value.encode("utf-8"))
                if size > best[0]:
                    best = (size, event, field)
    size, event, field = best
    if event is None:
        return Payload()
    return Payload(size, str(event["type"]), field, state_of(event, {int(e["id"]): e for e in events}))


def state_of(event: Event, by_id: Mapping[int, Event]) -> str:
    """The name of the state an event belongs to: its own, or that of the nearest earlier named event."""
    seen = 0
    current: Event | None = event
    while current is not None and seen < 10:
        name = details(current).get("name")
        if name:
            return str(name)
        current = by_id.get(int(current.get("previousEventId") or 0))
        seen += 1
    return ""


def duration(events: Sequence[Event]) -> float:
    """Seconds from a history's first event to its last."""
    return (events[-1]["timestamp"] - events[0]["timestamp"]).total_seconds() if events else 0.0


def function_name(resource: str) -> str:
    """``arn:...:function:pcf-serverless-dev-sync_state`` -> ``sync_state`` (the name in ``app.py``)."""
    return resource.rsplit(":", 1)[-1].rsplit("-", 1)[-1]


def lambda_durations(events: Sequence[Event]) -> dict[str, list[float]]:
    """Seconds from ``LambdaFunctionScheduled`` to its ``Succeeded``/``Failed``, by function name."""
    by_id = {int(event["id"]): event for event in events}
    found: dict[str, list[float]] = {}
    for event in events:
        if event["type"] not in ("LambdaFunctionSucceeded", "LambdaFunctionFailed"):
            continue
        start = by_id.get(int(event.get("previousEventId") or 0))
        while start is not None and start["type"] != "LambdaFunctionScheduled":
            start = by_id.get(int(start.get("previousEventId") or 0))
        if start is not None:
            name = function_name(str(details(start).get("resource", "")))
            found.setdefault(name, []).append((event["timestamp"] - start["timestamp"]).total_seconds())
    return found


def state_spans(events: Iterable[Event], name: str) -> list[tuple[datetime, datetime]]:
    """(entered, exited) times of every visit to the state ``name``, paired in order (for sequential states)."""
    entered: list[datetime] = []
    exited: list[datetime] = []
    for event in events:
        kind = str(event["type"])
        if details(event).get("name") == name:
            if kind.endswith("StateEntered"):
                entered.append(event["timestamp"])
            elif kind.endswith("StateExited"):
                exited.append(event["timestamp"])
    return list(zip(entered, exited, strict=False))


@dataclass(frozen=True)
class ChildTiming:
    """One particle's child execution, timed from the parent's and its own history (seconds)."""

    arn: str
    pcf_id: str
    scheduled: datetime
    """The parent's ``TaskScheduled`` of ``RunParticle``."""
    start_date: datetime
    """``StartDate`` answered by ``StartExecution``."""
    started: datetime
    """The child's ``ExecutionStarted`` event (its worker is running)."""
    ended: datetime
    """The child's last event."""
    noticed: datetime
    """The parent's ``TaskSucceeded``/``TaskFailed`` of ``RunParticle``."""
    polls: int

    @property
    def start_call(self) -> float:
        return (self.start_date - self.scheduled).total_seconds()

    @property
    def worker_start(self) -> float:
        return (self.started - self.start_date).total_seconds()

    @property
    def notice(self) -> float:
        return (self.noticed - self.ended).total_seconds()


def child_timings(parent: Sequence[Event], tree: Tree) -> list[ChildTiming]:
    """The timing of every ``RunParticle`` child execution the parent history started."""
    scheduled: dict[str, datetime] = {}
    submitted: dict[str, tuple[str, datetime]] = {}
    noticed: dict[str, datetime] = {}
    for event in parent:
        info = details(event)
        if event["type"] == "TaskScheduled" and info.get("resourceType") == "states":
            scheduled[str(json.loads(info["parameters"]).get("Name"))] = event["timestamp"]
        elif event["type"] == "TaskSubmitted" and info.get("resourceType") == "states":
            answer = json.loads(info.get("output") or "{}")
            arn = str(answer.get("ExecutionArn", ""))
            submitted[arn] = (arn.rsplit(":", 1)[-1], _parse_time(answer.get("StartDate"), event["timestamp"]))
        elif event["type"] in ("TaskSucceeded", "TaskFailed") and info.get("resourceType") == "states":
            arn = str(json.loads(info.get("output") or "{}").get("ExecutionArn", ""))
            noticed[arn] = event["timestamp"]
    timings = []
    for arn, (name, start_date) in submitted.items():
        events = tree.get(arn)
        if not events or name not in scheduled:
            continue
        first = details(events[0])
        last = details(events[-1])
        output = json.loads(last.get("output") or "{}") if isinstance(last.get("output"), str) else {}
        timings.append(ChildTiming(
            arn=arn,
            pcf_id=str(json.loads(first.get("input") or "{}").get("pcf_id", "")),
            scheduled=scheduled[name],
            start_date=start_date,
            started=events[0]["timestamp"],
            ended=events[-1]["timestamp"],
            noticed=noticed.get(arn, events[-1]["timestamp"]),
            polls=int(output.get("polls", 0)),
        ))
    return timings


def _parse_time(value: Any, default: datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return default


def peak_overlap(spans: Iterable[tuple[datetime, datetime]]) -> int:
    """The most spans open at one moment (an end and a start at the same instant do not overlap)."""
    edges = sorted((moment, step) for start, end in spans for moment, step in ((start, 1), (end, -1)))
    peak = running = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def transition_overshoot(events: Sequence[Event], pending_seconds: float) -> float | None:
    """Seconds from the end of the particle's transition (its Start/Stop/... step returning) to the step that
    saw it done, beyond the pending phase: poll granularity plus step latency. ``None`` without a transition."""
    done_at = transitioned_at = None
    for event in events:
        info = details(event)
        if event["type"] == "TaskStateExited" and info.get("name") in ("Start", "Stop", "Terminate", "Update"):
            transitioned_at = event["timestamp"]
        elif event["type"] == "TaskStateExited" and info.get("name") == "Sync":
            sync = json.loads(info.get("output") or "{}").get("sync", {})
            if sync.get("action") == "done":
                done_at = event["timestamp"]
    if transitioned_at is None or done_at is None:
        return None
    return (done_at - transitioned_at).total_seconds() - pending_seconds
