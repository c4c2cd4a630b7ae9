"""A background thread that calls a function every ``interval_s`` seconds of real time, until stopped.

The local cloud fires scheduled EventBridge rules on demand; with a real clock (a server, a long-running job) a
ticker fires them regularly. (Timed EC2 transitions no longer need it: ``deadlines`` settles each at its time.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Ticker:
    """Calls ``tick()`` every ``interval_s`` real seconds on a daemon thread; errors are logged, not raised."""

    def __init__(self, tick: Callable[[], object], interval_s: float, name: str = "pcf-local-cloud-ticker") -> None:
        if interval_s <= 0:
            raise ValueError("the ticker interval must be positive")
        self.interval_s = interval_s
        self.ticks = 0
        self._tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the thread to stop and wait for the tick in progress, if any (idempotent)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._tick()
            except Exception:
                log.exception("local cloud: a tick failed")
            self.ticks += 1
