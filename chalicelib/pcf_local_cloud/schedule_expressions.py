"""EventBridge schedule expressions: ``rate(value unit)`` and ``cron(minutes hours day-of-month month
day-of-week year)``, parsed and stepped as EventBridge does (times in UTC).

``rate``: a positive whole number; the unit singular for 1 (``rate(1 hour)``) and plural otherwise
(``rate(5 minutes)``), as EventBridge requires.

``cron``: six fields; ``*``, ``,``, ``-``, ``/``, month names (``JAN``-``DEC``) and day names (``SUN``-``SAT``,
day-of-week 1-7 = Sunday-Saturday); ``?`` in day-of-month or day-of-week (exactly one of them). The
wildcards ``L``, ``W`` and ``#`` are refused (:class:`UnsupportedScheduleError`): the local cloud does not
compute them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_DAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
_SEARCH_YEARS = 5


class InvalidScheduleError(ValueError):
    """Not a schedule expression EventBridge accepts."""


class UnsupportedScheduleError(InvalidScheduleError):
    """A valid cron expression whose wildcards (``L``, ``W``, ``#``) the local cloud does not compute."""


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
    """``cron(...)``: every minute whose fields all match, in UTC."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None
    months: frozenset[int]
    days_of_week: frozenset[int] | None
    years: frozenset[int]

    def next_after(self, wall: float, anchor: float) -> float | None:
        start = datetime.fromtimestamp(wall, UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        for _ in range(366 * _SEARCH_YEARS):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                        if moment >= start:
                            return moment.timestamp()
            day += timedelta(days=1)
        return None

    def _day_matches(self, day: date) -> bool:
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.days_of_month is not None and day.day not in self.days_of_month:
            return False
        aws_weekday = (day.weekday() + 1) % 7 + 1  # Sunday = 1 ... Saturday = 7
        return self.days_of_week is None or aws_weekday in self.days_of_week


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
    if any(_has_wildcard(field) for field in fields):
        raise UnsupportedScheduleError(f"{text!r}: the local cloud does not compute the cron wildcards L, W and #")
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise InvalidScheduleError(f"{text!r}: exactly one of day-of-month and day-of-week must be '?'")
    return Cron(
        text,
        minutes=_field(minutes, 0, 59),
        hours=_field(hours, 0, 23),
        days_of_month=None if dom == "?" else _field(dom, 1, 31),
        months=_field(month, 1, 12, _MONTHS),
        days_of_week=None if dow == "?" else _field(dow, 1, 7, _DAYS),
        years=_field(year, 1970, 2199),
    )


def _has_wildcard(field: str) -> bool:
    """Whether ``L``, ``W`` or ``#`` appear outside month and day names (``JUL`` and ``WED`` are names)."""
    without_names = re.sub(
        r"[A-Za-z]{3}", lambda m: "" if m.group().upper() in _MONTHS or m.group().upper() in _DAYS else m.group(), field
    )
    return any(mark in without_names.upper() for mark in ("L", "W", "#"))


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        values.update(_part(part, low, high, names or {}))
    return frozenset(values)


def _part(part: str, low: int, high: int, names: dict[str, int]) -> range:
    base, _, step_text = part.partition("/")
    step = _number(step_text, 1, high, {}) if step_text else 1
    if base in ("*", "?"):
        first, last = low, high
    elif "-" in base:
        start_text, _, end_text = base.partition("-")
        first, last = _number(start_text, low, high, names), _number(end_text, low, high, names)
    else:
        first = _number(base, low, high, names)
        last = high if step_text else first
    if first > last:
        raise InvalidScheduleError(f"cron field {part!r}: {first} comes after {last}")
    return range(first, last + 1, step)


def _number(text: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(text.upper())
    if value is None:
        if not text.isdigit():
            raise InvalidScheduleError(f"cron value {text!r} is not a number in {low}-{high}")
        value = int(text)
    if not low <= value <= high:
        raise InvalidScheduleError(f"cron value {text!r} is outside {low}-{high}")
    return value
