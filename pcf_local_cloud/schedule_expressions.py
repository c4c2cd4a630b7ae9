"""EventBridge schedule expressions: ``rate(value unit)`` and ``cron(minutes hours day-of-month month
day-of-week year)``, stepped as EventBridge steps them (times in UTC).

``rate``: a positive whole number; the unit singular for 1 (``rate(1 hour)``) and plural otherwise
(``rate(5 minutes)``), as EventBridge requires (parsed here: six lines).

``cron``: six fields, ``?`` in exactly one of day-of-month and day-of-week, day-of-week 1-7 = Sunday-Saturday;
computed by ``croniter`` (``*``, ``,``, ``-``, ``/``, names, ``L`` and ``W`` in day-of-month, ``#`` in
day-of-week). ``L`` in day-of-week (``6L``, the last Friday) is refused (:class:`UnsupportedScheduleError`):
croniter does not compute it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import CroniterBadDateError, croniter

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_DAY_NUMBER = re.compile(r"(?<![#/\d])\d+")
"""A day-of-week number (not an occurrence after ``#``, not a step after ``/``)."""


class InvalidScheduleError(ValueError):
    """Not a schedule expression EventBridge accepts."""


class UnsupportedScheduleError(InvalidScheduleError):
    """A valid cron expression the local cloud does not compute (``L`` in day-of-week)."""


class ScheduleExpression:
    """A parsed schedule: when it fires next."""

    text: str

    def next_after(self, wall: float, anchor: float) -> float | None:
        """The first firing strictly after the Unix time ``wall`` (``anchor``: when the rule was created), or
        ``None`` if there is none within a few years."""
        raise NotImplementedError


@dataclass(frozen=True)
class Rate(ScheduleExpression):
    """``rate(N unit)``: every ``period`` seconds from the rule's creation."""

    text: str
    period: float

    def next_after(self, wall: float, anchor: float) -> float | None:
        elapsed = max(0.0, wall - anchor)
        return anchor + (int(elapsed // self.period) + 1) * self.period


@dataclass(frozen=True)
class Cron(ScheduleExpression):
    """``cron(...)``: every minute whose fields all match, in UTC; ``croniter_expression`` is the same schedule in
    croniter's seven fields (minute hour day month weekday second year, weekdays 0-6 from Sunday)."""

    text: str
    croniter_expression: str

    def next_after(self, wall: float, anchor: float) -> float | None:
        try:
            return float(croniter(self.croniter_expression, datetime.fromtimestamp(wall, UTC)).get_next(float))
        except CroniterBadDateError:  # no such minute within croniter's search (years)
            return None


def parse_schedule(text: str) -> ScheduleExpression:
    """Parse ``rate(...)`` or ``cron(...)`` (:class:`InvalidScheduleError`, :class:`UnsupportedScheduleError`)."""
    rate = _RATE.match(text)
    if rate:
        return _parse_rate(text, int(rate.group(1)), rate.group(2))
    cron = _CRON.match(text)
    if cron:
        return _parse_cron(text, cron.group(1).split())
    raise InvalidScheduleError(f"{text!r} is neither rate(...) nor cron(...)")


def _parse_rate(text: str, value: int, unit: str) -> Rate:
    if value < 1:
        raise InvalidScheduleError(f"{text!r}: the rate must be a positive number")
    singular = unit.rstrip("s")
    if (value == 1) != (unit == singular):
        raise InvalidScheduleError(f"{text!r}: the unit must be singular for 1 and plural otherwise")
    return Rate(text, float(value * _UNIT_SECONDS[singular]))


def _parse_cron(text: str, fields: list[str]) -> Cron:
    if len(fields) != 6:
        raise InvalidScheduleError(f"{text!r}: cron takes six fields (minutes hours day month day-of-week year)")
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise InvalidScheduleError(f"{text!r}: exactly one of day-of-month and day-of-week must be '?'")
    if "L" in dow.upper():
        raise UnsupportedScheduleError(f"{text!r}: the local cloud does not compute L in day-of-week")
    weekdays = "*" if dow == "?" else _DAY_NUMBER.sub(lambda m: _weekday(text, m.group()), dow)
    expression = f"{minutes} {hours} {'*' if dom == '?' else dom} {month} {weekdays} 0 {year}"
    if not croniter.is_valid(expression):
        raise InvalidScheduleError(f"{text!r}: not a valid cron expression")
    return Cron(text, expression)


def _weekday(text: str, number: str) -> str:
    """EventBridge's day-of-week number (1 = Sunday ... 7 = Saturday) as croniter's (0 = Sunday)."""
    value = int(number)
    if not 1 <= value <= 7:
        raise InvalidScheduleError(f"{text!r}: day-of-week {number} is outside 1-7")
    return str(value - 1)
