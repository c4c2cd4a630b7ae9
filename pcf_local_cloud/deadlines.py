"""Actions that run when the cloud's clock reaches their deadline, without anyone reading or polling.

Each timed thing of the local cloud (an EC2 transition, a volume being created, a callback task's heartbeat)
registers its deadline here with :meth:`Deadlines.at`. Then:

- on a clock that moves only when told (a :class:`~pcf_local_cloud.clock.SteppedClock`, the ``VirtualClock``),
  the clock runs them: ``advance()`` and ``sleep()`` stop at each due deadline in order, so an action sees its own
  time and has run, in the thread that moved the clock, before that call returns;
- on any other clock (the ``RealClock``) a daemon thread sleeps until the earliest deadline and runs what is due,
  within a few milliseconds of it.

An action runs at most once, and must check itself whether it still applies (a transition replaced meanwhile).
Actions due at the same time run in the order they were registered, inside ``batch()`` (the emulation's outbox
deferral: the events they publish are delivered after the whole batch, in the same thread). An action that
raises is logged; the others still run.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from pcf_local_cloud.clock import Clock, SteppedClock

log = logging.getLogger(__name__)

Action = Callable[[], object]


class Deadline:
    """A registered action; :meth:`cancel` keeps it from running."""

    __slots__ = ("action", "at", "cancelled")

    def __init__(self, at: float, action: Action) -> None:
        self.at = at
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __repr__(self) -> str:
        return f"Deadline(at={self.at}{', cancelled' if self.cancelled else ''})"


class Deadlines:
    """A heap of deadlines on ``clock``'s scale, run by the clock (stepped) or by a thread (real time)."""

    def __init__(self, clock: Clock, batch: Callable[[], AbstractContextManager[object]] = nullcontext,
                 name: str = "pcf-local-cloud-deadlines") -> None:
        self.clock = clock
        self.stepped = isinstance(clock, SteppedClock)
        self._batch = batch
        self._name = name
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._cancelled = 0
        self._changed = threading.Condition()
        self._stopped = True
        self._thread: threading.Thread | None = None

    # -- registering --------------------------------------------------------------------------------
    def at(self, when: float, action: Action) -> Deadline:
        """Run ``action`` once the clock reads ``when`` or later. On a stepped clock a deadline already passed
        runs at once, in the calling thread (the clock may have moved while it was being computed)."""
        deadline = Deadline(when, action)
        with self._changed:
            heapq.heappush(self._heap, (when, next(self._order), deadline))
            self._changed.notify_all()
        if self.stepped and not self._stopped and when <= self.clock.now():
            self.run_due()
        return deadline

    def cancel(self, deadline: Deadline) -> None:
        """Keep ``deadline`` from running; the heap is compacted when cancelled entries make up half of it."""
        with self._changed:
            if deadline.cancelled:
                return
            deadline.cancel()
            self._cancelled += 1
            if self._cancelled * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def __len__(self) -> int:
        """Deadlines still to run (cancelled ones excluded)."""
        with self._changed:
            return len(self._heap) - self._cancelled

    # -- running ------------------------------------------------------------------------------------
    def next_due(self) -> float | None:
        """The earliest deadline still to run, if any."""
        with self._changed:
            self._drop_cancelled_head()
            return self._heap[0][0] if self._heap else None

    def run_due(self) -> int:
        """Run every action whose deadline the clock has reached, earliest first; how many ran."""
        ran = 0
        while True:
            due = self._pop_due(self.clock.now())
            if not due:
                return ran
            with self._batch():
                for deadline in due:
                    try:
                        deadline.action()
                    except Exception:
                        log.exception("local cloud: an action due at %s failed", deadline.at)
                    ran += 1

    def _pop_due(self, now: float) -> list[Deadline]:
        due: list[Deadline] = []
        with self._changed:
            while self._heap and self._heap[0][0] <= now:
                deadline = heapq.heappop(self._heap)[2]
                if deadline.cancelled:
                    self._cancelled -= 1
                else:
                    due.append(deadline)
        return due

    def _drop_cancelled_head(self) -> None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
            self._cancelled -= 1

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> Deadlines:
        """Have the clock run the deadlines (stepped) or start the thread that does (idempotent)."""
        with self._changed:
            if not self._stopped:
                return self
            self._stopped = False
        if isinstance(self.clock, SteppedClock):
            self.clock.attach(self)
        else:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop running deadlines (the batch in progress, if any, finishes); idempotent."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        if isinstance(self.clock, SteppedClock):
            self.clock.detach(self)
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return not self._stopped

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._stopped:
                    self._drop_cancelled_head()
                    if not self._heap:
                        self._changed.wait()
                        continue
                    delay = self._heap[0][0] - self.clock.now()
                    if delay <= 0:
                        break
                    self._changed.wait(delay)
                if self._stopped:
                    return
            self.run_due()
