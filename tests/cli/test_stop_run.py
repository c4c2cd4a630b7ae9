"""Stopping a run on Ctrl-C (``pcf_cli.stop_run``): what it stops, waits for and releases, and what it reports
when something fails (a fake Step Functions and a fake Lambda client; an injected clock, no real sleep)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from pcf_cli.follow import ExecutionFollower
from pcf_cli.stop_run import SETTLE_POLL_SECONDS, STOP_CAUSE, STOP_ERROR, StopReport, stop_run
from tests.cli.sfn_fakes import MACHINE, PAGE_MACHINE, PARENT, FakeStepFunctions, History, child_arn, page_input

LOAD = "arn:aws:lambda:us-east-1:123456789012:function:pcf-serverless-dev-load_page"
RELEASE = "arn:aws:lambda:us-east-1:123456789012:function:pcf-serverless-dev-release_page"
PAGES = {"a": 0, "b": 1, "c": 2, "late": 3, "theirs": 0}
"""The page number of each named page execution (pages of start level 1)."""
OTHER_PARENT = "arn:aws:states:us-east-1:123456789012:execution:pcf-serverless-dev-apply:run-2"


class StopFailed(Exception):
    """What the fake's ``stop_execution`` raises."""


@dataclass
class FakeSfn(FakeStepFunctions):
    """:class:`FakeStepFunctions` that can stop executions, list them and describe the ``page`` machine.

    A stop takes effect at once (``ABORTED``), unless the execution ``lingers`` (it answers ``RUNNING`` to that
    many more ``describe_execution`` calls) or ``refuses`` (``stop_execution`` raises, after the execution took
    the given status: ``RUNNING`` for one still running, another for one that ended meanwhile)."""

    lingers: dict[str, float] = field(default_factory=dict)
    refuses: dict[str, str] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)
    machine_error: Exception | None = None
    page_size: int = 1

    def start(self, arn: str, machine: str, input: dict[str, Any], status: str = "RUNNING") -> None:
        self.descriptions[arn] = {"executionArn": arn, "stateMachineArn": machine, "status": status,
                                  "input": json.dumps(input)}

    def status(self, arn: str) -> str:
        return str(self.descriptions[arn]["status"])

    def stop_execution(self, executionArn: str, error: str, cause: str) -> dict[str, Any]:
        assert (error, cause) == (STOP_ERROR, STOP_CAUSE)
        described = self.descriptions[executionArn]
        if executionArn in self.refuses:
            described["status"] = self.refuses[executionArn]
            raise StopFailed(f"cannot stop {executionArn.rsplit(':', 1)[-1]}")
        if described["status"] != "RUNNING":
            raise StopFailed("ExecutionNotRunning")  # not expected: stop_run checks first
        self.stopped.append(executionArn)
        if executionArn not in self.lingers:
            described["status"] = "ABORTED"
        return {"stopDate": 0}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        described = self.descriptions[executionArn]
        if executionArn in self.stopped and executionArn in self.lingers:
            if self.lingers[executionArn] <= 0:
                described["status"] = "ABORTED"
            self.lingers[executionArn] -= 1
        return dict(described)

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_executions"
        return self

    def paginate(self, stateMachineArn: str, statusFilter: str) -> Any:
        """``list_executions`` pages, ``page_size`` executions each."""
        found = [{"executionArn": arn, "stateMachineArn": stateMachineArn, "status": described["status"]}
                 for arn, described in self.descriptions.items()
                 if described.get("stateMachineArn") == stateMachineArn and described["status"] == statusFilter]
        for start in range(0, max(len(found), 1), self.page_size):
            yield {"executions": found[start:start + self.page_size]}

    def describe_state_machine(self, stateMachineArn: str) -> dict[str, Any]:
        if self.machine_error is not None:
            raise self.machine_error
        assert stateMachineArn == PAGE_MACHINE
        return {"stateMachineArn": PAGE_MACHINE, "definition": json.dumps({"StartAt": "LoadPage", "States": {
            "LoadPage": {"Type": "Task", "Resource": LOAD, "Next": "Particles"},
            "Particles": {"Type": "Map", "ItemsPath": "$.items", "End": True}}})}


@dataclass
class FakeLambda:
    """``invoke`` of ``release_page``: gives back ``held`` leases of each page (by page number, 1 unless told), or
    answers a ``FunctionError`` for the page numbers in ``fails``."""

    fails: set[int] = field(default_factory=set)
    held: dict[int, int] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:
        event = json.loads(Payload)
        self.calls.append((FunctionName, event))
        if event["page"] in self.fails:
            body = {"errorMessage": "lease table unreachable", "errorType": "RuntimeError"}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        answer = {"released": self.held.get(event["page"], 1)}
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}


class Clock:
    """A clock that only ``sleep`` moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run(parent_status: str = "RUNNING", **children: str) -> tuple[FakeSfn, ExecutionFollower]:
    """The ``apply`` execution ``run-1`` and, for each keyword, a page execution ``<name>`` (page ``PAGES[name]`` of
    start level 1) with that status, started for ``run-1`` (its ``TaskSubmitted`` in the parent's history)."""
    sfn = FakeSfn()
    history = History()
    history.started({"definition": {}})
    sfn.histories[PARENT] = history
    sfn.start(PARENT, MACHINE, {"definition": {}}, status=parent_status)
    for name, status in children.items():
        history.submitted(child_arn(name))
        sfn.start(child_arn(name), PAGE_MACHINE, page_input("start", 0, PAGES[name]), status=status)
    return sfn, ExecutionFollower(sfn, PARENT, sleep=no_sleep)


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"slept {seconds}s for real")


def released(lambda_client: FakeLambda) -> list[str]:
    """The names of the pages ``release_page`` was asked to release (each asked with exactly its page step)."""
    assert {name for name, _ in lambda_client.calls} <= {RELEASE}
    names = {number: name for name, number in PAGES.items() if name != "theirs"}
    for _, event in lambda_client.calls:
        assert event == {"run": PARENT, "execution": PARENT, "phase": "start", "level": 0, "page": event["page"]}
    return [names[event["page"]] for _, event in lambda_client.calls]


# -- the happy path, as a reference --------------------------------------------------------------------------


def test_the_run_its_children_and_their_leases_are_stopped_and_released() -> None:
    sfn, follower = run(a="RUNNING", b="RUNNING")
    lambda_client = FakeLambda(held={0: 40, 1: 3})

    report = stop_run(sfn, follower, lambda_client=lambda_client, sleep=no_sleep, clock=Clock())

    assert sfn.stopped[0] == PARENT and sorted(sfn.stopped[1:]) == [child_arn("a"), child_arn("b")]
    assert (report.stopped, report.children, report.released, report.problems) == (True, 2, 43, [])
    assert sorted(released(lambda_client)) == ["a", "b"]
    assert report.summary() == "stopped execution run-1 and 2 page executions, released 43 leases"


# -- the parent ----------------------------------------------------------------------------------------------


def test_a_parent_that_already_ended_is_reported_not_running() -> None:
    sfn, follower = run(parent_status="SUCCEEDED", a="SUCCEEDED")
    lambda_client = FakeLambda()

    report = stop_run(sfn, follower, lambda_client=lambda_client, sleep=no_sleep, clock=Clock())

    assert sfn.stopped == []
    assert (report.stopped, report.problems) == (False, [])
    assert report.summary() == "execution run-1 was not running and 0 page executions"


def test_a_parent_that_cannot_be_stopped_is_a_problem_and_its_children_are_stopped_anyway() -> None:
    sfn, follower = run(a="RUNNING")
    sfn.refuses[PARENT] = "RUNNING"
    lambda_client = FakeLambda()
    clock = Clock()

    report = stop_run(sfn, follower, lambda_client=lambda_client, sleep=clock.sleep, clock=clock, timeout_s=1)

    assert (report.stopped, report.children) == (False, 1)
    assert report.problems == ["run-1: StopFailed: cannot stop run-1", "1 still running after 1s"]
    assert released(lambda_client) == ["a"]


# -- stopping the children -----------------------------------------------------------------------------------


def test_a_child_that_ended_while_being_stopped_is_no_problem() -> None:
    sfn, follower = run(a="RUNNING", b="RUNNING")
    sfn.refuses[child_arn("a")] = "SUCCEEDED"  # it converged between the describe and the stop
    lambda_client = FakeLambda()

    report = stop_run(sfn, follower, lambda_client=lambda_client, sleep=no_sleep, clock=Clock())

    assert report.problems == []
    assert report.children == 1, "only b was stopped"
    assert released(lambda_client) == ["b"], "a succeeded: its visits gave its leases back"
    assert report.summary() == "stopped execution run-1 and 1 page execution, released 1 lease"


def test_a_child_that_cannot_be_stopped_and_still_runs_is_a_problem() -> None:
    sfn, follower = run(a="RUNNING", b="RUNNING")
    sfn.refuses[child_arn("a")] = "RUNNING"
    clock = Clock()

    report = stop_run(sfn, follower, lambda_client=FakeLambda(), sleep=clock.sleep, clock=clock, timeout_s=1)

    assert report.children == 1
    assert report.problems[0] == "a: StopFailed: cannot stop a"
    assert report.problems[1] == "1 still running after 1s"


def test_children_still_running_past_the_timeout_are_reported_without_sleeping_for_real() -> None:
    sfn, follower = run(a="RUNNING", b="RUNNING", c="RUNNING")
    sfn.lingers.update({PARENT: float("inf"), child_arn("a"): float("inf"), child_arn("b"): 3})
    clock = Clock()

    lambda_client = FakeLambda()
    report = stop_run(sfn, follower, lambda_client=lambda_client, sleep=clock.sleep, clock=clock, timeout_s=2.5)

    assert report.problems == ["2 still running after 2.5s", "start level 1 page 1: leases kept: still running"], (
        "run-1 and a; b ended after a few polls, c at once")
    assert sorted(released(lambda_client)) == ["b", "c"], "a may still act: no release"
    assert set(clock.slept) == {SETTLE_POLL_SECONDS}
    assert clock.now == pytest.approx(2.5, abs=SETTLE_POLL_SECONDS)
    assert (report.stopped, report.children) == (True, 3)
    assert "(2 still running after 2.5s; start level 1 page 1: leases kept: still running)" in report.summary()


def test_it_waits_until_the_stopped_executions_ended() -> None:
    sfn, follower = run(a="RUNNING")
    sfn.lingers.update({PARENT: 2, child_arn("a"): 4})
    clock = Clock()

    report = stop_run(sfn, follower, lambda_client=FakeLambda(), sleep=clock.sleep, clock=clock)

    assert report.problems == []
    assert sfn.status(PARENT) == sfn.status(child_arn("a")) == "ABORTED"
    assert clock.slept, "it waited for them"


# -- finding the children ------------------------------------------------------------------------------------


def test_a_child_missing_from_the_history_is_found_by_its_input_and_stopped() -> None:
    sfn, follower = run(a="RUNNING")
    sfn.lingers[PARENT] = 1  # the parent takes a poll to end, as in moto
    sfn.start(child_arn("late"), PAGE_MACHINE, page_input("start", 0, PAGES["late"]))
    sfn.start(child_arn("theirs"), PAGE_MACHINE, page_input("start", 0, 0, execution=OTHER_PARENT))
    lambda_client = FakeLambda()
    clock = Clock()

    report = stop_run(sfn, follower, lambda_client=lambda_client, sleep=clock.sleep, clock=clock)

    assert child_arn("late") in sfn.stopped
    assert sfn.status(child_arn("theirs")) == "RUNNING", "another run's page is left alone"
    assert report.children == 2
    assert sorted(released(lambda_client)) == ["a", "late"]


def test_a_child_missing_from_the_history_is_stopped_even_when_the_known_ones_stop_at_once() -> None:
    sfn, follower = run(a="RUNNING")
    sfn.start(child_arn("late"), PAGE_MACHINE, page_input("start", 0, PAGES["late"]))
    clock = Clock()

    report = stop_run(sfn, follower, lambda_client=FakeLambda(), sleep=clock.sleep, clock=clock)

    assert sfn.status(child_arn("late")) == "ABORTED"
    assert report.children == 2


# -- releasing the leases ------------------------------------------------------------------------------------


def test_a_child_that_succeeded_is_not_released() -> None:
    sfn, follower = run(a="SUCCEEDED", b="FAILED", c="RUNNING")
    lambda_client = FakeLambda()

    report = stop_run(sfn, follower, lambda_client=lambda_client, sleep=no_sleep, clock=Clock())

    assert sorted(released(lambda_client)) == ["b", "c"]
    assert (report.children, report.released) == (1, 2)


def test_without_a_lambda_client_the_leases_are_not_released_and_it_says_so() -> None:
    sfn, follower = run(a="RUNNING")

    report = stop_run(sfn, follower, lambda_client=None, sleep=no_sleep, clock=Clock())

    assert report.problems == ["leases not released: no Lambda client"]
    assert report.released == 0
    assert report.summary() == ("stopped execution run-1 and 1 page execution "
                                "(leases not released: no Lambda client)")


def test_without_a_lambda_client_nothing_is_missing_when_no_lease_is_held() -> None:
    sfn, follower = run(a="SUCCEEDED")

    report = stop_run(sfn, follower, lambda_client=None, sleep=no_sleep, clock=Clock())

    assert report.problems == []


def test_a_release_function_error_names_the_page_and_is_not_counted() -> None:
    sfn, follower = run(a="RUNNING", b="RUNNING", c="RUNNING")
    lambda_client = FakeLambda(fails={1})

    report = stop_run(sfn, follower, lambda_client=lambda_client, sleep=no_sleep, clock=Clock())

    assert sorted(released(lambda_client)) == ["a", "b", "c"]
    assert report.released == 2
    assert report.problems == ["start level 1 page 2: leases not released (Unhandled)"]
    assert report.summary().endswith(", released 2 leases (start level 1 page 2: leases not released (Unhandled))")


def test_a_machine_that_cannot_be_described_leaves_every_lease_held_and_names_each() -> None:
    sfn, follower = run(a="RUNNING", b="RUNNING")
    sfn.machine_error = StopFailed("AccessDeniedException: states:DescribeStateMachine")
    lambda_client = FakeLambda()

    report = stop_run(sfn, follower, lambda_client=lambda_client, sleep=no_sleep, clock=Clock())

    assert lambda_client.calls == []
    assert report.released == 0
    assert sorted(report.problems) == [
        f"start level 1 page {page}: leases not released: StopFailed: AccessDeniedException: "
        "states:DescribeStateMachine" for page in (1, 2)]


# -- the summary ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("report", "line"), [
    (StopReport("run-1", stopped=True, children=1, released=1),
     "stopped execution run-1 and 1 page execution, released 1 lease"),
    (StopReport("run-1", stopped=True, children=3, released=2),
     "stopped execution run-1 and 3 page executions, released 2 leases"),
    (StopReport("run-1", stopped=False, children=0, released=0),
     "execution run-1 was not running and 0 page executions"),
    (StopReport("run-1", stopped=True, children=2, problems=["x: boom", "1 still running after 30s"]),
     "stopped execution run-1 and 2 page executions (x: boom; 1 still running after 30s)"),
])
def test_the_summary_says_one_or_many(report: StopReport, line: str) -> None:
    assert report.summary() == line
