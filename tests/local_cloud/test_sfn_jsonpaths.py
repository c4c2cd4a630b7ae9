"""JSONPath expressions moto's interpreter reads are parsed once and reused: the same answers for every input."""

from __future__ import annotations

import json
import uuid
from typing import Any

from moto.stepfunctions.parser.asl.utils import json_path

from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.deployment import ADMIN_POLICY, _ensure_role
from tests.support.executions import finished

PASSES = {"StartAt": "Pick", "States": {
    "Pick": {"Type": "Pass", "InputPath": "$.item", "ResultPath": "$.picked", "Next": "Keep"},
    "Keep": {"Type": "Pass", "Parameters": {"value.$": "$.picked.value", "all.$": "$.picked"}, "End": True},
}}


def test_a_path_is_parsed_once_while_the_cloud_runs(cloud: LocalCloud) -> None:
    assert json_path.parse("$.a.b") is json_path.parse("$.a.b")


def test_reused_paths_answer_each_input_for_itself(cloud: LocalCloud) -> None:
    sfn = cloud.client("stepfunctions")
    role = _ensure_role(cloud.client("iam"), "paths-role", ADMIN_POLICY)
    machine = sfn.create_state_machine(name="paths", definition=json.dumps(PASSES), roleArn=role)["stateMachineArn"]
    outputs: list[Any] = []
    for value in ("first", "second", "third"):
        arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"item": {"value": value}}))["executionArn"]
        assert finished(sfn, arn) == "SUCCEEDED"
        outputs.append(json.loads(sfn.describe_execution(executionArn=arn)["output"]))
    assert outputs == [{"value": v, "all": {"value": v}} for v in ("first", "second", "third")]


def test_executions_started_without_a_name_are_each_named_by_a_uuid(cloud: LocalCloud) -> None:
    sfn = cloud.client("stepfunctions")
    role = _ensure_role(cloud.client("iam"), "names-role", ADMIN_POLICY)
    machine = sfn.create_state_machine(name="names", definition=json.dumps(PASSES), roleArn=role)["stateMachineArn"]
    arns = [sfn.start_execution(stateMachineArn=machine, input=json.dumps({"item": {"value": 1}}))["executionArn"]
            for _ in range(2)]
    names = [arn.rsplit(":", 1)[-1] for arn in arns]
    assert len(set(names)) == 2
    assert all(str(uuid.UUID(name)) == name for name in names)
    for arn in arns:
        finished(sfn, arn)
