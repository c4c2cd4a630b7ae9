"""Ending a local cloud's Step Functions executions with the cloud.

moto runs each execution in a thread of its own. One still running when its cloud stops would go on calling
the moto backends, which by then belong to the next cloud of the process (a test's leftover writing into the
next test's table). Stopping a cloud therefore stops its running executions and waits, boundedly, until each
has returned from the state it was in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

STOP_WAIT_SECONDS = 10.0


def running_executions(sfn: Any) -> list[str]:
    """The ARNs of every ``RUNNING`` execution of every state machine."""
    arns = []
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            for executions in sfn.get_paginator("list_executions").paginate(
                    stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"):
                arns += [execution["executionArn"] for execution in executions["executions"]]
    return arns


def stop_all(sfn: Any, *, timeout_s: float = STOP_WAIT_SECONDS, sleep: Callable[[float], None] = time.sleep,
             now: Callable[[], float] = time.monotonic) -> list[str]:
    """Stop every running execution and wait up to ``timeout_s`` for them to end; the ARNs still running."""
    arns = running_executions(sfn)
    for arn in arns:
        try:
            sfn.stop_execution(executionArn=arn, error="LocalCloudStopped", cause="the local cloud was stopped")
        except Exception:  # one that ended meanwhile, or whose worker has not started (moto raises)
            continue
    deadline = now() + timeout_s
    remaining = list(arns)
    while remaining and now() < deadline:
        remaining = [arn for arn in remaining if sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"]
        if remaining:
            sleep(0.02)
    return remaining
