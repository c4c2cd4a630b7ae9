"""Scheduled EventBridge rules fire on the local cloud's clock.

moto stores a rule's ``ScheduleExpression`` and never fires it. Here ``put_rule`` also records when the
rule's schedule started (on the cloud's clock, as wall time), and :meth:`Schedules.fire_due` fires every
enabled scheduled rule whose next time has come: once per missed time, in time order, each event stamped
with its scheduled time. EventBridge's ``Scheduled Event`` goes to the rule's targets (``eventbridge_targets``):
``{"detail-type": "Scheduled Event", "source": "aws.events", "resources": [<rule ARN>], "detail": {}}``.

``rate(N unit)`` fires every N units from the rule's creation; ``cron(...)`` at each matching UTC minute
(see ``schedule_expressions``; ``L``, ``W`` and ``#`` are refused by ``put_rule`` with a
``ValidationException`` saying so). Putting a rule again with the same expression keeps its schedule; a new
expression starts a new one. A disabled rule's times pass without firing.

Patched: ``moto.events.models.EventsBackend.put_rule``.
"""

from __future__ import annotations

import inspect
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.events.exceptions import ValidationException
from moto.events.models import EventsBackend, Rule, events_backends

from pcf_local_cloud.event_bus import DEFAULT_BUS, aws_event, envelope
from pcf_local_cloud.eventbridge_targets import EventBridgeTargets
from pcf_local_cloud.patchset import PatchSet
from pcf_local_cloud.schedule_expressions import InvalidScheduleError, ScheduleExpression, parse_schedule
from pcf_local_cloud.state import EmulationState

SCHEDULE_ATTR = "_pcf_schedule"
SOURCE = "aws.events"
DETAIL_TYPE = "Scheduled Event"


@dataclass
class RuleSchedule:
    """A rule's schedule: its expression, when it started and when it fires next (Unix seconds)."""

    expression: ScheduleExpression
    anchor: float
    next_at: float | None


class Schedules:
    """The ``put_rule`` patch and the firing of scheduled rules."""

    def __init__(self, state: EmulationState, targets: EventBridgeTargets) -> None:
        self._emu = state
        self._targets = targets
        self._lock = threading.Lock()

    def install(self, patches: PatchSet) -> None:
        """Patch ``EventsBackend.put_rule``; undone by ``patches.restore()``."""
        original: Callable[..., Rule] = vars(EventsBackend)["put_rule"]
        signature = inspect.signature(original)
        schedules = self

        def put_rule(backend: EventsBackend, *args: Any, **kwargs: Any) -> Rule:
            arguments = signature.bind(backend, *args, **kwargs).arguments
            text = arguments.get("scheduled_expression")
            expression = _parse_or_refuse(text) if text else None
            previous = _rule_on(backend, arguments.get("event_bus_arn"), arguments["name"])
            rule = original(backend, *args, **kwargs)
            if expression is not None:
                schedules._track(rule, expression, previous)
            return rule

        put_rule.__doc__ = original.__doc__
        patches.replace(EventsBackend, "put_rule", put_rule)

    def _track(self, rule: Rule, expression: ScheduleExpression, previous: Rule | None) -> None:
        kept = previous.__dict__.get(SCHEDULE_ATTR) if previous is not None else None
        if kept is not None and kept.expression.text == expression.text:
            rule.__dict__[SCHEDULE_ATTR] = kept
            return
        now = self._emu.wall_time()
        rule.__dict__[SCHEDULE_ATTR] = RuleSchedule(expression, now, expression.next_after(now, now))

    # -- firing -------------------------------------------------------------------------------------
    def fire_due(self) -> int:
        """Fire every scheduled time that has come, in every account and region; the number of events."""
        now = self._emu.wall_time()
        order = itertools.count()
        due: list[tuple[float, int, Rule]] = []
        with self._lock:
            for rule in _scheduled_rules():
                schedule: RuleSchedule = rule.__dict__[SCHEDULE_ATTR]
                enabled = str(rule.state).upper() != "DISABLED"
                while schedule.next_at is not None and schedule.next_at <= now:
                    if enabled:
                        due.append((schedule.next_at, next(order), rule))
                    schedule.next_at = schedule.expression.next_after(schedule.next_at, schedule.anchor)
        due.sort(key=lambda item: item[:2])
        with self._emu.outbox.deferred():
            for at, _, rule in due:
                self._fire(rule, at)
        return len(due)

    def fire_now(self, name: str, account_id: str, region_name: str) -> dict[str, Any]:
        """Fire the scheduled rule ``name`` of the default bus now (its schedule is unchanged); the event sent."""
        rule = _rule_on(_backend(account_id, region_name), None, name)
        if rule is None:
            raise KeyError(f"no rule {name!r} on the default bus of {account_id} in {region_name}")
        if SCHEDULE_ATTR not in rule.__dict__:
            raise ValueError(f"rule {name!r} has no ScheduleExpression")
        return aws_event(self._fire(rule, self._emu.wall_time()))

    def _fire(self, rule: Rule, at: float) -> dict[str, Any]:
        event = envelope(
            account=rule.account_id,
            region=rule.region_name,
            source=SOURCE,
            detail_type=DETAIL_TYPE,
            detail={},
            resources=[rule.arn],
            time=at,
        )
        self._emu.outbox.post(lambda: self._targets.deliver(rule, event))
        return event


def _parse_or_refuse(text: str) -> ScheduleExpression:
    try:
        return parse_schedule(text)
    except InvalidScheduleError as error:
        raise ValidationException(f"Parameter ScheduleExpression is not valid. {error}") from None


def _backend(account_id: str, region_name: str) -> EventsBackend:
    return events_backends[account_id][region_name]


def _rule_on(backend: EventsBackend, event_bus_arn: str | None, name: str) -> Rule | None:
    bus = backend.event_buses.get(backend._normalize_event_bus_arn(event_bus_arn))
    return None if bus is None else bus.rules.get(name)


def _scheduled_rules() -> list[Rule]:
    """Every rule with a tracked schedule, on the default bus of every account and region (a snapshot)."""
    found: list[Rule] = []
    for accounts in list(dict.values(events_backends)):
        for backend in list(dict.values(accounts)):
            bus = backend.event_buses.get(DEFAULT_BUS)
            if bus is not None:
                found.extend(rule for rule in list(bus.rules.values()) if SCHEDULE_ATTR in rule.__dict__)
    return found
