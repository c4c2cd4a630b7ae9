"""Every IAM policy the stage deploys passes ``parliament`` (an IAM policy linter, community auditors on): the
Lambda roles' policies of every stage, with and without instance roles and KMS keys named, and the state machines'
roles with their template intrinsics resolved, tracing on and off.

parliament reports ``RESOURCE_MISMATCH`` for a statement that does not name every resource type an action
requires. Where the resources of one action are split over statements on purpose (a tag condition that applies to
the instance but not to the image it is launched from), the finding is accepted only if another statement of the
same policy allows that action on a resource of the required type: the policy as a whole grants it.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest
from parliament import analyze_policy_string

from deploy.build_merge_template import MACHINES, build
from deploy.lambda_policies import ROLES, chalice_config, lambda_policy
from deploy.model import machine_policy, stage_model
from deploy.operations import TRACING_ON

STAGES = sorted(chalice_config()["stages"])
NAMED = {"PCF_INSTANCE_ROLES": "pcf-dev-instance,pcf-dev-batch-*",
         "PCF_KMS_KEY_ARNS": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
ACCOUNT, REGION = "123456789012", "us-east-1"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _granted_elsewhere(policy: dict[str, Any], action: str, required: str) -> bool:
    """Whether some statement of ``policy`` allows ``action`` on a resource of the ``required`` ARN format."""
    for statement in policy["Statement"]:
        if (statement["Effect"] == "Allow" and action in _list(statement["Action"])
                and any(resource == "*" or fnmatch.fnmatchcase(resource, required)
                        for resource in _list(statement["Resource"]))):
            return True
    return False


ACCEPTED: dict[tuple[str, frozenset[str]], str] = {
    ("PERMISSIONS_MANAGEMENT_ACTIONS", frozenset({"iam:passrole"})):
        "instance profiles pass only the stage's PCF_INSTANCE_ROLES, only to EC2 (checked below)",
    ("PERMISSIONS_MANAGEMENT_ACTIONS", frozenset({"kms:creategrant"})):
        "EBS needs grants on the stage's PCF_KMS_KEY_ARNS, only for AWS resources, only through EC2 (checked below)",
    ("PERMISSIONS_MANAGEMENT_ACTIONS", frozenset({"kms:creategrant", "iam:passrole"})):
        "both of the above",
    ("PRIVILEGE_ESCALATION", frozenset({"iam:passrole", "ec2:runinstances"})):
        "launching an instance with a profile is what an ec2_instance particle does; the roles are the stage's",
    ("PERMISSIONS_MANAGEMENT_ACTIONS", frozenset({"logs:putresourcepolicy"})):
        "Step Functions' log delivery needs it, on *, to write to the machine's log group (AWS's documented policy)",
}
"""Findings accepted on purpose, by issue and actions, with why."""
EXPRESS_ONLY = "arn:*:states:*:*:express:*:*:*"
"""An Express workflow's execution ARN: the ``particle`` machine is STANDARD, so none exists."""
MAP_RUN_LISTING = ("states:ListExecutions", "arn:*:states:*:*:mapRun:*/*:*")
"""``ListExecutions`` of a map run's children: the schedule lists only its machine's own runs (by machine ARN)."""


def _finding_actions(location: Any) -> frozenset[str]:
    """The actions parliament names in a finding's location (where it puts them for policy-wide findings)."""
    return frozenset(location.get("actions", [])) if isinstance(location, dict) else frozenset()


def unexplained_findings(policy: dict[str, Any]) -> list[tuple[str, Any]]:
    """parliament's findings on ``policy`` that neither the policy as a whole nor :data:`ACCEPTED` answers."""
    analyzed = analyze_policy_string(json.dumps(policy), include_community_auditors=True)
    left = []
    for finding in analyzed.findings:
        if finding.issue == "RESOURCE_MISMATCH":
            missing = [item for item in finding.detail if item["required_format"] != EXPRESS_ONLY
                       and (item["action"], item["required_format"]) != MAP_RUN_LISTING
                       and not _granted_elsewhere(policy, item["action"], item["required_format"])]
            if missing:
                left.append((finding.issue, missing))
        elif (finding.issue, _finding_actions(finding.location)) not in ACCEPTED:
            left.append((finding.issue, finding.location))
    return left


def resolved_machine_policy(stage: str, key: str, tracing: bool) -> dict[str, Any]:
    """The machine role's policy with its intrinsics resolved to plausible deployed values."""
    model = stage_model(stage)
    arns = {name: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function.function_name}"
            for name, function in model.functions.items()}
    return machine_policy(model, key, arns, REGION, ACCOUNT, {TRACING_ON: tracing})


@pytest.mark.parametrize("named", [False, True], ids=["nothing named", "roles and keys named"])
@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("stage", STAGES)
def test_lambda_policies_pass_parliament(stage: str, role: str, named: bool) -> None:
    policy = lambda_policy(stage, role, NAMED if named else None)
    assert unexplained_findings(policy) == []


@pytest.mark.parametrize("tracing", [False, True], ids=["tracing off", "tracing on"])
@pytest.mark.parametrize("key", list(MACHINES))
def test_state_machine_policies_pass_parliament(key: str, tracing: bool) -> None:
    policy = resolved_machine_policy("dev", key, tracing)
    assert ("xray:PutTraceSegments" in json.dumps(policy)) is tracing
    assert unexplained_findings(policy) == []


def test_a_split_resource_not_granted_anywhere_is_reported() -> None:
    """``ec2:RunInstances`` on instances alone: the image, subnet, ... it also needs are granted nowhere."""
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "arn:aws:ec2:*:*:instance/*"}]}
    (finding,) = unexplained_findings(policy)
    assert finding[0] == "RESOURCE_MISMATCH"
    assert {"action": "ec2:RunInstances", "required_format": "arn:*:ec2:*::image/*"} in finding[1]


def test_a_mistyped_action_is_reported() -> None:
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:GetItems", "Resource": "arn:aws:dynamodb:*:*:table/t"}]}
    assert [issue for issue, _ in unexplained_findings(policy)] == ["UNKNOWN_ACTION"]


def test_the_accepted_permission_actions_are_scoped() -> None:
    statements = {st["Sid"]: st for st in lambda_policy("dev", "steps", NAMED)["Statement"]}
    passing = statements["PassInstanceRoles"]
    assert "*" not in passing["Resource"] and all(":role/pcf-dev-" in arn for arn in passing["Resource"])
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    grants = statements["EbsKeyGrants"]
    assert grants["Resource"] == [NAMED["PCF_KMS_KEY_ARNS"]]
    assert grants["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    assert "iam:PassRole" not in json.dumps(lambda_policy("dev", "steps")), "nothing named, nothing passed"
    assert build("dev")["Resources"]["PageStateMachine"]["Properties"]["StateMachineType"] == "STANDARD"
