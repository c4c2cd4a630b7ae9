"""A signal raised whenever a Step Functions execution of the local cloud ends, for the ``.sync`` waits.

moto's interpreter checks a ``.sync`` child execution by polling ``DescribeExecution`` and sleeping between
checks. On AWS the parent learns of its child's end from an event, without polling. Here the sleep between
two checks returns as soon as any execution has ended since the waiting thread last woke (at the latest
after ``fallback_seconds``), so a parent goes on at once and forty waiting parents do not spin the CPU.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class ExecutionEndSignal:
    """Counts ended executions; ``sleep`` waits for the next one (per thread: no end is missed between a
    check and the sleep that follows it)."""

    def __init__(self, fallback_seconds: float) -> None:
        if fallback_seconds <= 0:
            raise ValueError("fallback_seconds must be positive")
        self.fallback_seconds = fallback_seconds
        self._ended = 0
        self._changed = threading.Condition()
        self._seen = threading.local()

    @property
    def ended(self) -> int:
        """How many executions have ended since the signal was made."""
        with self._changed:
            return self._ended

    def notify(self) -> None:
        """An execution has ended: wake every waiting thread."""
        with self._changed:
            self._ended += 1
            self._changed.notify_all()

    def sleep(self, _seconds: float) -> None:
        """Return once an execution has ended since this thread last returned from here, or after
        ``fallback_seconds``. The first call of a thread returns at once (it has seen nothing yet)."""
        with self._changed:
            seen = getattr(self._seen, "ended", None)
            if seen is not None:
                self._changed.wait_for(lambda: self._ended != seen, timeout=self.fallback_seconds)
            self._seen.ended = self._ended

    def wait_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Until ``done()`` holds, checked now and after each end (``True``), at most ``timeout_s`` real seconds."""
        with self._changed:
            return self._changed.wait_for(done, timeout=timeout_s)
