"""Ctrl-C during an apply: stop the waiting worker threads too, so the command ends promptly."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SLEEP_SLICE = 0.25


class Interrupted(KeyboardInterrupt):
    """Raised in a worker thread that was waiting when Ctrl-C arrived."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C, once the command has stopped what it started; ``summary`` says what, in one line."""

    def __init__(self, summary: str) -> None:
        super().__init__(summary)
        self.summary = summary


class Cancellation:
    """A flag set by Ctrl-C; ``sleep_with`` makes a sleep that gives up once it is set."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def sleep_with(self, sleep: Callable[[float], None]) -> Callable[[float], None]:
        """``sleep`` in slices of at most ``SLEEP_SLICE`` seconds, raising ``Interrupted`` once cancelled."""

        def cancellable(seconds: float) -> None:
            remaining = seconds
            while True:
                if self.event.is_set():
                    raise Interrupted()
                if remaining <= 0:
                    return
                step = min(remaining, SLEEP_SLICE)
                sleep(step)
                remaining -= step

        return cancellable

    @contextmanager
    def on_sigint(self) -> Iterator[Cancellation]:
        """While inside, Ctrl-C sets the flag, then raises ``KeyboardInterrupt`` as usual (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            self.event.set()
            raise KeyboardInterrupt()

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)
