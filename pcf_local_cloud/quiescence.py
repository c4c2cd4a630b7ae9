"""Waiting until a local cloud has nothing left to do of what was already asked of it.

A client of a local-cloud server cannot see the server's threads: an EC2 event being delivered in another request's
thread, the execution a delivered event started. :func:`wait_until_quiet` returns once every transition that is due
has settled, no event delivery is waiting or running, and no Step Functions execution is running (checked again
each time an execution ends), so a test can read the outcome once instead of polling on a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pcf_local_cloud.executions import running_executions

if TYPE_CHECKING:
    from pcf_local_cloud.patching import InstalledPatches


class NotQuiet(TimeoutError):
    """The cloud still had work in hand when the time allowed ran out; the message says what."""


@dataclass(frozen=True)
class Quiet:
    """What was waited for: transitions settled at the start, and the executions seen running meanwhile."""

    settled: int
    executions_waited_for: int


def wait_until_quiet(patches: InstalledPatches, sfn: Any, timeout_s: float, *,
                     now: Callable[[], float] = time.monotonic) -> Quiet:
    """Settle what is due, then wait until no delivery is in flight and no execution runs (see the module
    docstring); :class:`NotQuiet` after ``timeout_s``. ``sfn`` is a Step Functions client of the cloud."""
    deadline = now() + timeout_s
    settled = patches.settle_due()
    seen: set[str] = set()
    while True:
        if not patches.state.outbox.wait_settled(max(0.0, deadline - now())):
            raise NotQuiet(f"{patches.state.outbox.in_flight} event deliveries still in flight after {timeout_s} s")
        running = running_executions(sfn)
        seen.update(running)
        if not running and patches.state.outbox.in_flight == 0:
            return Quiet(settled, len(seen))
        if now() >= deadline:
            raise NotQuiet(f"executions still running after {timeout_s} s: {running}")
        patches.execution_ends.sleep(0)  # until an execution ends (at most its fallback interval)
