"""Distributed map runs in the local cloud behave as Step Functions' (``map_runs``, ``map_run_children``,
``map_run_api``): one child execution per item with its own history, the failure threshold, the role's permission
to start children, and stopping a parent with children."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.deployment import ADMIN_POLICY, _ensure_role
from pcf_local_cloud.executions import stop_all
from pcf_local_cloud.map_runs import LOCAL_WORKERS, MapRuns, exceeds_threshold
from tests.support.executions import finished

ACCOUNT_REGION = "us-east-1:123456789012"
ECHO = {"StartAt": "Echo", "States": {"Echo": {
    "Type": "Pass", "Parameters": {"n.$": "$.n", "parent.$": "$.parent", "me.$": "$$.Execution.Id"}, "End": True}}}
FAIL_ON_TWO = {"StartAt": "Two?", "States": {
    "Two?": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 2, "Next": "Fail"}],
             "Default": "Done"},
    "Fail": {"Type": "Fail", "Error": "Item.Two", "Cause": "two is refused"},
    "Done": {"Type": "Succeed"}}}


def distributed(processor: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A machine whose one state is a distributed Map over ``$.items`` (item value and parent ARN selected)."""
    return {"StartAt": "Pages", "States": {"Pages": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemSelector": {"n.$": "$$.Map.Item.Value", "parent.$": "$$.Execution.Id"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **processor},
        **fields}}}


class Probe:
    """Creates machines on one local cloud and runs them to their end."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self.sfn = cloud.client("stepfunctions")
        self.role = _ensure_role(cloud.client("iam"), "map-run-role", ADMIN_POLICY)

    def machine(self, name: str, definition: dict[str, Any], role: str | None = None) -> str:
        return str(self.sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                                 roleArn=role or self.role)["stateMachineArn"])

    def start(self, machine: str, payload: dict[str, Any], name: str = "run") -> str:
        return str(self.sfn.start_execution(stateMachineArn=machine, name=name,
                                            input=json.dumps(payload))["executionArn"])

    def run(self, machine: str, payload: dict[str, Any], name: str = "run") -> dict[str, Any]:
        execution = self.start(machine, payload, name)
        finished(self.sfn, execution)
        return dict(self.sfn.describe_execution(executionArn=execution))

    def map_run(self, execution: str) -> str:
        (run,) = self.sfn.list_map_runs(executionArn=execution)["mapRuns"]
        return str(run["mapRunArn"])

    def children(self, map_run: str, **filters: Any) -> list[dict[str, Any]]:
        pages = self.sfn.get_paginator("list_executions").paginate(mapRunArn=map_run, **filters)
        return [child for page in pages for child in page["executions"]]

    def running_children(self, parent: str, count: int, attempts: int = 500) -> list[dict[str, Any]]:
        """The children of ``parent``'s map run once ``count`` of them have started (they start in threads)."""
        for _ in range(attempts):
            if "MapRunStarted" in types(self.history(parent)):
                children = self.children(self.map_run(parent), statusFilter="RUNNING")
                if len(children) == count:
                    return children
            time.sleep(0.01)
        raise AssertionError(f"{parent} did not start {count} children")

    def history(self, execution: str) -> list[dict[str, Any]]:
        return list(self.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"])


@pytest.fixture
def probe(cloud: LocalCloud) -> Probe:
    return Probe(cloud)


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def test_each_item_runs_as_a_child_execution_with_its_own_history(probe: Probe) -> None:
    machine = probe.machine("pages", distributed(ECHO))
    parent = probe.run(machine, {"items": [1, 2, 3]})
    map_run = probe.map_run(parent["executionArn"])
    children = probe.children(map_run)

    assert parent["status"] == "SUCCEEDED"
    assert sorted(item["n"] for item in json.loads(parent["output"])) == [1, 2, 3]
    assert len(children) == 3 and {child["status"] for child in children} == {"SUCCEEDED"}
    labelled = machine + "/" + map_run.split("/")[1].split(":")[0]
    for listed in children:
        assert listed["executionArn"].startswith(f"arn:aws:states:{ACCOUNT_REGION}:execution:pages/")
        assert listed["stateMachineArn"] == labelled and listed["mapRunArn"] == map_run
        described = probe.sfn.describe_execution(executionArn=listed["executionArn"])
        output = json.loads(described["output"])
        assert json.loads(described["input"]) == {"n": output["n"], "parent": parent["executionArn"]}
        assert output["me"] == listed["executionArn"]  # $$.Execution inside a child is the child's
        assert described["mapRunArn"] == map_run and described["stopDate"] >= described["startDate"]
        assert types(probe.history(listed["executionArn"])) == [
            "ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    assert types(probe.history(parent["executionArn"])) == [
        "ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapRunStarted", "MapRunSucceeded",
        "MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]


def test_children_are_listed_by_map_run_in_pages_and_filtered_by_status(probe: Probe) -> None:
    machine = probe.machine("listed", distributed(FAIL_ON_TWO, ToleratedFailureCount=1))
    parent = probe.run(machine, {"items": [1, 2, 3, 4, 5]})
    map_run = probe.map_run(parent["executionArn"])

    first = probe.sfn.list_executions(mapRunArn=map_run, maxResults=2)
    assert len(first["executions"]) == 2 and "nextToken" in first
    assert len(probe.children(map_run, PaginationConfig={"PageSize": 2})) == 5
    assert [child["status"] for child in probe.children(map_run, statusFilter="FAILED")] == ["FAILED"]
    with pytest.raises(ClientError, match="ResourceNotFound"):
        probe.sfn.list_executions(mapRunArn=map_run.replace(map_run[-4:], "0000"))
    with pytest.raises(ClientError, match="ValidationException"):
        probe.sfn.list_executions(mapRunArn=map_run, stateMachineArn=machine)


def test_the_history_limit_counts_each_child_on_its_own(cloud: LocalCloud, probe: Probe) -> None:
    cloud.patches.sfn_limits.history_limit = 12
    three_passes = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "C"},
                                               "C": {"Type": "Pass", "End": True}}}
    machine = probe.machine("small-children", distributed(three_passes))
    parent = probe.run(machine, {"items": list(range(6))})  # 6 children x 8 events + 8 in the parent: 56 in all

    assert parent["status"] == "SUCCEEDED"
    children = probe.children(probe.map_run(parent["executionArn"]))
    assert [len(probe.history(child["executionArn"])) for child in children] == [8] * 6


def test_a_child_past_the_history_limit_fails_alone_and_so_fails_the_map_run(cloud: LocalCloud,
                                                                            probe: Probe) -> None:
    cloud.patches.sfn_limits.history_limit = 30
    loop = {"StartAt": "Count", "States": {
        "Count": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Enough?"},
        "Enough?": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThanEquals": 100, "Next": "End"}],
                    "Default": "Count"},
        "End": {"Type": "Succeed"}}}
    machine = probe.machine("long-child", distributed(loop, MaxConcurrency=1))
    parent = probe.run(machine, {"items": [0, 99]})  # the second child needs 8 events, the first far more

    (child_failed,) = probe.children(probe.map_run(parent["executionArn"]), statusFilter="FAILED")
    described = probe.sfn.describe_execution(executionArn=child_failed["executionArn"])
    assert described["error"] == "States.Runtime"
    assert "reached the limit of 30 events" in described["cause"]
    assert parent["status"] == "FAILED" and parent["error"] == "States.ExceedToleratedFailureThreshold"


def test_a_failed_child_fails_the_map_run_and_no_further_item_starts(probe: Probe) -> None:
    machine = probe.machine("strict", distributed(FAIL_ON_TWO, MaxConcurrency=1))
    parent = probe.run(machine, {"items": [1, 2, 3]})
    map_run = probe.sfn.describe_map_run(mapRunArn=probe.map_run(parent["executionArn"]))

    assert parent["status"] == "FAILED"
    assert parent["error"] == "States.ExceedToleratedFailureThreshold"
    assert map_run["status"] == "FAILED"
    assert {key: map_run["itemCounts"][key] for key in ("total", "succeeded", "failed", "pending", "running")} == {
        "total": 3, "succeeded": 1, "failed": 1, "pending": 1, "running": 0}
    assert {key: map_run["executionCounts"][key] for key in ("total", "succeeded", "failed", "running")} == {
        "total": 2, "succeeded": 1, "failed": 1, "running": 0}
    assert "MapRunFailed" in types(probe.history(parent["executionArn"]))
    (failed,) = probe.children(probe.map_run(parent["executionArn"]), statusFilter="FAILED")
    assert types(probe.history(failed["executionArn"]))[-1] == "ExecutionFailed"


def test_failures_within_the_tolerated_count_let_the_map_succeed(probe: Probe) -> None:
    machine = probe.machine("tolerant", distributed(FAIL_ON_TWO, ToleratedFailureCount=1))
    parent = probe.run(machine, {"items": [1, 2, 3]})

    assert parent["status"] == "SUCCEEDED"
    assert json.loads(parent["output"])[1] is None
    counts = probe.sfn.describe_map_run(mapRunArn=probe.map_run(parent["executionArn"]))["itemCounts"]
    assert (counts["succeeded"], counts["failed"]) == (2, 1)


def test_a_failure_share_over_the_tolerated_percentage_from_a_path_fails_the_map(probe: Probe) -> None:
    machine = probe.machine("percent", distributed(FAIL_ON_TWO, ToleratedFailurePercentagePath="$.tolerated"))

    assert probe.run(machine, {"items": [1, 2, 3], "tolerated": 34}, name="a")["status"] == "SUCCEEDED"
    over = probe.run(machine, {"items": [1, 2, 3], "tolerated": 33}, name="b")
    assert over["error"] == "States.ExceedToleratedFailureThreshold"


@pytest.mark.parametrize(("unsuccessful", "items", "count", "percentage", "exceeded"), [
    (0, 10, 0, 0.0, False), (1, 10, 0, 0.0, True), (2, 10, 2, 0.0, False), (3, 10, 2, 0.0, True),
    (2, 10, 0, 20.0, False), (3, 10, 0, 20.0, True), (3, 10, 5, 20.0, True), (1, 10, 5, 20.0, False)])
def test_the_threshold_is_exceeded_past_either_tolerance(unsuccessful: int, items: int, count: int,
                                                         percentage: float, exceeded: bool) -> None:
    assert exceeds_threshold(unsuccessful, items, count, percentage) is exceeded


def test_a_child_input_over_256_kib_fails_that_child(probe: Probe) -> None:
    blob = "x" * (140 * 1024)
    machine = probe.machine("big-input", {"StartAt": "Pages", "States": {"Pages": {
        "Type": "Map", "ItemsPath": "$.items", "End": True, "ItemSelector": {"a.$": "$.blob", "b.$": "$.blob"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "End": True}}}}}})
    parent = probe.run(machine, {"items": [1], "blob": blob})

    (child,) = probe.children(probe.map_run(parent["executionArn"]))
    assert probe.sfn.describe_execution(executionArn=child["executionArn"])["error"] == "States.DataLimitExceeded"
    assert parent["error"] == "States.ExceedToleratedFailureThreshold"


def test_a_role_without_start_execution_on_its_machine_cannot_start_a_map_run(cloud: LocalCloud,
                                                                             probe: Probe) -> None:
    iam = cloud.client("iam")
    role = _ensure_role(iam, "narrow-role", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "states:DescribeExecution", "Resource": "*"}]})
    machine = probe.machine("guarded", distributed(ECHO), role=role)
    refused = probe.run(machine, {"items": [1, 2]}, name="refused")

    assert refused["status"] == "FAILED" and refused["error"] == "States.Runtime"
    assert f"not authorized to perform: states:StartExecution on resource: {machine}" in refused["cause"]
    assert probe.children(probe.map_run(refused["executionArn"])) == []
    assert "MapRunFailed" in types(probe.history(refused["executionArn"]))

    _ensure_role(iam, "narrow-role", {"Version": "2012-10-17", "Statement": [  # the policy AWS documents
        {"Effect": "Allow", "Action": "states:StartExecution", "Resource": machine},
        {"Effect": "Allow", "Action": ["states:DescribeExecution", "states:StopExecution"],
         "Resource": machine.replace(":stateMachine:", ":execution:") + "/*"}]})
    assert probe.run(machine, {"items": [1, 2]}, name="allowed")["status"] == "SUCCEEDED"


def test_a_nested_inline_map_writes_to_its_childs_history_only(probe: Probe) -> None:
    inner = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.letters", "End": True,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "P",
                          "States": {"P": {"Type": "Pass", "End": True}}}}}}
    machine = probe.machine("nested", {"StartAt": "Pages", "States": {"Pages": {
        "Type": "Map", "ItemsPath": "$.items", "End": True, "ItemSelector": {"letters": ["a", "b"]},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **inner}}}})
    parent = probe.run(machine, {"items": [1, 2]})

    assert parent["status"] == "SUCCEEDED"
    for child in probe.children(probe.map_run(parent["executionArn"])):
        assert types(probe.history(child["executionArn"])).count("MapIterationSucceeded") == 2
    assert "MapIterationStarted" not in types(probe.history(parent["executionArn"]))


def test_stopping_the_parents_aborts_their_running_children(probe: Probe) -> None:
    waiting = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}
    machine = probe.machine("waiting", distributed(waiting))
    parent = probe.start(machine, {"items": [1, 2, 3]})
    children = probe.running_children(parent, 3)

    assert stop_all(probe.sfn) == []
    assert finished(probe.sfn, parent) == "ABORTED"
    for child in children:
        assert finished(probe.sfn, child["executionArn"]) == "ABORTED"
        assert types(probe.history(child["executionArn"]))[-1] == "ExecutionAborted"


def test_stopping_one_child_aborts_it_and_fails_the_map_run(probe: Probe) -> None:
    waiting = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}
    machine = probe.machine("one-stop", distributed(waiting))
    parent = probe.start(machine, {"items": [1]})
    children = probe.running_children(parent, 1)
    probe.sfn.stop_execution(executionArn=children[0]["executionArn"], error="Stopped", cause="by the test")
    assert finished(probe.sfn, children[0]["executionArn"]) == "ABORTED"
    assert finished(probe.sfn, parent) == "FAILED"
    assert probe.sfn.describe_execution(executionArn=parent)["error"] == "States.ExceedToleratedFailureThreshold"


def test_local_threads_are_bounded_whatever_the_concurrency_asked() -> None:
    runs = MapRuns.__new__(MapRuns)
    runs.max_workers = LOCAL_WORKERS

    assert runs.workers(0, 250) == LOCAL_WORKERS
    assert runs.workers(0, 3) == 3
    assert runs.workers(10, 250) == 10
    assert runs.workers(10, 0) == 0


def test_many_items_at_unbounded_concurrency_all_run(probe: Probe) -> None:
    machine = probe.machine("wide", distributed(ECHO))
    parent = probe.run(machine, {"items": list(range(LOCAL_WORKERS + 20))})

    assert parent["status"] == "SUCCEEDED"
    assert len(probe.children(probe.map_run(parent["executionArn"]))) == LOCAL_WORKERS + 20


def test_each_child_end_is_signalled_like_an_execution_end(cloud: LocalCloud, probe: Probe) -> None:
    machine = probe.machine("signalled", distributed(ECHO))
    before = cloud.patches.execution_ends.ended
    probe.run(machine, {"items": [1, 2, 3]})

    # the three children end before the parent's status is published (the parent's own signal may follow it)
    assert cloud.patches.execution_ends.ended - before >= 3
