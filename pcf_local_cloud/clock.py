"""Clocks for the local cloud: a virtual one for tests (never sleeps) and the real one.

Anything in the local cloud that needs time takes an object with ``now()`` (and, for waiting
callers, ``sleep()``); see :class:`Clock`. A clock that moves only when told (:class:`SteppedClock`, the virtual
one) also runs the :class:`Alarms` attached to it as it passes their deadlines (see ``deadlines``).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What the local cloud and its callers need from a clock."""

    def now(self) -> float:
        """Seconds on a monotonic scale (the origin is arbitrary)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        ...


class Alarms(Protocol):
    """Deadlines a :class:`SteppedClock` stops at as it moves forward."""

    def next_due(self) -> float | None:
        """The earliest deadline still to run, if any."""
        ...

    def run_due(self) -> int:
        """Run every action whose deadline the clock has reached; how many ran."""
        ...


@runtime_checkable
class SteppedClock(Clock, Protocol):
    """A clock that moves only when told, and runs the alarms attached to it on the way."""

    def attach(self, alarms: Alarms) -> None:
        """Run ``alarms`` whenever the clock moves past one of their deadlines."""
        ...

    def detach(self, alarms: Alarms) -> None:
        """Forget ``alarms`` (no error if not attached)."""
        ...


class RealClock:
    """Wall time: ``time.monotonic`` and ``time.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def __repr__(self) -> str:
        return "RealClock()"


class VirtualClock:
    """A shared virtual time that moves only when someone sleeps (or calls :meth:`advance`).

    ``sleep(s)`` returns at once and sets ``now = max(now, t_at_call + s)``, where ``t_at_call`` is the
    time as the calling thread last saw it: the value its last ``now()`` returned, or the time it woke
    at from its last ``sleep()``; a thread that has done neither uses the current time. So threads that
    looked at the clock at the same time and then each sleep ``s`` move it forward by ``s`` once, not
    once per thread, whatever order their ``sleep`` calls happen in. Thread-safe.

    Whenever the clock moves forward (``advance`` or ``sleep``) it stops at each deadline of the attached
    :class:`Alarms` it passes, earliest first: the time becomes that deadline and the alarms' due actions run, in
    the calling thread, before the call returns. So what an action does (an EC2 transition settling, its event
    delivered) happens at its own time, not at the time the clock is moved to.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self._seen = threading.local()
        self._alarms: list[Alarms] = []

    def now(self) -> float:
        """The current virtual time; also becomes the calling thread's point of reference."""
        with self._lock:
            current = self._now
        self._seen.at = current
        return current

    def sleep(self, seconds: float) -> None:
        """Advance the clock to (this thread's last seen time + ``seconds``) if that is later; never waits."""
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        seen: float | None = getattr(self._seen, "at", None)
        with self._lock:
            wake = (self._now if seen is None else seen) + seconds
        self._move_to(wake)
        self._seen.at = wake

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` from its current time (a test helper); returns the new time."""
        if seconds < 0:
            raise ValueError("cannot move a clock backwards")
        with self._lock:
            target = self._now + seconds
        current = self._move_to(target)
        self._seen.at = current
        return current

    def attach(self, alarms: Alarms) -> None:
        """Run ``alarms`` as the clock passes their deadlines (see the class docstring)."""
        with self._lock:
            if not any(known is alarms for known in self._alarms):
                self._alarms.append(alarms)

    def detach(self, alarms: Alarms) -> None:
        """Forget ``alarms``."""
        with self._lock:
            self._alarms = [known for known in self._alarms if known is not alarms]

    def _move_to(self, target: float) -> float:
        """Move forward to ``target`` (never back), stopping at each due alarm on the way; the time reached."""
        while True:
            with self._lock:
                attached = list(self._alarms)
            due = [(at, index) for index, alarms in enumerate(attached)
                   if (at := alarms.next_due()) is not None and at <= target]
            if not due:
                break
            at, index = min(due)
            with self._lock:
                if at > self._now:
                    self._now = at
            self._seen.at = at
            attached[index].run_due()
        with self._lock:
            if target > self._now:
                self._now = target
            return self._now

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now!r})"
