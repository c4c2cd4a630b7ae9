"""The settings and the lock shared by every patch the local cloud installs into moto."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from pcf_local_cloud.clock import Clock, RealClock


@dataclass
class EmulationState:
    """What the moto patches read on every call.

    Args:
        clock: where transition deadlines are measured.
        pending_seconds: how long an instance stays ``pending``, ``stopping`` or ``shutting-down``
            after a call starts that transition (0: instant, as plain moto).
        volume_pending_seconds: how long a new volume stays ``creating`` (0: instant).

    The two durations may be changed while the patches are installed; they apply to transitions that
    start afterwards.
    """

    clock: Clock = field(default_factory=RealClock)
    pending_seconds: float = 0.0
    volume_pending_seconds: float = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.pending_seconds < 0 or self.volume_pending_seconds < 0:
            raise ValueError("pending durations must be non-negative")
