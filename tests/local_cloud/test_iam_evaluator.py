"""The IAM evaluator decides as AWS does: explicit deny first, then any allow whose action, resource and
conditions match, else an implicit deny."""

from __future__ import annotations

from typing import Any

import pytest

from pcf_local_cloud.iam_evaluator import AuthRequest, evaluate

INSTANCE = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def allowed(policies: list[dict[str, Any]], action: str, resource: str = "*", **context: Any) -> bool:
    return evaluate(policies, AuthRequest(action, resource, context)).allowed


def test_nothing_is_allowed_without_a_statement() -> None:
    decision = evaluate([], AuthRequest("ec2:StopInstances", INSTANCE))
    assert not decision.allowed
    assert decision.reason == "no identity-based policy allows the ec2:StopInstances action"


def test_an_explicit_deny_beats_any_allow() -> None:
    policies = [policy(allow("ec2:*")), policy({"Sid": "NoStops", "Effect": "Deny", "Action": "ec2:StopInstances",
                                                "Resource": "*"})]
    decision = evaluate(policies, AuthRequest("ec2:StopInstances", INSTANCE))
    assert not decision.allowed and "explicit deny" in decision.reason and "NoStops" in decision.reason
    assert allowed(policies, "ec2:StartInstances", INSTANCE)


def test_actions_match_without_case_with_wildcards_and_not_action() -> None:
    policies = [policy(allow(["EC2:describe*", "dynamodb:?etItem"]))]
    assert allowed(policies, "ec2:DescribeInstances")
    assert allowed(policies, "dynamodb:GetItem") and allowed(policies, "dynamodb:SetItem")
    assert not allowed(policies, "dynamodb:PutItem")
    everything_but_iam = [policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})]
    assert allowed(everything_but_iam, "ec2:RunInstances")
    assert not allowed(everything_but_iam, "iam:PassRole")


def test_resources_match_with_case_part_by_part_and_not_resource() -> None:
    policies = [policy(allow("dynamodb:GetItem", "arn:aws:dynamodb:*:*:table/state"))]
    assert allowed(policies, "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/state")
    assert not allowed(policies, "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/State")
    assert not allowed(policies, "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/state/index/i")
    not_table = [policy({"Effect": "Allow", "Action": "dynamodb:*", "NotResource": "arn:aws:dynamodb:*:*:table/x"})]
    assert allowed(not_table, "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/y")
    assert not allowed(not_table, "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/x")


def test_a_tag_condition_needs_the_tag_with_that_value() -> None:
    tagged = [policy(allow("ec2:StopInstances", "arn:aws:ec2:*:*:instance/*",
                           Condition={"StringEquals": {"aws:ResourceTag/PCFDeployment": "pcf-dev"}}))]
    assert allowed(tagged, "ec2:StopInstances", INSTANCE, **{"aws:ResourceTag/PCFDeployment": "pcf-dev"})
    assert allowed(tagged, "ec2:StopInstances", INSTANCE, **{"aws:resourcetag/pcfdeployment": "pcf-dev"})
    assert not allowed(tagged, "ec2:StopInstances", INSTANCE, **{"aws:ResourceTag/PCFDeployment": "pcf-prod"})
    decision = evaluate(tagged, AuthRequest("ec2:StopInstances", INSTANCE))
    assert not decision.allowed and "StringEquals aws:ResourceTag/PCFDeployment" in decision.reason


@pytest.mark.parametrize(("operator", "value", "context", "expected"), [
    ("StringNotEquals", "prod", {}, True),
    ("StringNotEquals", "prod", {"k": "prod"}, False),
    ("StringLike", "pcf-*", {"k": "pcf-dev"}, True),
    ("StringEqualsIfExists", "dev", {}, True),
    ("StringEqualsIfExists", "dev", {"k": "prod"}, False),
    ("Null", "true", {}, True),
    ("Null", "false", {}, False),
    ("Bool", "true", {"k": "True"}, True),
    ("NumericLessThan", "10", {"k": "3"}, True),
    ("NumericLessThan", "10", {"k": "30"}, False),
    ("ArnLike", "arn:aws:iam::*:role/pcf-*", {"k": "arn:aws:iam::1:role/pcf-web"}, True),
    ("ForAnyValue:StringEquals", "a", {"k": ["b", "a"]}, True),
    ("ForAllValues:StringEquals", "a", {"k": ["b", "a"]}, False),
    ("ForAllValues:StringEquals", "a", {}, True),
    ("StringEqualsMaybe", "a", {"k": "a"}, False),
])
def test_condition_operators(operator: str, value: str, context: dict[str, Any], expected: bool) -> None:
    policies = [policy(allow("s3:GetObject", Condition={operator: {"k": value}}))]
    assert allowed(policies, "s3:GetObject", **context) is expected


def test_all_condition_blocks_must_hold_and_any_value_may_match() -> None:
    policies = [policy(allow("ec2:CreateTags", Condition={
        "StringEquals": {"ec2:CreateAction": ["RunInstances", "CreateVolume"], "aws:RequestTag/PCFDeployment": "d"}}))]
    assert allowed(policies, "ec2:CreateTags", **{"ec2:CreateAction": "CreateVolume",
                                                   "aws:RequestTag/PCFDeployment": "d"})
    assert not allowed(policies, "ec2:CreateTags", **{"aws:RequestTag/PCFDeployment": "d"})


def test_a_single_statement_object_is_read_as_a_list() -> None:
    assert allowed([{"Version": "2012-10-17", "Statement": allow("sqs:SendMessage")}], "sqs:SendMessage")
