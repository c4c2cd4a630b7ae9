"""Counting AWS API calls with botocore's event hooks, split into setup calls and poll calls.

``PollPhases`` plugs into a ``Runtime`` (its ``sleep`` and ``on_event``) and tells, per thread, which
phase of a particle's convergence the calls being made belong to. The engine's loop for one particle is
sync -> decide -> transition -> (sleep -> sync)* -> done, in one thread, so:

- ``setup``: calls before the particle's first poll sleep, and again from each ``transition`` event on
  (the first sync, the transition's own calls, the sync right after it);
- ``poll``: calls after a poll sleep, until the next transition or the end of the particle. Each sleep
  is followed by exactly one poll, so poll calls divided by sleeps is the cost of one poll.

``ApiCallCounter.hook`` is a ``ClientFactory`` hook: it registers ``before-call``/``after-call``
handlers on every client, counting calls by (service, operation, phase), errors, and time spent.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pcf.core.runtime import ApplyEvent, EventKind


class Phase(StrEnum):
    """Which part of a particle's convergence an API call belongs to."""

    setup = "setup"
    poll = "poll"


class PollPhases:
    """Per-thread convergence phase, plus the timing of levels, transitions and completions.

    Event times are the ``Runtime``'s clock readings.

    Args:
        sleep: the real sleep the wrapped ``sleep`` delegates to.
    """

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._real_sleep = sleep
        self._local = threading.local()
        self._lock = threading.Lock()
        self.sleeps = 0
        self.slept = 0.0
        self.level_starts: list[float] = []
        self.first_transition: dict[str, float] = {}
        self.last_transition: dict[str, float] = {}
        self.finished: dict[str, float] = {}

    def current(self) -> Phase:
        """The calling thread's phase."""
        return getattr(self._local, "phase", Phase.setup)

    def sleep(self, seconds: float) -> None:
        """The ``Runtime.sleep``: really sleeps, then marks the thread as polling."""
        with self._lock:
            self.sleeps += 1
            self.slept += seconds
        self._real_sleep(seconds)
        self._local.phase = Phase.poll

    def on_event(self, event: ApplyEvent) -> None:
        """The ``Runtime.on_event``: phase changes on transitions and particle ends; times recorded."""
        if event.kind is EventKind.level:
            with self._lock:
                self.level_starts.append(event.at)
        elif event.kind is EventKind.transition:
            self._local.phase = Phase.setup
            with self._lock:
                self.first_transition.setdefault(event.pcf_id, event.at)
                self.last_transition[event.pcf_id] = event.at
        elif event.kind in (EventKind.done, EventKind.failed):
            self._local.phase = Phase.setup  # the thread's next particle starts with its setup
            with self._lock:
                self.finished[event.pcf_id] = event.at


@dataclass(frozen=True)
class CallCounts:
    """A snapshot of an ``ApiCallCounter``."""

    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    errors: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)

    def total(self, service: str, phase: Phase | None = None) -> int:
        """Calls to ``service`` (all phases, or one)."""
        return sum(n for (svc, _op, ph), n in self.calls.items() if svc == service and (phase is None or ph == phase))

    def by_operation(self, service: str) -> dict[str, dict[str, int]]:
        """``{operation: {phase: calls}}`` for ``service``, operations sorted by name."""
        table: dict[str, dict[str, int]] = {}
        for (svc, op, ph), n in sorted(self.calls.items()):
            if svc == service:
                table.setdefault(op, {})[ph] = n
        return table

    def error_codes(self, service: str) -> dict[str, int]:
        """``{"Operation: ErrorCode": count}`` for ``service``."""
        return {f"{op}: {code}": n for (svc, op, code), n in sorted(self.errors.items()) if svc == service}

    def mean_latency(self, service: str) -> float:
        """Mean seconds from ``before-call`` to ``after-call`` for ``service`` (0 with no calls)."""
        count = self.total(service)
        return self.seconds.get(service, 0.0) / count if count else 0.0


class ApiCallCounter:
    """Counts API calls made through the clients it is hooked into (thread-safe).

    Args:
        phase_of: names the phase of the calling thread (``PollPhases.current``).
        clock: measures call latency.
    """

    def __init__(
        self, phase_of: Callable[[], Phase] = lambda: Phase.setup, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._phase_of = phase_of
        self._clock = clock
        self._lock = threading.Lock()
        self._local = threading.local()
        self._calls: Counter[tuple[str, str, str]] = Counter()
        self._errors: Counter[tuple[str, str, str]] = Counter()
        self._seconds: dict[str, float] = {}

    def hook(self, service: str, client: Any) -> None:
        """A ``ClientFactory`` hook: count every call ``client`` makes from now on."""
        events = client.meta.events
        events.register("before-call", self._make_before(service), unique_id=f"bench-count-before-{id(self)}")
        events.register("after-call", self._make_after(service), unique_id=f"bench-count-after-{id(self)}")

    def reset(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self._calls.clear()
            self._errors.clear()
            self._seconds.clear()

    def snapshot(self) -> CallCounts:
        """What has been counted so far."""
        with self._lock:
            return CallCounts(Counter(self._calls), Counter(self._errors), dict(self._seconds))

    def _make_before(self, service: str) -> Callable[..., None]:
        def before_call(model: Any, **_: Any) -> None:
            with self._lock:
                self._calls[(service, model.name, str(self._phase_of()))] += 1
            self._local.started = self._clock()

        return before_call

    def _make_after(self, service: str) -> Callable[..., None]:
        def after_call(model: Any, parsed: Any = None, **_: Any) -> None:
            started = getattr(self._local, "started", None)
            elapsed = 0.0 if started is None else self._clock() - started
            code = (parsed or {}).get("Error", {}).get("Code") if isinstance(parsed, dict) else None
            with self._lock:
                self._seconds[service] = self._seconds.get(service, 0.0) + elapsed
                if code:
                    self._errors[(service, model.name, str(code))] += 1

        return after_call
