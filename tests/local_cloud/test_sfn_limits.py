"""Step Functions' refusals the local cloud adds to moto's interpreter (``sfn_limits``): a state output over
256 KiB fails the execution even under a ``States.ALL`` catcher, and a history past its limit fails it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.deployment import ADMIN_POLICY, EMPTY_ZIP, _ensure_role
from pcf_local_cloud.sfn_limits import HISTORY_LIMIT
from tests.support.executions import finished

QUOTA = 256 * 1024


def big(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"blob": "x" * int(event["size"])}


@pytest.fixture
def machine(cloud: LocalCloud) -> Any:
    """A machine whose Task returns ``size`` characters, caught by ``States.ALL`` into a ``Caught`` state."""
    role = _ensure_role(cloud.client("iam"), "limits-role", ADMIN_POLICY)
    function = cloud.client("lambda").create_function(
        FunctionName="big", Runtime="python3.11", Role=role, Handler="app.big", Code={"ZipFile": EMPTY_ZIP}
    )["FunctionArn"]
    cloud.register_handler("big", big)
    definition = {"StartAt": "Make", "States": {
        "Make": {"Type": "Task", "Resource": function, "End": True,
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Caught"}]},
        "Caught": {"Type": "Pass", "End": True}}}
    sfn = cloud.client("stepfunctions")
    return sfn, sfn.create_state_machine(name="limits", definition=json.dumps(definition), roleArn=role)[
        "stateMachineArn"]


def run(machine: Any, payload: dict[str, Any]) -> dict[str, Any]:
    sfn, arn = machine
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))["executionArn"]
    finished(sfn, execution)
    return dict(sfn.describe_execution(executionArn=execution))


def test_a_result_within_the_quota_passes(machine: Any) -> None:
    assert run(machine, {"size": QUOTA - 1024})["status"] == "SUCCEEDED"


def test_a_result_over_the_quota_fails_the_execution_despite_states_all(machine: Any) -> None:
    described = run(machine, {"size": QUOTA + 1024})
    assert described["status"] == "FAILED"
    assert described["error"] == "States.DataLimitExceeded"


def test_an_ordinary_failure_is_still_caught_by_states_all(cloud: LocalCloud, machine: Any) -> None:
    def fail(event: Any, context: Any) -> None:
        raise RuntimeError("boom")

    cloud.register_handler("big", fail)
    described = run(machine, {"size": 1})
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["caught"]["Error"] == "RuntimeError"


def test_a_history_past_its_limit_fails_the_execution(cloud: LocalCloud) -> None:
    cloud.patches.sfn_limits.history_limit = 40
    role = _ensure_role(cloud.client("iam"), "loop-role", ADMIN_POLICY)
    loop = {"StartAt": "Count", "States": {
        "Count": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Done?"},
        "Done?": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThanEquals": 1000, "Next": "End"}],
                  "Default": "Count"},
        "End": {"Type": "Succeed"}}}
    sfn = cloud.client("stepfunctions")
    arn = sfn.create_state_machine(name="loop", definition=json.dumps(loop), roleArn=role)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"n": 0}))["executionArn"]
    finished(sfn, execution)

    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert described["cause"].endswith("The execution history reached the limit of 40 events")
    history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    assert 40 <= len(history) <= 45


def test_the_limit_is_step_functions_own() -> None:
    assert HISTORY_LIMIT == 25_000
