"""IAM in the local cloud: a function's calls run under its role, a state machine's integrations under the
machine's, as AWS evaluates them (per-item actions of a transaction included); the test's own calls are the
account administrator's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pcf_control_plane import wiring
from pcf_local_cloud import LocalCloud
from pcf_local_cloud.deployment import EMPTY_ZIP
from tests.support.deployments import deployed, instance_event
from tests.support.executions import finished

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": ["lambda.amazonaws.com",
                                                                           "states.amazonaws.com"]}}]}
TABLE = "iam-test"


def allow(*actions: str, resource: str = "*") -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]}


def role(cloud: LocalCloud, name: str, policy: dict[str, Any]) -> str:
    iam = cloud.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


def function(cloud: LocalCloud, name: str, role_arn: str, handler: Any) -> str:
    cloud.register_handler(name, handler)
    return cloud.client("lambda").create_function(
        FunctionName=name, Runtime="python3.11", Role=role_arn, Handler="app.handler", Code={"ZipFile": EMPTY_ZIP},
        Timeout=30,  # moto's default 3 s leaves 0.2 s of this machine's CPU at 128 MB: a first client may need more
    )["FunctionArn"]


def invoke(cloud: LocalCloud, name: str, payload: dict[str, Any] | None = None) -> tuple[bool, Any]:
    response = cloud.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode())
    return "FunctionError" not in response, json.loads(response["Payload"].read())


@pytest.fixture
def table(cloud: LocalCloud) -> str:
    cloud.client("dynamodb").create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    return f"arn:aws:dynamodb:us-east-1:{cloud.account_id}:table/{TABLE}"


def test_a_function_may_do_only_what_its_role_allows(cloud: LocalCloud, table: str) -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        dynamodb = cloud.client("dynamodb")
        dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "a"}})
        return {"written": True}

    function(cloud, "reader", role(cloud, "reader-role", allow("dynamodb:GetItem", resource=table)), handler)
    ok, payload = invoke(cloud, "reader")
    assert not ok
    assert payload["errorType"] == "ClientError"  # as the Lambda runtime names botocore's unmodeled error
    assert "(AccessDeniedException)" in payload["errorMessage"]
    assert "reader-role" in payload["errorMessage"]
    assert f"dynamodb:PutItem on resource: {table}" in payload["errorMessage"]
    assert cloud.client("dynamodb").scan(TableName=TABLE)["Items"] == [], "nothing reached the table"
    assert cloud.patches.iam.refusals[-1].request.action == "dynamodb:PutItem"


def test_a_transaction_is_checked_item_by_item(cloud: LocalCloud, table: str) -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        cloud.client("dynamodb").transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "b"}}}},
            {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": "c"}},
                                "ConditionExpression": "attribute_not_exists(pk)"}}])
        return {}

    arn = role(cloud, "writer-role", allow("dynamodb:PutItem", "dynamodb:TransactWriteItems", resource=table))
    function(cloud, "writer", arn, handler)
    ok, payload = invoke(cloud, "writer")
    assert not ok and "dynamodb:ConditionCheckItem" in payload["errorMessage"]
    cloud.client("iam").put_role_policy(RoleName="writer-role", PolicyName="p", PolicyDocument=json.dumps(
        allow("dynamodb:PutItem", "dynamodb:ConditionCheckItem", resource=table)))
    assert invoke(cloud, "writer") == (True, {})


def test_an_operation_the_local_cloud_cannot_judge_is_refused(cloud: LocalCloud) -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        cloud.client("s3").list_buckets()
        return {}

    function(cloud, "lister", role(cloud, "admin-role", allow("*")), handler)
    ok, payload = invoke(cloud, "lister")
    assert not ok and "no IAM mapping for s3:ListBuckets" in payload["errorMessage"]


def test_the_tests_own_calls_are_the_administrators(cloud: LocalCloud, table: str) -> None:
    cloud.client("dynamodb").put_item(TableName=TABLE, Item={"pk": {"S": "admin"}})
    assert cloud.patches.iam.refusals == []


def test_a_state_machine_invokes_lambda_as_its_role(cloud: LocalCloud) -> None:
    function_arn = function(cloud, "echo", role(cloud, "echo-role", allow("logs:PutLogEvents")),
                            lambda event, context: event)
    definition = json.dumps({"StartAt": "Echo", "States": {"Echo": {"Type": "Task", "Resource": function_arn,
                                                                    "End": True}}})
    sfn = cloud.client("stepfunctions")

    def run(machine_role: str, name: str) -> str:
        machine = sfn.create_state_machine(name=name, definition=definition, roleArn=machine_role)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine, name="x", input="{}")["executionArn"]
        return finished(sfn, execution)

    assert run(role(cloud, "no-invoke", allow("states:StartExecution")), "denied") == "FAILED"
    assert cloud.patches.iam.refusals[-1].request.action == "lambda:InvokeFunction"
    assert run(role(cloud, "invoke", allow("lambda:InvokeFunction", resource=function_arn)), "allowed") == "SUCCEEDED"


@pytest.fixture
def control_plane(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from deployed(cloud, monkeypatch.setenv, "iam", rules_off=True)


def test_healing_needs_condition_check_item_on_the_state_table(
    control_plane: Any, cloud: LocalCloud, ec2: Any, ami_id: str
) -> None:
    """The review's finding: a heal-due event writes a transaction with a ConditionCheck; without
    ``dynamodb:ConditionCheckItem`` on the events role, AWS refuses it and nothing is recorded."""
    definition = {"pcf_name": "healed", "flavor": "ec2_instance",
                  "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                                   "custom_config": {"instance_name": "iam-healed"}}}
    result = control_plane.run_execution("apply", {"definition": definition, "desired_state": "running",
                                                   "wait_seconds": 0, "max_polls": 30}, name="up")
    assert result.status == "SUCCEEDED", result.output
    observation = wiring.control_plane().store.get_observation("ec2_instance:healed")
    assert observation is not None and observation.resource_id
    instance_id = observation.resource_id
    ec2.stop_instances(InstanceIds=[instance_id])
    events_function = control_plane.function_names["on_ec2_event"]
    role_name = cloud.client("lambda").get_function(FunctionName=events_function)["Configuration"]["Role"]
    role_name = role_name.rsplit("/", 1)[-1]
    iam = cloud.client("iam")
    [policy_name] = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    policy = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    for statement in policy["Statement"]:
        if isinstance(statement["Action"], list):
            statement["Action"] = [a for a in statement["Action"] if a != "dynamodb:ConditionCheckItem"]
    iam.put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(policy))

    iam_checks = cloud.patches.iam
    roles = {arn.rsplit("/", 1)[-1] for arn in iam_checks.checked}
    assert {"pcf-serverless-dev-steps", "pcf-serverless-dev-store", "pcf-serverless-dev-page-machine",
            "pcf-serverless-dev-apply-machine"} <= roles, "the apply ran under the deployed roles"
    assert iam_checks.refusals == [], "the deployed policies allow the whole apply"

    ok, payload = invoke(cloud, events_function, instance_event(instance_id, "stopped"))
    assert not ok
    assert "dynamodb:ConditionCheckItem" in payload["errorMessage"]
