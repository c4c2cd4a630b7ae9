"""What an apply needs from the outside world: clock, sleep, concurrency, polling, progress."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from pcf.core import State
from pcf.core.decision import Action


@dataclass(frozen=True)
class PollPolicy:
    """Backoff between polls of a particle in transition: ``initial`` growing by ``factor`` to ``maximum``."""

    initial: float = 0.5
    factor: float = 1.5
    maximum: float = 1.5

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield delay
            delay = min(self.maximum, delay * self.factor)


class EventKind(StrEnum):
    """What an ``ApplyEvent`` reports."""

    level = "level"
    observed = "observed"
    transition = "transition"
    done = "done"
    failed = "failed"
    rollback = "rollback"


@dataclass(frozen=True)
class ApplyEvent:
    """One progress event of an apply, for logs and the CLI."""

    kind: EventKind
    pcf_id: str
    state: State | None = None
    action: Action | None = None
    detail: str = ""
    at: float = 0.0


@dataclass
class Runtime:
    """Injected time, sleep, concurrency bound, poll backoff and a progress callback."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    max_workers: int = 16
    poll: PollPolicy = field(default_factory=PollPolicy)
    on_event: Callable[[ApplyEvent], None] | None = None

    def emit(
        self,
        kind: EventKind,
        pcf_id: str,
        *,
        state: State | None = None,
        action: Action | None = None,
        detail: str = "",
    ) -> None:
        if self.on_event is not None:
            self.on_event(ApplyEvent(kind, pcf_id, state, action, detail, self.clock()))
