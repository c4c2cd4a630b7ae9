"""A state's ``TimeoutSeconds`` as AWS counts it: on the cloud's clock, from the state's start, 99999999 if unset.

- **Default.** AWS (Step Functions Developer Guide, "Task workflow state", "TimeoutSeconds": "If not provided, the
  default value is 99999999", https://docs.aws.amazon.com/step-functions/latest/dg/state-task.html; and
  sfn-stuck-execution.html: without ``TimeoutSeconds`` "an execution is stuck waiting for a response that will
  never come") has no other default; ``HeartbeatSeconds`` only has to be smaller than it. moto follows the States
  Language specification (states-language.net, "the default value of TimeoutSeconds is 60") for a Task with
  ``HeartbeatSeconds`` and no ``TimeoutSeconds``, which fails a callback task that waits longer than a minute.
  Here such a task gets 99999999 like any other.
- **On the cloud's clock.** moto waits for every Task's work on a thread, for at most ``TimeoutSeconds`` of real
  time, then fails the state with ``States.Timeout``. Here that wait counts on the cloud's clock, from the moment
  the state starts its work (its ``deadlines``): on a ``VirtualClock`` a Lambda Task whose handler sleeps past
  the timeout on the cloud's clock times out, and one that takes real CPU time does not; ``clock.advance(...)``
  expires a timeout with no real wait. On a ``RealClock`` nothing changes. A timeout of 99999999 s (more than a
  Standard execution's one year) registers no deadline.
- **Handed over.** A ``.waitForTaskToken`` task counts its ``TimeoutSeconds`` together with its heartbeat, in
  one wait, so that the earlier deadline wins however far the clock moves in one step (``sfn_callbacks``): once
  it waits, the per-state timeout is handed over to it (:meth:`TaskTimeout.hand_over`).

The hooks are in ``moto_private`` (``timeout_when_unset``, ``state_timeouts_on``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pcf_local_cloud.deadlines import Deadline, Deadlines
from pcf_local_cloud.moto_private import state_timeouts_on, timeout_when_unset
from pcf_local_cloud.patchset import PatchSet

NEVER = 99999999
"""``TimeoutSeconds`` when unset (state-task.html); at or above it no deadline is registered."""

_local = threading.local()


class TaskTimeout:
    """The event moto's per-state timeout waits on: set when the state's work ends; ``wait(timeout)`` ends
    ``timeout`` seconds after the event was made, on ``deadlines``' clock, unless handed over first."""

    def __init__(self, deadlines: Deadlines) -> None:
        self._deadlines = deadlines
        self.started = deadlines.clock.now()
        self._changed = threading.Condition(threading.Lock())
        self._flag = False
        self._ended = self.started
        self._expired = False
        self._handed_over = False

    def is_set(self) -> bool:
        with self._changed:
            return self._flag

    def set(self) -> None:
        """The state's work has ended (now, on the clock)."""
        ended = self._deadlines.clock.now()
        with self._changed:
            self._flag = True
            self._ended = ended
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        """Until set (``True``) or ``timeout`` seconds after :attr:`started` on the clock (``False``). Work that
        ended after that time is late (``False``) even if this wait began after it ended, unless handed over."""
        if timeout is None or timeout >= NEVER:
            with self._changed:
                return self._changed.wait_for(lambda: self._flag or self._expired) and self._flag
        until = self.started + timeout
        deadline: Deadline = self._deadlines.at(until, self._expire)
        try:
            with self._changed:
                self._changed.wait_for(lambda: self._flag or self._expired)
                return self._flag and (self._handed_over or self._ended <= until)
        finally:
            self._deadlines.cancel(deadline)

    def hand_over(self) -> bool:
        """Stop counting here (the state's work counts its own deadline); ``False`` if the timeout has already
        expired."""
        with self._changed:
            if self._expired:
                return False
            self._handed_over = True
            return True

    def _expire(self) -> None:
        with self._changed:
            if not self._handed_over:
                self._expired = True
                self._changed.notify_all()


def current_task_timeout() -> TaskTimeout | None:
    """The timeout of the state whose work the calling thread runs, if it runs one."""
    timeout: TaskTimeout | None = getattr(_local, "current", None)
    return timeout


class TaskTimeouts:
    """Installs the changes of the module docstring."""

    def __init__(self, deadlines: Deadlines) -> None:
        self.deadlines = deadlines

    def install(self, patches: PatchSet) -> None:
        timeout_when_unset(patches, NEVER)
        state_timeouts_on(patches, self._event, _thread_with_timeout)

    def _event(self) -> TaskTimeout:
        made = TaskTimeout(self.deadlines)
        _local.made = made  # for the thread the same state makes next, in this thread
        return made


def _thread_with_timeout(target: Callable[[], object], **kwargs: Any) -> threading.Thread:
    """A thread running ``target`` with :func:`current_task_timeout` set to the timeout its state just made."""
    timeout = getattr(_local, "made", None)
    _local.made = None

    def run() -> None:
        _local.current = timeout
        target()

    return threading.Thread(target=run, **kwargs)
