"""Step Functions timing in the local cloud: Retry intervals on the cloud's clock, child executions noticed fast.

moto's interpreter sleeps for real between Retry attempts (``time.sleep`` in its retrier) and checks a
``.sync`` child execution every 0.5 s. The first is routed through the local cloud's clock, so on a
``VirtualClock`` a Retry costs no real time (its interval is still computed, with backoff and jitter, as
AWS does). The second is shortened to ``SYNC_CHECK_SECONDS``: on AWS a parent learns of its child's end
from an event, without polling.
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback

from pcf_local_cloud.clock import Clock
from pcf_local_cloud.patchset import PatchSet

SYNC_CHECK_SECONDS = 0.02


class _ClockTime:
    """Looks like the ``time`` module to the retrier, but sleeps on the local cloud's clock."""

    def __init__(self, clock: Clock) -> None:
        self.sleep = clock.sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class StepFunctionsTiming:
    """Installs both changes (see the module docstring) on a ``PatchSet``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def install(self, patches: PatchSet) -> None:
        module: ModuleType = retrier_decl
        patches.replace(module, "time", _ClockTime(self.clock))
        patches.replace(state_task_service_callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", SYNC_CHECK_SECONDS)
