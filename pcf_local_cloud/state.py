"""The settings, the lock and the event outbox shared by every patch the local cloud installs into moto."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pcf_local_cloud.clock import Clock, RealClock
from pcf_local_cloud.outbox import Outbox, OutboxLock


@dataclass
class EmulationState:
    """What the moto patches read on every call.

    Args:
        clock: where transition deadlines are measured.
        pending_seconds: how long an instance stays ``pending``, ``stopping`` or ``shutting-down``
            after a call starts that transition (0: instant, as plain moto).
        volume_pending_seconds: how long a new volume stays ``creating`` (0: instant).
        epoch: the wall time (Unix seconds) that the clock's reading at creation stands for; events are
            stamped ``epoch + (clock.now() - that reading)``. The current wall time by default.

    The two durations may be changed while the patches are installed; they apply to transitions that
    start afterwards. ``lock`` is re-entrant; events posted to ``outbox`` while a thread holds it are
    delivered once the thread has released it entirely.
    """

    clock: Clock = field(default_factory=RealClock)
    pending_seconds: float = 0.0
    volume_pending_seconds: float = 0.0
    epoch: float | None = None
    outbox: Outbox = field(default_factory=Outbox, repr=False, compare=False)
    lock: OutboxLock = field(init=False, repr=False, compare=False)
    _origin: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.pending_seconds < 0 or self.volume_pending_seconds < 0:
            raise ValueError("pending durations must be non-negative")
        self.lock = OutboxLock(self.outbox)
        self._origin = self.clock.now()
        if self.epoch is None:
            self.epoch = time.time()

    def wall_time(self, at: float | None = None) -> float:
        """Unix seconds for the clock reading ``at`` (now by default): the time events carry."""
        reading = self.clock.now() if at is None else at
        return float(self.epoch or 0.0) + (reading - self._origin)

    def clock_time(self, wall: float) -> float:
        """The clock reading for the Unix time ``wall`` (the inverse of :meth:`wall_time`)."""
        return self._origin + (wall - float(self.epoch or 0.0))
