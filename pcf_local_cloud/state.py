"""The settings, the lock and the event outbox shared by every patch the local cloud installs into moto."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pcf_local_cloud.clock import Clock, RealClock
from pcf_local_cloud.outbox import Outbox, OutboxLock

DEFAULT_INDEX_BACKFILL_SECONDS = 300.0
"""How long a global secondary index that ``UpdateTable`` adds stays ``CREATING`` (unreadable) by default. AWS gives
no figure: the build has a resource-allocation phase and then a backfill whose length grows with the table and the
index's write capacity (knowledge center "create-gsi-dynamodb"), so even a small table's index takes minutes, never
an instant; five minutes keeps code that reads a new index at once failing locally. Tests pass their own value."""


@dataclass
class EmulationState:
    """What the moto patches read on every call.

    Args:
        clock: where transition deadlines are measured.
        pending_seconds: how long an instance stays ``pending``, ``stopping`` or ``shutting-down``
            after a call starts that transition (0: instant, as plain moto).
        volume_pending_seconds: how long a new volume stays ``creating`` (0: instant).
        index_backfill_seconds: how long a global secondary index added by ``UpdateTable`` stays ``CREATING``
            and unreadable (see :mod:`pcf_local_cloud.dynamodb_index_changes`).
        epoch: the wall time (Unix seconds) that the clock's reading at creation stands for; events are
            stamped ``epoch + (clock.now() - that reading)``. The current wall time by default.

    The durations may be changed while the patches are installed; they apply to transitions that
    start afterwards. ``lock`` is re-entrant; events posted to ``outbox`` while a thread holds it are
    delivered once the thread has released it entirely.
    """

    clock: Clock = field(default_factory=RealClock)
    pending_seconds: float = 0.0
    volume_pending_seconds: float = 0.0
    epoch: float | None = None
    index_backfill_seconds: float = DEFAULT_INDEX_BACKFILL_SECONDS
    outbox: Outbox = field(default_factory=Outbox, repr=False, compare=False)
    lock: OutboxLock = field(init=False, repr=False, compare=False)
    _origin: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if min(self.pending_seconds, self.volume_pending_seconds, self.index_backfill_seconds) < 0:
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
