"""Following an execution: incremental history reads, progress events from the parent and its particle
executions, and how the execution ended (hand-written histories; no Step Functions)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pcf_cli.follow import ExecutionFollower, FollowEvent, HistoryCursor, cause_message
from tests.cli.sfn_fakes import PARENT, FakeStepFunctions, History, child_arn, sync

MASTER, WORKER = "ec2_instance:master", "ec2_instance:worker-0"
START = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
STOP = datetime(2027, 1, 15, 8, 0, 9, tzinfo=UTC)


def numbered(count: int) -> History:
    history = History()
    for _ in range(count):
        history.add("PassStateEntered", stateEnteredEventDetails={"name": "x"})
    return history


@pytest.mark.parametrize("paged", [True, False], ids=["paged like AWS", "whole history like moto"])
def test_a_cursor_returns_each_event_once_in_order(paged: bool) -> None:
    history = numbered(250)
    sfn = FakeStepFunctions({PARENT: history}, paged=paged)
    cursor = HistoryCursor(sfn, PARENT, page_size=100)

    first = cursor.read_new()
    history.add("PassStateExited")
    history.add("PassStateEntered")
    second = cursor.read_new()
    third = cursor.read_new()

    assert [e["id"] for e in first] == list(range(1, 251))
    assert [e["id"] for e in second] == [251, 252]
    assert third == []
    assert not cursor.finished


def test_a_cursor_pages_back_only_to_what_it_has_seen() -> None:
    history = numbered(250)
    sfn = FakeStepFunctions({PARENT: history})
    cursor = HistoryCursor(sfn, PARENT, page_size=100)
    cursor.read_new()
    sfn.calls.clear()

    for _ in range(3):
        history.add("PassStateEntered")
    cursor.read_new()

    assert sfn.calls == [(PARENT, None)], "three new events come in the first (newest) page"


def test_a_cursor_stops_reading_once_the_execution_ended() -> None:
    history = numbered(2)
    history.succeeded({})
    sfn = FakeStepFunctions({PARENT: history})
    cursor = HistoryCursor(sfn, PARENT)

    assert [e["type"] for e in cursor.read_new()][-1] == "ExecutionSucceeded"
    assert cursor.finished
    assert cursor.read_new() == []
    assert len(sfn.calls) == 1


def a_running_apply() -> FakeStepFunctions:
    """An apply of master then worker-0: the master converged, worker-0's execution is under way."""
    parent, master, worker = History(), History(), History()
    parent.started({"definition": {}})
    parent.task("Plan", {"pcf_id": "quasiparticle:c", "particles": 2, "generations": {MASTER: 1, WORKER: 1},
                         "phases": [{"phase": "start", "levels": [[MASTER], [WORKER]]}]})
    parent.level([MASTER])
    parent.submitted(child_arn("m"))
    master.started({"pcf_id": MASTER})
    master.task("AcquireLease", {"pcf_id": MASTER, "owner": PARENT, "held": True})
    master.task("Sync", sync(MASTER, "terminated", "start", "terminated -> running"))
    master.task("Start", {"pcf_id": MASTER, "action": "start", "generation": 1})
    master.task("Sync", sync(MASTER, "pending", "wait", "pending", "i-0abc"))
    master.task("Sync", sync(MASTER, "pending", "wait", "pending", "i-0abc"))
    master.task("Sync", sync(MASTER, "running", "done", "running as desired", "i-0abc"))
    master.succeeded({"pcf_id": MASTER, "state": "running"})
    parent.level([WORKER])
    parent.submitted(child_arn("w"))
    worker.started({"pcf_id": WORKER})
    worker.task("Sync", sync(WORKER, "terminated", "start", "terminated -> running"))
    histories = {PARENT: parent, child_arn("m"): master, child_arn("w"): worker}
    return FakeStepFunctions(histories, {PARENT: {"status": "RUNNING", "startDate": START}})


def lines(events: list[FollowEvent]) -> list[tuple[str, str, str]]:
    return [(e.kind, e.pcf_id, e.detail or (e.state or "")) for e in events]


def test_progress_comes_from_the_parent_and_each_particle_execution_in_time_order() -> None:
    sfn = a_running_apply()
    follower = ExecutionFollower(sfn, PARENT, sleep=lambda s: None)

    found = follower.poll()

    assert lines(found) == [
        ("level", MASTER, "start level 1"),
        ("observed", MASTER, "terminated"),
        ("transition", MASTER, "terminated -> running"),
        ("observed", MASTER, "pending"),
        ("observed", MASTER, "running"),
        ("done", MASTER, "running as desired"),
        ("level", WORKER, "start level 2"),
        ("observed", WORKER, "terminated"),
    ]
    assert [e.resource_id for e in found if e.kind == "observed"] == [None, "i-0abc", "i-0abc", None]
    assert found[2].action == "start" and found[2].state == "terminated"
    assert [e.at for e in found] == sorted(e.at for e in found)
    assert follower.planned == [MASTER, WORKER]
    assert follower.started_at == sfn.histories[PARENT].events[0]["timestamp"].timestamp()
    assert follower.poll() == []


def test_a_poll_reads_only_what_is_new_and_skips_finished_particle_executions() -> None:
    sfn = a_running_apply()
    follower = ExecutionFollower(sfn, PARENT, sleep=lambda s: None)
    follower.poll()
    follower.poll()  # reads the parent again: the master's execution ended in the first poll
    sfn.calls.clear()

    sfn.histories[child_arn("w")].task("Start", {"pcf_id": WORKER, "action": "start", "generation": 1})
    found = follower.poll()

    assert lines(found) == [("transition", WORKER, "terminated -> running")]
    assert child_arn("m") not in {arn for arn, _ in sfn.calls}, "the master's execution had ended"
    assert PARENT not in {arn for arn, _ in sfn.calls}, "nothing ended since the parent was last read"


def test_the_state_a_transition_left_shows_at_once_and_once() -> None:
    sfn = a_running_apply()
    follower = ExecutionFollower(sfn, PARENT, sleep=lambda s: None)
    follower.poll()
    follower.poll()

    worker = sfn.histories[child_arn("w")]
    worker.task("Start", {"pcf_id": WORKER, "action": "start", "generation": 1, "state": "pending",
                          "resource_id": "i-0def"})
    worker.task("Sync", sync(WORKER, "pending", "wait", "pending", "i-0def"))
    found = follower.poll()

    assert lines(found) == [("transition", WORKER, "terminated -> running"), ("observed", WORKER, "pending")]
    assert found[1].resource_id == "i-0def"
    assert found[1].at == found[0].at, "seen when the transition returned, not a poll later"


def test_the_parent_is_read_after_a_particle_execution_ends() -> None:
    sfn = a_running_apply()
    follower = ExecutionFollower(sfn, PARENT, sleep=lambda s: None, parent_every=100)
    follower.poll()
    worker = sfn.histories[child_arn("w")]
    worker.task("Sync", sync(WORKER, "running", "done", "running as desired", "i-0def"))
    worker.succeeded({"pcf_id": WORKER, "state": "running"})
    follower.poll()  # reads worker-0's end
    sfn.calls.clear()

    follower.poll()

    assert sfn.calls[0] == (PARENT, None)


def test_at_most_max_child_reads_histories_a_poll_least_recently_read_first() -> None:
    parent = History()
    parent.started({})
    children = {child_arn(str(i)): History() for i in range(5)}
    for arn, history in children.items():
        parent.submitted(arn)
        history.started({"pcf_id": f"p:{arn[-1]}"})
    sfn = FakeStepFunctions({PARENT: parent, **children})
    follower = ExecutionFollower(sfn, PARENT, sleep=lambda s: None, max_child_reads=2)

    read: list[list[str]] = []
    for _ in range(3):
        sfn.calls.clear()
        follower.poll()
        read.append(sorted(arn[-1] for arn, _ in sfn.calls if arn != PARENT))

    assert read == [["0", "1"], ["2", "3"], ["0", "4"]]


def test_the_end_a_failed_particle_and_the_error_message() -> None:
    parent, child = History(), History()
    parent.started({})
    parent.level(["p:a"])
    parent.submitted(child_arn("a"))
    child.started({"pcf_id": "p:a"})
    child.task("Sync", sync("p:a", "pending", "wait", "pending", "i-1"))
    child.failed("ParticleTimeoutError", "p:a did not reach its desired state after 2 polls (last seen: pending)")
    parent.task("RecordFailure", {"pcf_id": "p:a", "error": "ParticleTimeoutError", "cause": "p:a: too slow"})
    cause = json.dumps({"errorMessage": "1 of 1 particle(s) failed: p:a: ParticleTimeoutError: too slow",
                        "errorType": "ParticleTimeoutError", "stackTrace": ["..."]})
    parent.failed("ParticleTimeoutError", cause)
    sfn = FakeStepFunctions({PARENT: parent, child_arn("a"): child}, paged=False, descriptions={PARENT: {
        "status": "FAILED", "error": "ParticleTimeoutError", "cause": cause, "startDate": START, "stopDate": STOP}})
    slept: list[float] = []
    follower = ExecutionFollower(sfn, PARENT, sleep=slept.append)

    events = list(follower.events())

    assert ("failed", "p:a", "ParticleTimeoutError: p:a: too slow") in lines(events)
    assert follower.outcome is not None and not follower.outcome.succeeded
    assert follower.outcome.error == "ParticleTimeoutError"
    assert follower.outcome.message == "1 of 1 particle(s) failed: p:a: ParticleTimeoutError: too slow"
    assert follower.outcome.elapsed == 9.0
    assert slept == [], "it ended in the first poll"


def test_following_sleeps_between_polls_until_the_end() -> None:
    parent = History()
    parent.started({})
    sfn = FakeStepFunctions({PARENT: parent}, descriptions={PARENT: {
        "status": "SUCCEEDED", "output": json.dumps({"pcf_id": "p:a", "particles": 1, "states": {"running": 1}}),
        "startDate": START, "stopDate": STOP}})
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:
            parent.succeeded({})

    follower = ExecutionFollower(sfn, PARENT, sleep=sleep, clock=iter(range(100)).__next__, poll_seconds=0.5,
                                 idle_factor=0.25)
    list(follower.events())

    assert slept == [0.5, 0.5, 0.5]
    assert follower.outcome is not None and follower.outcome.output["states"] == {"running": 1}


def test_a_slow_read_makes_the_next_sleep_longer() -> None:
    parent = History()
    parent.started({})
    sfn = FakeStepFunctions({PARENT: parent}, descriptions={PARENT: {"status": "SUCCEEDED", "output": "{}"}})
    ticks = iter([0.0, 1.0, 5.0])  # the first poll takes a second
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        parent.succeeded({})

    follower = ExecutionFollower(sfn, PARENT, sleep=sleep, clock=lambda: next(ticks), poll_seconds=0.25,
                                 idle_factor=2.0)
    list(follower.events())

    assert slept == [2.0]


@pytest.mark.parametrize(
    ("cause", "message"),
    [
        ('{"errorMessage": "desired_state: bad", "errorType": "ExecutionInputError"}', "desired_state: bad"),
        (json.dumps({"Status": "FAILED", "Cause": '{"errorMessage": "deep"}'}), "deep"),
        ("plain words", "plain words"),
        (None, ""),
    ],
)
def test_cause_message_reads_lambda_errors_and_child_executions(cause: str | None, message: str) -> None:
    assert cause_message(cause) == message
