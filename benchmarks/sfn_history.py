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
RUN_PAGE = "RunPage"
"""The apply machine's Task that runs one page's child execution (up to 40 particles)."""
PER_PAGE_STATES = (RUN_PAGE, "PageFailed")
"""The apply machine's states entered once per page (in the ``Pages`` Map's iteration), not once per level."""
VISIT = "Converge"
"""The page machine's Task that visits one particle (the ``converge`` Lambda)."""


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


def awaits(events: Iterable[Event]) -> int:
    """Tasks of a history that called DynamoDB through a Step Functions integration (the page's ``Await``:
    ``resourceType`` ``aws-sdk:dynamodb``), retries included."""
    return sum(1 for event in events if event["type"] == "TaskScheduled"
               and str(details(event).get("resourceType", "")).rsplit(":", 1)[-1] == "dynamodb")


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
    """One page's child execution, timed from the parent's and its own history (seconds)."""

    arn: str
    page: str
    """``<phase>/<level>/<page>`` from the page execution's input."""
    scheduled: datetime
    """The parent's ``TaskScheduled`` of ``RunPage``."""
    start_date: datetime
    """``StartDate`` answered by ``StartExecution``."""
    started: datetime
    """The child's ``ExecutionStarted`` event (its worker is running)."""
    ended: datetime
    """The child's last event."""
    noticed: datetime
    """The parent's ``TaskSucceeded``/``TaskFailed`` of ``RunPage``."""

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
    """The timing of every ``RunPage`` child execution the parent history started."""
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
        page_input = _json(details(events[0]).get("input"))
        timings.append(ChildTiming(
            arn=arn,
            page="/".join(str(page_input.get(key, "")) for key in ("phase", "level", "page")),
            scheduled=scheduled[name],
            start_date=start_date,
            started=events[0]["timestamp"],
            ended=events[-1]["timestamp"],
            noticed=noticed.get(arn, events[-1]["timestamp"]),
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


def _json(value: Any) -> dict[str, Any]:
    """A JSON object from a history payload string (empty for anything else)."""
    if not isinstance(value, str):
        return {}
    try:
        found = json.loads(value)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _owner(event: Event, by_id: Mapping[int, Event]) -> str:
    """The particle an event of a page history belongs to: the ``pcf_id`` of its own input or of the nearest
    earlier event of its chain that has one; ``""`` (the page's own) when the chain reaches a state event
    without one (``LoadPage``, the ``Particles`` Map) or the execution's start."""
    current: Event | None = event
    while current is not None:
        info = details(current)
        pcf_id = _json(info.get("input")).get("pcf_id")
        if pcf_id:
            return str(pcf_id)
        if info.get("name") or current["type"] == "ExecutionStarted":
            return ""
        current = by_id.get(int(current.get("previousEventId") or 0))
    return ""


@dataclass(frozen=True)
class PageParticles:
    """A page execution's transitions split between its particles and the page itself."""

    own: Transitions
    """States no particle's visit entered: ``LoadPage``, the ``Particles`` Map."""
    particles: dict[str, Transitions]
    """Each particle's states (by the ``pcf_id`` in the state's input: every state of a Map iteration has it)."""

    def visits(self, pcf_id: str) -> int:
        return self.particles[pcf_id].entered[VISIT]


def page_transitions(events: Sequence[Event]) -> PageParticles:
    """State transitions of one page history, attributed to the particle whose Map iteration entered them
    (states, and retries: a Lambda scheduled again for the same state), the rest to the page."""
    by_id = {int(event["id"]): event for event in events}
    entered: dict[str, Counter[str]] = {}
    tasks: Counter[str] = Counter()
    scheduled: Counter[str] = Counter()
    for event in events:
        kind = str(event["type"])
        if kind.endswith("StateEntered"):
            owner = _owner(event, by_id)
            entered.setdefault(owner, Counter())[str(details(event).get("name", kind))] += 1
            tasks[owner] += kind == "TaskStateEntered"
        elif kind in SCHEDULED_TYPES:
            scheduled[_owner(event, by_id)] += 1
    found = {owner: Transitions(states, max(0, scheduled[owner] - tasks[owner])) for owner, states in entered.items()}
    own = found.pop("", Transitions(Counter()))
    return PageParticles(own, found)


def visit_outputs(events: Iterable[Event]) -> Iterable[tuple[datetime, dict[str, Any]]]:
    """(time, ``converge`` answer) of every visit of a page history that returned, in history order."""
    for event in events:
        info = details(event)
        if event["type"] == "TaskStateExited" and info.get("name") == VISIT:
            step = _json(info.get("output")).get("step")
            if isinstance(step, dict):
                yield event["timestamp"], step


def transition_overshoots(events: Sequence[Event], pending_seconds: float) -> list[float]:
    """For each particle of a page that carried out a transition: seconds from the visit that acted (it returns
    once the transition was asked for) to the visit that saw it done, beyond the pending phase (poll granularity
    plus step latency). A particle done in the visit that acted overshoots by ``-pending_seconds``."""
    acted_at: dict[str, datetime] = {}
    found = []
    for moment, step in visit_outputs(events):
        pcf_id = str(step.get("pcf_id", ""))
        if step.get("acted") and pcf_id not in acted_at:
            acted_at[pcf_id] = moment
        if step.get("action") == "done" and pcf_id in acted_at:
            found.append((moment - acted_at[pcf_id]).total_seconds() - pending_seconds)
    return found
