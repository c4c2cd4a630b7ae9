"""Waiting for a Step Functions execution a test started (or a Lambda started) to end."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
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


def passing_time(clock: VirtualClock, seconds: float, pause: float = 0.01) -> Callable[[float], None]:
    """A ``sleep`` for a test's wait on an execution that also moves the cloud's virtual clock ``seconds`` each
    time, as time passes on AWS: what waits on the clock alone (a callback task's heartbeat) ends too."""

    def sleep(_: float) -> None:
        time.sleep(pause)
        clock.advance(seconds)

    return sleep


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
