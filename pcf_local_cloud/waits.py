"""Waits inside the local cloud, on the cloud's clock, so that tests on a ``VirtualClock`` never really sleep.

- moto's Step Functions interpreter sleeps between Retry attempts;
- botocore sleeps between a client's own retries, e.g. after a throttling error the local cloud injected.

Both are routed through the local cloud's clock: their intervals are still computed as AWS and botocore do
(backoff, jitter), only the waiting is the clock's. On a ``RealClock`` nothing changes.

moto also checks a ``.sync`` child execution every 0.5 s. On AWS the parent learns of its child's end from an
event, without polling; here the sleep between two checks ends as soon as any execution has ended
(``ExecutionEndSignal``), or after ``SYNC_FALLBACK_SECONDS``. Polling at a fixed short interval instead made the
checks themselves take the CPU: at 0.02 s they took 90 of 144 s of a 100-particle apply (benchmarks/README.md).

Neither moto nor botocore offers a setting for these sleeps: the hooks are in ``moto_private``.
"""

from __future__ import annotations

from pcf_local_cloud.clock import Clock
from pcf_local_cloud.execution_signal import ExecutionEndSignal
from pcf_local_cloud.moto_private import retry_sleeps, sync_check_sleep
from pcf_local_cloud.patchset import PatchSet

SYNC_FALLBACK_SECONDS = 1.0
"""The longest a ``.sync`` Task waits between two checks of its child when no execution ends meanwhile."""


class CloudWaits:
    """Installs the changes of the module docstring on a ``PatchSet``."""

    def __init__(self, clock: Clock, ends: ExecutionEndSignal) -> None:
        self.clock = clock
        self.ends = ends

    def install(self, patches: PatchSet) -> None:
        retry_sleeps(patches, self.clock.sleep)
        sync_check_sleep(patches, self.ends.sleep)
