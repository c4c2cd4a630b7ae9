"""Deliveries held back until the emitting thread has left the local cloud's critical sections.

A state change inside the local cloud (an EC2 transition, a settlement) happens while the thread holds the
emulation lock, or in the middle of an EC2 request. Delivering its event there would run a Lambda handler
under that lock, or inside moto's iteration over instances. So events are *posted* to the thread's outbox,
and the outbox *delivers* them, in order and in the same thread, when the thread leaves its outermost
deferral: the last release of :class:`OutboxLock`, or the end of a :meth:`Outbox.deferred` block (an EC2
request). A post made outside any of them is delivered at once.

Across threads, the outbox counts the deliveries posted and not yet done (waiting or running):
:meth:`Outbox.wait_settled` returns once there are none, which is how a client of a server knows that every event
already caused has reached its targets.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType, TracebackType
from typing import Any

from pcf_local_cloud.patchset import PatchSet, defining_class

log = logging.getLogger(__name__)

Delivery = Callable[[], None]


class Outbox:
    """A per-thread queue of deliveries and a per-thread deferral depth."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._in_flight = 0
        self._settled = threading.Condition()

    def _state(self) -> Any:
        local = self._local
        if not hasattr(local, "depth"):
            local.depth = 0
            local.queue = []
        return local

    @property
    def depth(self) -> int:
        """How many deferrals the calling thread is inside."""
        return int(self._state().depth)

    def enter(self) -> None:
        """Start deferring the calling thread's deliveries (nests)."""
        self._state().depth += 1

    def exit(self) -> None:
        """End one deferral; leaving the outermost delivers what was posted meanwhile."""
        local = self._state()
        local.depth -= 1
        if local.depth == 0:
            self.flush()

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold the calling thread's deliveries back until the block ends (and no outer deferral remains)."""
        self.enter()
        try:
            yield
        finally:
            self.exit()

    @property
    def in_flight(self) -> int:
        """Deliveries posted by any thread and not done yet."""
        with self._settled:
            return self._in_flight

    def wait_settled(self, timeout_s: float) -> bool:
        """Wait until no delivery of any thread is waiting or running: ``True``; ``False`` after ``timeout_s``.
        A thread must not wait for its own deferred deliveries (they go out after it returns)."""
        with self._settled:
            return self._settled.wait_for(lambda: self._in_flight == 0, timeout=timeout_s)

    def post(self, delivery: Delivery) -> None:
        """Queue ``delivery``; run it now if the calling thread is not deferring."""
        local = self._state()
        with self._settled:
            self._in_flight += 1
        local.queue.append(delivery)
        if local.depth == 0:
            self.flush()

    def flush(self) -> None:
        """Run the calling thread's queued deliveries, oldest first. A delivery never raises out of here.

        Deliveries posted while one runs (a handler that stops an instance) are delivered by that nested
        call's own deferral, before the rest of this batch.
        """
        local = self._state()
        while local.queue:
            batch, local.queue = local.queue, []
            for delivery in batch:
                try:
                    delivery()
                except Exception:  # a bug in a delivery must not break the EC2 call that emitted the event
                    log.exception("local cloud: an event delivery failed")
                finally:
                    self._done()

    def _done(self) -> None:
        with self._settled:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._settled.notify_all()


class OutboxLock:
    """A re-entrant lock that is also a deferral of its outbox: what a thread posts while holding it is
    delivered once the thread has released it entirely (and left every other deferral)."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._lock = threading.RLock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        acquired = self._lock.acquire(blocking, timeout)
        if acquired:
            self.outbox.enter()
        return acquired

    def release(self) -> None:
        self._lock.release()
        self.outbox.exit()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"OutboxLock({self._lock!r})"


def defer_during(patches: PatchSet, owner: type | ModuleType, name: str, outbox: Outbox) -> None:
    """Patch ``owner.name`` (a method) so that deliveries posted while it runs wait until it returns."""
    original = vars(defining_class(owner, name))[name] if isinstance(owner, type) else vars(owner)[name]

    @functools.wraps(original)
    def deferring(*args: Any, **kwargs: Any) -> Any:
        with outbox.deferred():
            return original(*args, **kwargs)

    patches.replace(owner, name, deferring)
