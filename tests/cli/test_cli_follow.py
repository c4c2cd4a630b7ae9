"""Following an execution: incremental history reads, progress events from the parent and its page
executions, and how the execution ended (hand-written histories shaped as the local cloud's; no Step
Functions)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pcf_cli.follow import ExecutionFollower, FollowEvent, HistoryCursor, cause_message
from tests.cli.sfn_fakes import PARENT, FakeStepFunctions, History, child_arn, page_input, visit

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
    """An apply of master then worker-0, one page each: the master converged in three visits (started, pending,
    running), worker-0's page is under way (its first visit found the instance stopped and started it)."""
    parent, master, worker = History(), History(), History()
    parent.started({"definition": {}})
    parent.plan("quasiparticle:c", [{"phase": "start", "level": 0, "particles": 1, "pages": [0]},
                                    {"phase": "start", "level": 1, "particles": 1, "pages": [0]}])
    parent.level("start", 0, particles=1, pages=1)
    parent.submitted(child_arn("m"))
    master.started(page_input("start", 0, 0))
    master.task("LoadPage", {"items": [{"pcf_id": MASTER, "generation": 1, "parents": []}]})
    master.task("Converge", visit(MASTER, "later", "a transition is in progress", state="pending",
                                  resource_id="i-0abc", acted="start", found="terminated", last_resource_id="i-0abc"))
    master.task("Converge", visit(MASTER, "later", "a transition is in progress", state="pending",
                                  resource_id="i-0abc", last_resource_id="i-0abc"))
    master.task("Converge", visit(MASTER, "done", "running as desired", state="running", resource_id="i-0abc",
                                  last_resource_id="i-0abc"))
    master.succeeded({})
    parent.level("start", 1, particles=1, pages=1)
    parent.submitted(child_arn("w"))
    worker.started(page_input("start", 1, 0))
    worker.task("LoadPage", {"items": [{"pcf_id": WORKER, "generation": 1, "parents": [MASTER]}]})
    worker.task("Converge", visit(WORKER, "later", "a transition is in progress", state="pending",
                                  resource_id="i-0def", acted="start", found="stopped", last_resource_id="i-0def"))
    histories = {PARENT: parent, child_arn("m"): master, child_arn("w"): worker}
    return FakeStepFunctions(histories, {PARENT: {"status": "RUNNING", "startDate": START}})


def lines(events: list[FollowEvent]) -> list[tuple[str, str, str]]:
    return [(e.kind, e.pcf_id, e.detail or (e.state or "")) for e in events]


def test_progress_comes_from_the_parent_and_each_page_execution_in_time_order() -> None:
    sfn = a_running_apply()
    follower = ExecutionFollower(sfn, PARENT, sleep=lambda s: None)

    found = follower.poll()

    assert lines(found) == [
        ("level", "", "start level 1: 1 particle in 1 page"),
        ("observed", MASTER, "terminated"),
        ("transition", MASTER, "terminated -> running"),
        ("observed", MASTER, "pending"),
        ("observed", MASTER, "running"),
        ("done", MASTER, "running as desired"),
        ("level", "", "start level 2: 1 particle in 1 page"),
        ("observed", WORKER, "stopped"),
        ("transition", WORKER, "stopped -> running"),
        ("observed", WORKER, "pending"),
    ]
    assert [e.resource_id for e in found if e.kind == "observed"] == [None, "i-0abc", "i-0abc", "i-0def", "i-0def"]
    assert found[2].action == "start" and found[2].state == "terminated"
    assert [e.at for e in found] == sorted(e.at for e in found)
    assert follower.planned_particles == 2
    assert follower.started_at == sfn.histories[PARENT].events[0]["timestamp"].timestamp()
    assert follower.poll() == []


def test_a_level_line_counts_its_particles_and_pages() -> None:
    parent = History()
    parent.started({})
    parent.level("start", 1, particles=85, pages=3)
    parent.level("stop", 0, particles=1, pages=1)
    follower = ExecutionFollower(FakeStepFunctions({PARENT: parent}), PARENT, sleep=lambda s: None)

    assert lines(follower.poll()) == [("level", "", "start level 2: 85 particles in 3 pages"),
                                      ("level", "", "stop level 1: 1 particle in 1 page")]


def test_a_poll_reads_only_what_is_new_and_skips_finished_page_executions() -> None:
    sfn = a_running_apply()
    follower = ExecutionFollower(sfn, PARENT, sleep=lambda s: None)
    follower.poll()
    follower.poll()  # reads the parent again: the master's page ended in the first poll
    sfn.calls.clear()

    sfn.histories[child_arn("w")].task("Converge", visit(WORKER, "done", "running as desired", state="running",
                                                         resource_id="i-0def", last_resource_id="i-0def"))
    found = follower.poll()

    assert lines(found) == [("observed", WORKER, "running"), ("done", WORKER, "running as desired")]
    assert child_arn("m") not in {arn for arn, _ in sfn.calls}, "the master's page had ended"
    assert PARENT not in {arn for arn, _ in sfn.calls}, "nothing ended since the parent was last read"


def test_a_visit_that_changed_nothing_tells_nothing() -> None:
    sfn = a_running_apply()
    follower = ExecutionFollower(sfn, PARENT, sleep=lambda s: None)
    follower.poll()

    worker = sfn.histories[child_arn("w")]
    for _ in range(3):
        worker.task("Converge", visit(WORKER, "later", "a transition is in progress", state="pending",
                                      resource_id="i-0def", last_resource_id="i-0def"))

    assert follower.poll() == []


def test_a_visit_shows_the_state_it_left_at_the_time_of_its_transition() -> None:
    sfn = a_running_apply()
    follower = ExecutionFollower(sfn, PARENT, sleep=lambda s: None)

    found = [e for e in follower.poll() if e.pcf_id == WORKER]

    assert [e.kind for e in found] == ["observed", "transition", "observed"]
    assert len({e.at for e in found}) == 1, "all seen in the one visit, not a poll later"


def test_without_the_state_a_visit_found_its_transition_names_the_last_state_told() -> None:
    """Today's ``converge`` answer has no ``found``: the reason is built from what the follower saw before."""
    parent, page = History(), History()
    parent.started({})
    parent.submitted(child_arn("p"))
    page.started(page_input("start", 0, 0))
    page.task("Converge", visit(WORKER, "done", "running as desired", state="running", resource_id="i-1",
                                acted="start"))
    page.task("Converge", visit(MASTER, "done", "stopped as desired", state="stopped", resource_id="i-2"))
    sfn = FakeStepFunctions({PARENT: parent, child_arn("p"): page})
    follower = ExecutionFollower(sfn, PARENT, sleep=lambda s: None)
    follower.poll()
    page.task("Converge", visit(MASTER, "done", "running as desired", state="running", resource_id="i-2",
                                acted="start"))

    found = follower.poll()

    assert lines(found) == [("transition", MASTER, "stopped -> running"), ("observed", MASTER, "running"),
                            ("done", MASTER, "running as desired")]
    assert ExecutionFollower(sfn, PARENT, sleep=lambda s: None).poll()[0].detail == "-> running", (
        "a particle first seen acting")


def test_a_terminated_resource_keeps_the_id_it_had() -> None:
    parent, page = History(), History()
    parent.started({})
    parent.submitted(child_arn("p"))
    page.started(page_input("stop", 0, 0))
    page.task("Converge", visit(MASTER, "done", "terminated as desired", state="terminated", acted="terminate",
                                found="running", last_resource_id="i-0abc"))
    follower = ExecutionFollower(FakeStepFunctions({PARENT: parent, child_arn("p"): page}), PARENT,
                                 sleep=lambda s: None)

    found = follower.poll()

    assert lines(found) == [("observed", MASTER, "running"), ("transition", MASTER, "running -> terminated"),
                            ("observed", MASTER, "terminated"), ("done", MASTER, "terminated as desired")]
    assert [e.resource_id for e in found] == ["i-0abc", None, None, "i-0abc"]


def test_the_parent_is_read_after_a_page_execution_ends() -> None:
    sfn = a_running_apply()
    follower = ExecutionFollower(sfn, PARENT, sleep=lambda s: None, parent_every=100)
    follower.poll()
    worker = sfn.histories[child_arn("w")]
    worker.task("Converge", visit(WORKER, "done", "running as desired", state="running", resource_id="i-0def"))
    worker.succeeded({})
    follower.poll()  # reads worker-0's end
    sfn.calls.clear()

    follower.poll()

    assert sfn.calls[0] == (PARENT, None)


def test_the_parent_is_read_every_parent_every_polls_while_pages_run() -> None:
    sfn = a_running_apply()
    follower = ExecutionFollower(sfn, PARENT, sleep=lambda s: None, parent_every=3)
    follower.poll()
    read = []
    for _ in range(6):
        sfn.calls.clear()
        follower.poll()
        read.append(PARENT in {arn for arn, _ in sfn.calls})

    assert read == [True, False, False, True, False, False], "the first after the master's page ended"


def test_at_most_max_child_reads_histories_a_poll_least_recently_read_first() -> None:
    parent = History()
    parent.started({})
    children = {child_arn(str(i)): History() for i in range(5)}
    for page, (arn, history) in enumerate(children.items()):
        parent.submitted(arn)
        history.started(page_input("start", 0, page))
    sfn = FakeStepFunctions({PARENT: parent, **children})
    follower = ExecutionFollower(sfn, PARENT, sleep=lambda s: None, max_child_reads=2)

    read: list[list[str]] = []
    for _ in range(3):
        sfn.calls.clear()
        follower.poll()
        read.append(sorted(arn[-1] for arn, _ in sfn.calls if arn != PARENT))

    assert read == [["0", "1"], ["2", "3"], ["0", "4"]]


def test_a_rollback_shows_its_levels_and_terminations_as_rollback() -> None:
    parent, started, rolled = History(), History(), History()
    parent.started({})
    parent.level("start", 0, particles=1, pages=1)
    parent.submitted(child_arn("s"))
    started.started(page_input("start", 0, 0))
    started.task("Converge", visit(MASTER, "done", "running as desired", state="running", resource_id="i-1",
                                   acted="start", found="terminated", last_resource_id="i-1"))
    parent.rolling_back()
    parent.level("stop", 0, particles=1, pages=1)
    parent.submitted(child_arn("r"))
    rolled.started(page_input("stop", 0, 0, rollback=True))
    rolled.task("Converge", visit(MASTER, "done", "terminated as desired", state="terminated",
                                  acted="terminate", found="running", last_resource_id="i-1"))
    sfn = FakeStepFunctions({PARENT: parent, child_arn("s"): started, child_arn("r"): rolled})
    follower = ExecutionFollower(sfn, PARENT, sleep=lambda s: None)

    found = follower.poll()  # the parent's rollback is read before either page's history

    assert [(kind, detail) for kind, _, detail in lines(found) if kind in ("level", "transition", "rollback")] == [
        ("level", "start level 1: 1 particle in 1 page"),
        ("transition", "terminated -> running"),
        ("level", "rollback stop level 1: 1 particle in 1 page"),
        ("rollback", "terminating what this execution created"),
    ], "a page started before the rollback is no rollback, whenever its history is read"


def test_the_end_a_failed_particle_and_the_error_message() -> None:
    parent, page = History(), History()
    parent.started({})
    parent.level("start", 0, particles=1, pages=1)
    parent.submitted(child_arn("a"))
    page.started(page_input("start", 0, 0))
    page.task("Converge", visit("p:a", "later", "a transition is in progress", state="pending", resource_id="i-1"))
    page.task("RecordFailure", {"pcf_id": "p:a", "error": "ParticleTimeoutError", "cause": "p:a: too slow"})
    page.succeeded({})
    cause = json.dumps({"errorMessage": "1 of 1 particle(s) failed: p:a: ParticleTimeoutError: too slow",
                        "errorType": "ParticleTimeoutError", "stackTrace": ["..."]})
    parent.failed("ParticleTimeoutError", cause)
    sfn = FakeStepFunctions({PARENT: parent, child_arn("a"): page}, paged=False, descriptions={PARENT: {
        "status": "FAILED", "error": "ParticleTimeoutError", "cause": cause, "startDate": START, "stopDate": STOP}})
    slept: list[float] = []
    follower = ExecutionFollower(sfn, PARENT, sleep=slept.append)

    events = list(follower.events())

    assert ("failed", "p:a", "ParticleTimeoutError: p:a: too slow") in lines(events)
    assert [e.state for e in events if e.kind == "failed"] == ["pending"]
    assert follower.outcome is not None and not follower.outcome.succeeded
    assert follower.outcome.error == "ParticleTimeoutError"
    assert follower.outcome.message == "1 of 1 particle(s) failed: p:a: ParticleTimeoutError: too slow"
    assert follower.outcome.elapsed == 9.0
    assert slept == [], "it ended in the first poll"


def test_a_page_that_failed_as_a_whole_is_named_by_its_level_and_page() -> None:
    parent = History()
    parent.started({})
    parent.task("PageFailed", {"pcf_id": "page:start-1-2", "error": "States.Timeout", "cause": "page timed out"})
    follower = ExecutionFollower(FakeStepFunctions({PARENT: parent}), PARENT, sleep=lambda s: None)

    assert lines(follower.poll()) == [("failed", "start level 2 page 3", "States.Timeout: page timed out")]


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
