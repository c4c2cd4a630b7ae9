"""The stage variables that widen the ``steps`` policy on purpose: the roles instance profiles may pass
(``PCF_INSTANCE_ROLES``) and the customer-managed keys EBS may use (``PCF_KMS_KEY_ARNS``); by default neither."""

from __future__ import annotations

from typing import Any

from deploy.lambda_policies import lambda_policy
from pcf_local_cloud.iam_evaluator import AuthRequest, evaluate

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VIA_EC2 = {"kms:ViaService": "ec2.us-east-1.amazonaws.com", "kms:GrantIsForAWSResource": "true"}


def steps(**environment: str) -> dict[str, Any]:
    return lambda_policy("dev", "steps", environment)


def pass_role(role: str, service: str = "ec2.amazonaws.com") -> AuthRequest:
    return AuthRequest("iam:PassRole", f"arn:aws:iam::123456789012:role/{role}", {"iam:PassedToService": service})


def test_by_default_no_role_may_be_passed_and_no_key_used() -> None:
    policy = steps()
    assert not evaluate([policy], pass_role("anything")).allowed
    assert not evaluate([policy], AuthRequest("kms:CreateGrant", KEY, VIA_EC2)).allowed
    assert all(statement["Sid"] not in ("PassInstanceRoles", "EbsKeys") for statement in policy["Statement"])


def test_only_the_named_instance_roles_may_be_passed_and_only_to_ec2() -> None:
    policy = steps(PCF_INSTANCE_ROLES="web-instance, batch-*")
    assert evaluate([policy], pass_role("web-instance")).allowed
    assert evaluate([policy], pass_role("batch-workers")).allowed
    assert not evaluate([policy], pass_role("admin")).allowed
    assert not evaluate([policy], pass_role("web-instance", "lambda.amazonaws.com")).allowed


def test_a_named_key_is_usable_only_through_ec2_and_grants_only_for_aws_resources() -> None:
    policy = steps(PCF_KMS_KEY_ARNS=KEY)
    for action in ("kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom",
                   "kms:ReEncryptTo", "kms:CreateGrant"):
        assert evaluate([policy], AuthRequest(action, KEY, VIA_EC2)).allowed, action
    assert not evaluate([policy], AuthRequest("kms:Decrypt", KEY, {"kms:ViaService": "s3.amazonaws.com"})).allowed
    assert not evaluate([policy], AuthRequest("kms:CreateGrant", KEY, {**VIA_EC2,
                                                                      "kms:GrantIsForAWSResource": "false"})).allowed
    other = KEY.replace("1234abcd", "99999999")
    assert not evaluate([policy], AuthRequest("kms:Decrypt", other, VIA_EC2)).allowed
