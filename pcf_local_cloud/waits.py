"""Waits inside the local cloud, on the cloud's clock, so that tests on a ``VirtualClock`` never really sleep.

- moto's Step Functions interpreter sleeps between Retry attempts (``time.sleep`` in its retrier);
- botocore sleeps between a client's own retries (``time.sleep`` in ``botocore.endpoint``), e.g. after a
  throttling error the local cloud injected.

Both are routed through the local cloud's clock: their intervals are still computed as AWS and botocore do
(backoff, jitter), only the waiting is the clock's. On a ``RealClock`` nothing changes.

moto also checks a ``.sync`` child execution every 0.5 s. On AWS the parent learns of its child's end from an
event, without polling; here the sleep between two checks ends as soon as any execution has ended
(``ExecutionEndSignal``), or after ``SYNC_FALLBACK_SECONDS``. Polling at a fixed short interval instead made the
checks themselves take the CPU: at 0.02 s they took 90 of 144 s of a 100-particle apply (benchmarks/README.md).
"""

from __future__ import annotations

import time
from typing import Any

from botocore import endpoint as botocore_endpoint
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback

from pcf_local_cloud.clock import Clock
from pcf_local_cloud.execution_signal import ExecutionEndSignal, SignalledTime
from pcf_local_cloud.patchset import PatchSet

SYNC_FALLBACK_SECONDS = 1.0
"""The longest a ``.sync`` Task waits between two checks of its child when no execution ends meanwhile."""


class _ClockTime:
    """Looks like the ``time`` module to the module it replaces it in, but sleeps on the local cloud's clock."""

    def __init__(self, clock: Clock) -> None:
        self.sleep = clock.sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class CloudWaits:
    """Installs the changes of the module docstring on a ``PatchSet``."""

    def __init__(self, clock: Clock, ends: ExecutionEndSignal) -> None:
        self.clock = clock
        self.ends = ends

    def install(self, patches: PatchSet) -> None:
        patches.replace(retrier_decl, "time", _ClockTime(self.clock))
        patches.replace(botocore_endpoint, "time", _ClockTime(self.clock))
        patches.replace(state_task_service_callback, "time", SignalledTime(self.ends))
