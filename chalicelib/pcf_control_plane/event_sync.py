"""EC2 and EBS events into the store, and drift into healing: no EC2 call, one particle per event.

The event's resource id finds the particle and its spec's summary (``view_by_resource_id``: one query);
its state goes through the flavor's ``state_lookup``; the observation is written with the event's own time,
so an older or duplicate event never overwrites a newer observation (newer wins, equal times refused) and
adds no history. A stable state that differs from the desired one goes to the ``Healer``: a due heal is
written together with a check that no lease is held (one transaction), then started. Three AWS calls for a
healed event, two otherwise (three when a lease turns the heal down).

An event that ends the transition an execution waits for (a wait armed on the particle by the page machine's
``Await`` task, and a state other than ``pending``) resolves that wait instead: the waiting execution is resumed
first (``SendTaskSuccess``), then the observation, ``converged_by``, that execution's lease given back and their
history are written in one transaction (``resolve_wait``). No heal is considered: the waiting execution converges
the particle. A token already closed (the task timed out, or its execution ended) removes the dead wait and the
event is handled as any other, healing included. Three AWS calls for such an event.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from pydantic import BaseModel

from pcf.core import State
from pcf.core.registry import get_particle_flavor
from pcf_control_plane.aws_events import AwsEvent, RefusedEvent, parse_event
from pcf_control_plane.healing import Healer, HealOutcome, derived_execution_name, history_detail, leased
from pcf_control_plane.resume import Resume
from pcf_control_plane.store import HistoryKind, Observation, ParticleView, RecordResult, StateStore
from pcf_control_plane.store.interface import WAIT_UNCHECKED
from pcf_control_plane.store.models import Wait, observed_name

EventStatus = Literal["refused", "ignored", "stale", "recorded"]


class EventResult(BaseModel):
    """What became of one event."""

    status: EventStatus
    reason: str = ""
    event_id: str | None = None
    pcf_id: str | None = None
    state: str | None = None
    heal: HealOutcome | None = None
    resumed: str | None = None
    """The execution waiting for this event, resumed."""


class EventSync:
    """Handles the events of one deployment in one account."""

    def __init__(self, store: StateStore, healer: Healer, *, deployment: str, account: str,
                 resume: Resume | None = None) -> None:
        self.store = store
        self.healer = healer
        self.deployment = deployment
        self.account = account
        self.resume = resume

    def handle(self, raw: object) -> EventResult:
        """Check, record and (when drifted) heal; see the module docstring."""
        try:
            event = parse_event(raw, account=self.account)
            resource_id, status = event.resource_state()
        except RefusedEvent as refused:
            return EventResult(status="refused", reason=str(refused), event_id=_event_id(raw))
        if status is None:
            return EventResult(status="ignored", reason=f"{resource_id} keeps its state ({_what(event)})",
                               event_id=event.id)
        view = self.store.view_by_resource_id(resource_id)
        if view is None or view.spec is None or view.spec.deployment != self.deployment:
            return EventResult(status="ignored", reason=f"{resource_id} is not managed by {self.deployment}",
                               event_id=event.id)
        flavor = get_particle_flavor(view.spec.flavor)
        state: State = flavor.state_lookup.get(status, State.pending)
        cause = f"event:{event.id}"
        observation = Observation(state=observed_name(state), observed_at=event_time(event, state, view.observation),
                                  resource_id=resource_id, cause=cause)
        detail = {"state": state.name, "resource_id": resource_id, "resource_state": status, "source": "event"}
        seen = _Seen(event.id, view, state, observation, detail)
        return self._handle(seen, view.wait, resolving=True)

    def _handle(self, seen: _Seen, wait: Wait | None, *, resolving: bool) -> EventResult:
        """Resolve ``wait`` with the event (``resolving``), else record it and heal what drifted."""
        if resolving and wait is not None and self._ends_wait(seen.state):
            return self._resolve(seen, wait)
        name = derived_execution_name("heal", seen.event_id)
        decision = self.healer.decide(seen.view, seen.state)
        token = wait.token if wait is not None else None
        written = self._record(seen, decision, name, token)
        if written.status == "leased":
            decision = leased(decision.action, written.lease)
            written = self._record(seen, decision, name, token)
        if written.status == "wait_changed" and written.wait is not None:
            return self._handle(seen, written.wait, resolving=resolving)  # armed after the index gave the view
        if written.status == "stale":
            return _stale(seen)
        heal = self.healer.start(seen.pcf_id, decision, name) if decision.status == "due" else decision
        return EventResult(status="recorded", event_id=seen.event_id, pcf_id=seen.pcf_id, state=seen.state.name,
                           heal=heal)

    def _ends_wait(self, state: State) -> bool:
        return self.resume is not None and state is not State.pending

    def _record(self, seen: _Seen, decision: HealOutcome, name: str, token: str | None) -> RecordResult:
        """The observation with its history, and the heal decision's; a heal only while no lease is held; only
        while the wait ``token`` (or none) is armed, when waits are resolved here."""
        heal_detail = history_detail(decision, name)
        also = [(HistoryKind.heal, heal_detail)] if heal_detail is not None else []
        expected = token if self.resume is not None else WAIT_UNCHECKED
        return self.store.record_observed(seen.pcf_id, seen.observation, HistoryKind.observation, seen.detail, also,
                                          unless_leased=decision.status == "due", wait_token=expected)

    def _resolve(self, seen: _Seen, wait: Wait) -> EventResult:
        """Resume the execution waiting for this event and record the event with the wait resolved; a wait whose
        task has ended (its token closed) is removed and the event handled as any other."""
        assert self.resume is not None
        output = {"pcf_id": seen.pcf_id, "state": seen.state.name, "event": seen.event_id,
                  "resource_id": seen.observation.resource_id}
        if self.resume(wait.token, output) == "closed":
            self.store.clear_wait(seen.pcf_id, wait.owner, wait.token)
            return self._handle(seen, None, resolving=False)
        written = self.store.resolve_wait(seen.pcf_id, seen.observation, wait, seen.detail)
        status: EventStatus = "stale" if written.status == "stale" else "recorded"
        return EventResult(status=status, event_id=seen.event_id, pcf_id=seen.pcf_id, state=seen.state.name,
                           resumed=wait.owner, reason="" if written.status in ("recorded", "stale") else (
                               f"resumed; its wait had ended otherwise ({written.status})"))


class _Seen(NamedTuple):
    """What one event says of one particle."""

    event_id: str
    view: ParticleView
    state: State
    observation: Observation
    detail: dict[str, str]

    @property
    def pcf_id(self) -> str:
        return self.view.pcf_id


def _stale(seen: _Seen) -> EventResult:
    return EventResult(status="stale", reason="an observation as new or newer is stored", event_id=seen.event_id,
                       pcf_id=seen.pcf_id, state=seen.state.name)


def _what(event: AwsEvent) -> str:
    """``attachVolume failed``: what a notification says happened."""
    detail = getattr(event, "detail", None)
    return f"{getattr(detail, 'event', '').strip()} {getattr(detail, 'result', '')}".strip()


def _event_id(raw: object) -> str | None:
    """The id of a refused event, for its log line, when it has a usable one."""
    found = raw.get("id") if isinstance(raw, dict) else None
    return found if isinstance(found, str) and found else None


def event_time(event: AwsEvent, state: State, previous: Observation | None) -> float:
    """The observation time of an event: its own time, which EC2 gives to the second only.

    A transition often ends within the second it began (``stopping`` then ``stopped``): the stable state,
    which can only come after the transitional one, is placed just after a ``pending`` observation of the
    same second, so newer-wins keeps it instead of refusing an equal time. A redelivered event still has the
    same time as itself (stale), and an older second stays older.
    """
    at = event.time.timestamp()
    if (previous is not None and state is not State.pending and previous.state == State.pending.name
            and at <= previous.observed_at < at + 1):
        return previous.observed_at + 1e-3
    return at
