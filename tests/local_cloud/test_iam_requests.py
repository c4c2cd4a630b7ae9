"""An API call becomes the IAM requests AWS authorizes for it: per-item actions of a transaction, tags of the
resource acted on, tag-on-create, PassRole of an instance profile's role, the KMS key of an encrypted volume."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from pcf_local_cloud.iam_evaluator import AuthRequest
from pcf_local_cloud.iam_requests import UnmappedOperation, requests_for

ACCOUNT, REGION = "123456789012", "us-east-1"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/state"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/web"


class Facts:
    def __init__(self, tags: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._tags = tags or {}

    def tags(self, arn: str) -> Mapping[str, str] | None:
        return self._tags.get(arn.rsplit("/", 1)[-1])

    def instance_profile_roles(self, profile: str) -> list[str]:
        return [ROLE] if profile.endswith("web-profile") else []

    def association_instance(self, association_id: str) -> str | None:
        return "i-1" if association_id == "iip-assoc-1" else None


def requests(service: str, operation: str, facts: Facts | None = None, **params: Any) -> list[AuthRequest]:
    return requests_for(service, operation, params, region=REGION, account=ACCOUNT, facts=facts or Facts())


def test_a_transaction_is_each_items_own_action() -> None:
    found = requests("dynamodb", "TransactWriteItems", TransactItems=[
        {"Put": {"TableName": "state", "Item": {}}}, {"Update": {"TableName": "state", "Key": {}}},
        {"ConditionCheck": {"TableName": "state", "Key": {}}}, {"Delete": {"TableName": "state", "Key": {}}}])
    assert [(r.action, r.resource) for r in found] == [
        ("dynamodb:PutItem", TABLE), ("dynamodb:UpdateItem", TABLE), ("dynamodb:ConditionCheckItem", TABLE),
        ("dynamodb:DeleteItem", TABLE)]


def test_a_query_on_an_index_is_on_the_index() -> None:
    [found] = requests("dynamodb", "Query", TableName="state", IndexName="by-resource")
    assert found == AuthRequest("dynamodb:Query", f"{TABLE}/index/by-resource")
    [batch] = requests("dynamodb", "BatchGetItem", RequestItems={"state": {"Keys": []}})
    assert batch == AuthRequest("dynamodb:BatchGetItem", TABLE)


def test_acting_on_an_instance_brings_its_tags() -> None:
    facts = Facts({"i-1": {"PCFDeployment": "pcf-dev"}})
    [stop] = requests("ec2", "StopInstances", facts, InstanceIds=["i-1"])
    assert stop.action == "ec2:StopInstances"
    assert stop.resource == f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1"
    assert stop.context == {"aws:ResourceTag/PCFDeployment": "pcf-dev"}
    [unknown] = requests("ec2", "StartInstances", facts, InstanceIds=["i-2"])
    assert unknown.context == {}


def test_attaching_a_volume_is_checked_on_the_volume_and_the_instance() -> None:
    found = requests("ec2", "AttachVolume", Facts({"vol-1": {"a": "1"}}), VolumeId="vol-1", InstanceId="i-1",
                     Device="/dev/sdf")
    assert [r.resource.rsplit(":", 1)[-1] for r in found] == ["volume/vol-1", "instance/i-1"]
    assert found[0].context == {"aws:ResourceTag/a": "1"}


def test_run_instances_with_tags_and_a_profile() -> None:
    tags = [{"Key": "PCFName", "Value": "web"}, {"Key": "PCFDeployment", "Value": "pcf-dev"}]
    found = requests("ec2", "RunInstances", ImageId="ami-1", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                     SubnetId="subnet-1", SecurityGroupIds=["sg-1"],
                     TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
                     IamInstanceProfile={"Name": "web-profile"})
    by_resource = {(r.action, r.resource.split(":", 5)[-1]): r for r in found}
    instance = by_resource[("ec2:RunInstances", "instance/*")]
    assert instance.context["aws:RequestTag/PCFDeployment"] == "pcf-dev"
    assert instance.context["aws:TagKeys"] == ["PCFName", "PCFDeployment"]
    assert by_resource[("ec2:RunInstances", "image/ami-1")].resource == f"arn:aws:ec2:{REGION}::image/ami-1"
    assert {("ec2:RunInstances", "subnet/subnet-1"), ("ec2:RunInstances", "security-group/sg-1"),
            ("ec2:RunInstances", "volume/*"), ("ec2:RunInstances", "network-interface/*")} <= set(by_resource)
    tag_on_create = by_resource[("ec2:CreateTags", "instance/*")]
    assert tag_on_create.context["ec2:CreateAction"] == "RunInstances"
    assert by_resource[("iam:PassRole", "role/web")].context == {"iam:PassedToService": "ec2.amazonaws.com"}


def test_tagging_an_existing_resource_is_not_part_of_a_create() -> None:
    [found] = requests("ec2", "CreateTags", Facts({"i-1": {"PCFDeployment": "pcf-dev"}}), Resources=["i-1"],
                       Tags=[{"Key": "PCFName", "Value": "x"}])
    assert "ec2:CreateAction" not in found.context
    assert found.context["aws:ResourceTag/PCFDeployment"] == "pcf-dev"
    assert found.context["aws:RequestTag/PCFName"] == "x"


def test_an_encrypted_volume_needs_the_keys_actions_through_ec2() -> None:
    found = requests("ec2", "CreateVolume", AvailabilityZone="us-east-1a", Size=8, KmsKeyId="key-1")
    kms = [r for r in found if r.action.startswith("kms:")]
    assert {r.action for r in kms} >= {"kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext"}
    assert {r.resource for r in kms} == {f"arn:aws:kms:{REGION}:{ACCOUNT}:key/key-1"}
    assert all(r.context["kms:ViaService"] == f"ec2.{REGION}.amazonaws.com" for r in kms)


def test_replacing_a_profile_is_checked_on_the_associated_instance() -> None:
    found = requests("ec2", "ReplaceIamInstanceProfileAssociation", Facts({"i-1": {"d": "x"}}),
                     AssociationId="iip-assoc-1", IamInstanceProfile={"Name": "web-profile"})
    assert [(r.action, r.resource.rsplit(":", 1)[-1]) for r in found] == [
        ("ec2:ReplaceIamInstanceProfileAssociation", "instance/i-1"), ("iam:PassRole", "role/web")]


@pytest.mark.parametrize("name", ["pcf-dev-reconcile", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:pcf-dev-reconcile",
                                  f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:pcf-dev-reconcile:live"])
def test_invoking_a_function_is_on_its_unqualified_arn(name: str) -> None:
    [found] = requests("lambda", "Invoke", FunctionName=name)
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:pcf-dev-reconcile"
    assert found == AuthRequest("lambda:InvokeFunction", function)


def test_step_functions_calls_are_on_the_machine_or_the_execution() -> None:
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:apply"
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:apply:run-1"
    assert requests("stepfunctions", "StartExecution", stateMachineArn=machine) == [
        AuthRequest("states:StartExecution", machine)]
    assert requests("stepfunctions", "DescribeExecution", executionArn=execution) == [
        AuthRequest("states:DescribeExecution", execution)]


def test_describe_calls_have_no_resource_and_unknown_calls_are_refused() -> None:
    assert requests("ec2", "DescribeAvailabilityZones") == [AuthRequest("ec2:DescribeAvailabilityZones", "*")]
    with pytest.raises(UnmappedOperation, match="s3:ListBuckets"):
        requests("s3", "ListBuckets")
