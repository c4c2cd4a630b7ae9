"""Waiting for a Step Functions execution a test started (or a Lambda started) to end."""

from __future__ import annotations

import time
from typing import Any


def finished(sfn: Any, arn: str, *, attempts: int = 600, pause: float = 0.02) -> str:
    """The execution's final status; ``AssertionError`` if it is still running after ``attempts`` checks."""
    for _ in range(attempts):
        status = str(sfn.describe_execution(executionArn=arn)["status"])
        if status != "RUNNING":
            return status
        time.sleep(pause)
    raise AssertionError(f"{arn} still running")
