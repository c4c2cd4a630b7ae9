"""Waiting for a Step Functions execution a test started (or a Lambda started) to end."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pcf_local_cloud.clock import VirtualClock


def finished(sfn: Any, arn: str, *, attempts: int = 600, pause: float = 0.02) -> str:
    """The execution's final status; ``AssertionError`` if it is still running after ``attempts`` checks."""
    for _ in range(attempts):
        status = str(sfn.describe_execution(executionArn=arn)["status"])
        if status != "RUNNING":
            return status
        time.sleep(pause)
    raise AssertionError(f"{arn} still running")


@contextmanager
def time_passing(clock: VirtualClock, seconds: float, every: float = 0.02) -> Iterator[None]:
    """Move the cloud's virtual clock ``seconds`` every ``every`` real seconds while the block runs, as time passes
    on AWS while a command waits (a callback task's heartbeat ends)."""
    done = threading.Event()

    def tick() -> None:
        while not done.wait(every):
            clock.advance(seconds)

    ticker = threading.Thread(target=tick, name="time-passing", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
