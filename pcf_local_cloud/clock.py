"""Clocks for the local cloud: a virtual one for tests (never sleeps) and the real one.

Anything in the local cloud that needs time takes an object with ``now()`` (and, for waiting
callers, ``sleep()``); see :class:`Clock`.
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
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self._seen = threading.local()

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
            if wake > self._now:
                self._now = wake
        self._seen.at = wake

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` from its current time (a test helper); returns the new time."""
        if seconds < 0:
            raise ValueError("cannot move a clock backwards")
        with self._lock:
            self._now += seconds
            current = self._now
        self._seen.at = current
        return current

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now!r})"
