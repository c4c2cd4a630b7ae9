"""Callback tasks (``.waitForTaskToken``) as AWS runs them: waits on the cloud's clock, heartbeat expiry named.

- **Waits on the cloud's clock.** moto waits for a task token's answer, for the next ``SendTaskHeartbeat``
  (``HeartbeatSeconds``) and for ``TimeoutSeconds`` on ``threading.Event`` objects, in real time. Here those events
  are :class:`ClockEvent` objects: a wait with a timeout ends when the event is set or when the cloud's clock
  reaches the end of the timeout (a deadline of ``deadlines``), so on a ``VirtualClock`` a test expires a heartbeat
  with ``clock.advance(...)`` and never really waits; on a real clock nothing changes. The timeout counts from the
  event's creation or its last ``set()`` (the task's start, the last ``SendTaskHeartbeat``), as AWS counts
  ``TimeoutSeconds`` and ``HeartbeatSeconds``, not from when moto's thread gets round to waiting again.
- **Heartbeat expiry is ``States.HeartbeatTimeout``.** AWS (Step Functions Developer Guide, "Error names",
  https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html) names the error of a Task that
  "failed to send a heartbeat for a period longer than the HeartbeatSeconds value" ``States.HeartbeatTimeout``, and
  ``States.Timeout`` covers both a Task that "ran longer than the TimeoutSeconds value" and one that "failed to
  send a heartbeat": a ``Retry``/``Catch`` on ``States.Timeout`` also matches a heartbeat expiry, one on
  ``States.HeartbeatTimeout`` matches only that. moto names it ``States.Timeout``. ``States.TaskFailed`` matches
  neither (it "matches any known error name except for States.Timeout"; moto already keeps ``States.`` names out).

- **One wait, the earlier deadline wins.** A callback task waits for its answer until the earlier of its
  ``TimeoutSeconds`` (counted from the task's start, never reset: "the Timeout of a task ... is its maximum allowed
  duration, regardless of the number of SendTaskHeartbeat requests received", API Reference, SendTaskHeartbeat,
  https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskHeartbeat.html) and its heartbeat's
  deadline (``HeartbeatSeconds`` after the last heartbeat, which "resets the Heartbeat clock"), and fails with
  that deadline's error: ``States.Timeout`` or ``States.HeartbeatTimeout``. moto left the timeout to its
  per-state thread, so a clock step past both could end with either error; here one thread decides, whatever the
  step (the per-state timeout is handed over to it, ``sfn_task_timeouts``).
- **A stopped execution's task stops waiting** (``sfn_stops`` ends the wait; the task then reports a timeout that
  the stopped execution neither retries nor records as its outcome).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeTimedOut, HeartbeatTimedOut

from pcf_local_cloud.deadlines import Deadlines
from pcf_local_cloud.moto_private import (
    answer_event,
    callback_closes_on_end,
    callback_waits_on,
    callback_waits_with,
    heartbeat_event,
    heartbeat_expiry_named,
    heartbeat_seconds,
    matched_by_error_equals,
)
from pcf_local_cloud.patchset import PatchSet
from pcf_local_cloud.sfn_task_timeouts import NEVER, current_task_timeout

HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
TIMEOUT = "States.Timeout"


class ClockEvent:
    """``threading.Event`` whose ``wait(timeout)`` counts the timeout on ``deadlines``' clock."""

    def __init__(self, events: ClockEvents) -> None:
        self._events = events
        self._changed = threading.Condition(threading.Lock())
        self._flag = False
        self._expired = False
        self._since = events.deadlines.clock.now()

    def is_set(self) -> bool:
        with self._changed:
            return self._flag

    def set(self) -> None:
        since = self._events.deadlines.clock.now()
        with self._changed:
            self._flag = True
            self._since = since
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self._flag = False

    @property
    def since(self) -> float:
        """When this event was made or last ``set()``, on the cloud's clock."""
        with self._changed:
            return self._since

    def wait(self, timeout: float | None = None) -> bool:
        """Until set (``True``) or the cloud's clock reaches ``timeout`` seconds after this event's creation or its
        last ``set()`` (``False``)."""
        deadlines = self._events.deadlines
        if timeout is None or not deadlines.stepped:
            with self._changed:
                return self._changed.wait_for(lambda: self._flag, timeout)
        if timeout <= 0:
            return self.is_set()
        return self.wait_until(self.since + timeout)

    def wait_until(self, at: float | None, *, take: bool = False) -> bool:
        """Until set (``True``) or the cloud's clock reads ``at`` (``False``; ``None``: no end), on either clock.
        With ``take``, an event already set is cleared and ``True`` returned at once."""
        with self._changed:
            if take and self._flag:
                self._flag = False
                return True
            self._expired = False
        deadlines = self._events.deadlines
        self._events.waiting(self)
        deadline = None if at is None else deadlines.at(at, self.expire)
        try:
            with self._changed:
                self._changed.wait_for(lambda: self._flag or self._expired)
                return self._flag
        finally:
            if deadline is not None:
                deadlines.cancel(deadline)
            self._events.done(self)

    def expire(self) -> None:
        """End the wait in progress, if any, as timed out."""
        with self._changed:
            self._expired = True
            self._changed.notify_all()


class ClockEvents:
    """Makes :class:`ClockEvent` objects; :meth:`expire_all` ends every wait in progress (the cloud is going)."""

    def __init__(self, deadlines: Deadlines) -> None:
        self.deadlines = deadlines
        self._changed = threading.Condition()
        self._waiting: weakref.WeakSet[ClockEvent] = weakref.WeakSet()

    def __call__(self) -> ClockEvent:
        return ClockEvent(self)

    def waiting(self, event: ClockEvent) -> None:
        with self._changed:
            self._waiting.add(event)
            self._changed.notify_all()

    def done(self, event: ClockEvent) -> None:
        with self._changed:
            self._waiting.discard(event)

    def wait_for_waits(self, count: int, timeout_s: float) -> bool:
        """Until at least ``count`` timed waits are in progress (``True``), at most ``timeout_s`` real seconds: how
        a test knows a callback task is waiting on the clock before it moves the clock."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._waiting) >= count, timeout_s)

    def expire_all(self) -> None:
        with self._changed:
            waiting = list(self._waiting)
        for event in waiting:
            event.expire()


def heartbeat_matches(clause: list[str], error: str) -> bool:
    """Whether a clause naming ``clause`` matches ``error`` by AWS's rule that moto lacks (see the docstring)."""
    return error == HEARTBEAT_TIMEOUT and TIMEOUT in clause


class CallbackTasks:
    """Installs the changes of the module docstring (and marks tokens closed when their task ends, which
    ``sfn_task_tokens`` reads)."""

    def __init__(self, deadlines: Deadlines) -> None:
        self.events = ClockEvents(deadlines)

    def install(self, patches: PatchSet) -> None:
        callback_waits_on(patches, self.events)
        callback_waits_with(patches, wait_for_answer)
        heartbeat_expiry_named(patches, HEARTBEAT_TIMEOUT)
        matched_by_error_equals(patches, heartbeat_matches)
        callback_closes_on_end(patches)


def wait_for_answer(env: Any, timeout_seconds: int, endpoint: Any, heartbeat: Any | None,
                    moto_wait: Callable[[], Any]) -> Any:
    """A callback task's wait (see the module docstring): the answer, or moto's outcome for the deadline that came
    first. Outside a state's work thread (a ``.sync`` task's token thread) moto's own wait runs."""
    timeout = current_task_timeout()
    if timeout is None:
        return moto_wait()
    timed_out = CallbackOutcomeTimedOut(callback_id=endpoint.callback_id)
    if not timeout.hand_over():
        return timed_out
    timeout_at = None if timeout_seconds >= NEVER else timeout.started + timeout_seconds
    if heartbeat is None:
        answer_event(endpoint).wait_until(timeout_at)
        return endpoint.get_outcome() or timed_out
    beat, every = heartbeat_event(heartbeat), heartbeat_seconds(heartbeat)
    while env.is_running():
        beat_at = beat.since + every
        if beat.wait_until(beat_at if timeout_at is None else min(beat_at, timeout_at), take=True):
            outcome = endpoint.get_outcome()
            if outcome is not None:
                return outcome
            continue  # a heartbeat: its clock restarts
        return timed_out if timeout_at is not None and timeout_at <= beat_at else HeartbeatTimedOut()
    return timed_out
