"""The ``.sync`` wait of the local cloud: a waiting parent checks its child again as soon as an execution ends."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from pcf_local_cloud.execution_signal import ExecutionEndSignal
from pcf_local_cloud.patching import active_patches
from pcf_local_cloud.waits import SYNC_FALLBACK_SECONDS
from tests.support.executions import finished

FOREVER = 3600.0


def sleeping(ends: ExecutionEndSignal, times: int) -> tuple[threading.Thread, list[int]]:
    """A thread calling ``ends.sleep`` ``times`` times, noting how many executions had ended after each."""
    seen: list[int] = []

    def run() -> None:
        for _ in range(times):
            ends.sleep(0.5)
            seen.append(ends.ended)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, seen


def test_a_thread_that_has_seen_nothing_yet_checks_at_once() -> None:
    thread, seen = sleeping(ExecutionEndSignal(FOREVER), times=1)
    thread.join(timeout=30)
    assert not thread.is_alive() and seen == [0]


def test_a_sleep_ends_when_an_execution_ends_and_not_before() -> None:
    ends = ExecutionEndSignal(FOREVER)
    thread, seen = sleeping(ends, times=2)
    thread.join(timeout=0.5)
    assert thread.is_alive() and seen == [0], "waiting: nothing has ended"

    ends.notify()
    thread.join(timeout=30)

    assert not thread.is_alive() and seen == [0, 1]


def test_an_end_between_a_check_and_the_next_sleep_is_not_missed() -> None:
    ends = ExecutionEndSignal(FOREVER)
    ends.sleep(0.5)  # this thread's first sleep: it has now seen 0 ends
    ends.notify()  # the child ends after the check, before the sleep
    ends.sleep(0.5)  # returns at once (were it missed, this test would hang for an hour)
    assert ends.ended == 1


def test_without_any_end_a_sleep_ends_after_the_fallback() -> None:
    thread, seen = sleeping(ExecutionEndSignal(0.01), times=3)
    thread.join(timeout=30)
    assert not thread.is_alive() and seen == [0, 0, 0]


def test_the_fallback_must_be_positive() -> None:
    with pytest.raises(ValueError, match="fallback_seconds"):
        ExecutionEndSignal(0)
    assert SYNC_FALLBACK_SECONDS > 0


def test_every_ended_execution_of_the_cloud_is_signalled(cloud: Any) -> None:
    patches = active_patches()
    assert patches is not None
    before = patches.execution_ends.ended
    sfn = cloud.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="pass", roleArn="arn:aws:iam::123456789012:role/sfn",
        definition='{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}')["stateMachineArn"]
    for name in ("one", "two"):
        assert finished(sfn, sfn.start_execution(stateMachineArn=machine, name=name)["executionArn"]) == "SUCCEEDED"
    assert patches.execution_ends.ended - before == 2
