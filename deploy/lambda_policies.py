"""The Lambda functions' IAM policies, one per role, least privilege: each function gets only what it calls.

- ``steps`` (``sync_state``, ``start``, ``stop``, ``terminate``, ``update``): the state table; EC2 reads; EC2
  changes only to resources tagged with the stage's deployment, creation only with that tag; IAM instance-profile
  lookups and passing roles to EC2.
- ``store`` (every other step of the workflow): the state table.
- ``events`` (``on_ec2_event``): the state table; starting executions of the stage's ``apply`` machine.
- ``reconcile`` (``reconcile``): the state table; ``DescribeInstances``/``DescribeVolumes``; starting ``apply``
  executions.

Every role writes only to its stage's functions' log groups (created by the template, so never
``logs:CreateLogGroup``). The roles of functions invoked asynchronously (:data:`ASYNC_FUNCTIONS`) may send to the
stage's failed-events queue, where Lambda puts an event whose retries are exhausted (their on-failure
destination, sent with the function's role).

Chalice's generated policy is off; ``write_policies`` writes ``.chalice/policy-<stage>-<role>.json`` and points
each stage's ``lambda_functions`` at them (``store`` is the stage default).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from deploy import stage_config
from deploy.project_files import CHALICE_DIR
from pcf.util.aws.tag_specifications import DEPLOYMENT_TAG

ROLES: dict[str, tuple[str, ...]] = {
    "steps": ("sync_state", "start", "stop", "terminate", "update"),
    "events": ("on_ec2_event",),
    "reconcile": ("reconcile",),
    "store": (),
}
"""Role -> the functions that use it; ``store`` is every function not named elsewhere."""
DEFAULT_ROLE = "store"
ASYNC_FUNCTIONS: tuple[str, ...] = ("on_ec2_event", "reconcile")
"""The functions EventBridge invokes asynchronously (an event rule, a schedule): retried, then sent to the stage's
failed-events queue."""
INSTANCE_ROLES_VARIABLE = "PCF_INSTANCE_ROLES"
"""Stage variable: the roles (names, ``*`` allowed) the stage's instance profiles may pass to EC2."""
KMS_KEYS_VARIABLE = "PCF_KMS_KEY_ARNS"
"""Stage variable: the customer-managed KMS keys (ARNs) the stage's volumes and images may be encrypted with."""

_DYNAMODB_ACTIONS = [
    "dynamodb:ConditionCheckItem",  # the ConditionCheck of a transaction (AWS checks each item's own action)
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
]
# No resource-level permissions exist for these: Resource must be "*".
_EC2_READ_ACTIONS = [
    "ec2:DescribeInstances",
    "ec2:DescribeVolumes",
    "ec2:DescribeVolumesModifications",
    "ec2:DescribeImages",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSnapshots",
    "ec2:DescribeTags",  # $lookup$instance_name$
    "ec2:DescribeIamInstanceProfileAssociations",
]
# Acting on an existing resource: only on one carrying this deployment's tag ("managed means tagged").
_EC2_TAGGED_ACTIONS = [
    "ec2:StartInstances",
    "ec2:StopInstances",
    "ec2:TerminateInstances",
    "ec2:DescribeInstanceAttribute",
    "ec2:ModifyInstanceAttribute",
    "ec2:AssociateIamInstanceProfile",
    "ec2:ReplaceIamInstanceProfileAssociation",
    "ec2:AttachVolume",
    "ec2:DetachVolume",
    "ec2:ModifyVolume",
    "ec2:DeleteVolume",
    "ec2:CreateTags",
    "ec2:DeleteTags",
]
# What RunInstances touches besides the instance (the instance itself must be created with the tag).
_RUN_INSTANCES_INPUTS = [
    "arn:aws:ec2:*::image/*",
    "arn:aws:ec2:*::snapshot/*",
    "arn:aws:ec2:*:*:volume/*",
    "arn:aws:ec2:*:*:network-interface/*",
    "arn:aws:ec2:*:*:subnet/*",
    "arn:aws:ec2:*:*:security-group/*",
    "arn:aws:ec2:*:*:key-pair/*",
    "arn:aws:ec2:*:*:launch-template/*",
    "arn:aws:ec2:*:*:placement-group/*",
]




def chalice_config(chalice_dir: Path = CHALICE_DIR) -> dict[str, Any]:
    """``.chalice/config.json``."""
    return stage_config.read_config(chalice_dir / "config.json")


def stage_environment(stage: str) -> dict[str, str]:
    """The functions' environment in ``stage``: the global variables overlaid with the stage's."""
    try:
        return stage_config.stage_variables(chalice_config(), stage)
    except stage_config.StageConfigError as error:
        raise SystemExit(f"unknown stage: {error}") from None


def role_of(function: str) -> str:
    """The policy role of a function of ``app.py``."""
    return next((role for role, functions in ROLES.items() if function in functions), DEFAULT_ROLE)


def app_name() -> str:
    """The Chalice app's name (``.chalice/config.json``), the prefix of every name a stage deploys."""
    return stage_config.app_name(chalice_config())


def function_name(stage: str, function: str) -> str:
    """``<app>-<stage>-<function>``: a function's name as ``chalice deploy`` gives it and the template sets it."""
    return f"{app_name()}-{stage}-{function}"


def failed_events_queue_name(stage: str) -> str:
    """``<app>-<stage>-failed-events``: the SQS queue receiving the stage's failed asynchronous invocations."""
    return f"{app_name()}-{stage}-failed-events"


def policy_file(stage: str, role: str) -> str:
    return f"policy-{stage}-{role}.json"


def _table_arns(table_name: str) -> list[str]:
    table = f"arn:aws:dynamodb:*:*:table/{table_name}"
    return [table, f"{table}/index/*"]


def lambda_policy(stage: str, role: str = "steps", environment: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The policy of the functions with ``role`` in ``stage`` (see the module docstring); ``environment`` overrides
    the stage's variables (the local cloud deploys a stage with another table or deployment name)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {sorted(ROLES)}")
    env = {**stage_environment(stage), **(environment or {})}
    statements = [*_base(stage, env), *{"steps": _ec2_steps, "events": _healing, "reconcile": _reconciling,
                                        "store": lambda env: []}[role](env)]
    if any(function in ASYNC_FUNCTIONS for function in ROLES[role]):
        statements.append({"Sid": "FailedEvents", "Effect": "Allow", "Action": "sqs:SendMessage",
                           "Resource": f"arn:aws:sqs:*:*:{failed_events_queue_name(stage)}"})
    return {"Version": "2012-10-17", "Statement": statements}


def _base(stage: str, env: dict[str, str]) -> list[dict[str, Any]]:
    log_groups = f"arn:aws:logs:*:*:log-group:/aws/lambda/{function_name(stage, '*')}"
    return [
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": log_groups,  # the group and its streams: the name's trailing * matches ":log-stream:…" too
        },
        {"Sid": "StateTable", "Effect": "Allow", "Action": _DYNAMODB_ACTIONS,
         "Resource": _table_arns(env["PCF_TABLE_NAME"])},
    ]


def _healing(env: dict[str, str]) -> list[dict[str, Any]]:
    return [{
        "Sid": "StartHealingExecutions",
        "Effect": "Allow",
        "Action": "states:StartExecution",
        "Resource": f"arn:aws:states:*:*:stateMachine:{env['PCF_APPLY_STATE_MACHINE']}",
    }]


def _reconciling(env: dict[str, str]) -> list[dict[str, Any]]:
    return [{"Sid": "Ec2ReadManaged", "Effect": "Allow", "Action": ["ec2:DescribeInstances", "ec2:DescribeVolumes"],
             "Resource": "*"}, *_healing(env)]


def _ec2_steps(env: Mapping[str, str]) -> list[dict[str, Any]]:
    deployment = env["PCF_DEPLOYMENT"]
    tagged = {"StringEquals": {f"aws:ResourceTag/{DEPLOYMENT_TAG}": deployment}}
    requested = {"StringEquals": {f"aws:RequestTag/{DEPLOYMENT_TAG}": deployment}}
    return [
        {"Sid": "Ec2Read", "Effect": "Allow", "Action": _EC2_READ_ACTIONS, "Resource": "*"},
        {
            "Sid": "Ec2Managed",
            "Effect": "Allow",
            "Action": _EC2_TAGGED_ACTIONS,
            "Resource": ["arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:*:*:volume/*"],
            "Condition": tagged,
        },
        {
            "Sid": "Ec2CreateTagged",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateVolume"],
            "Resource": ["arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:*:*:volume/*"],
            "Condition": requested,
        },
        {
            "Sid": "Ec2SetInstanceSecurityGroups",
            "Effect": "Allow",
            "Action": "ec2:ModifyInstanceAttribute",
            "Resource": "arn:aws:ec2:*:*:security-group/*",
        },
        {"Sid": "Ec2RunInputs", "Effect": "Allow", "Action": "ec2:RunInstances", "Resource": _RUN_INSTANCES_INPUTS},
        {
            "Sid": "Ec2CreateVolumeFromSnapshot",
            "Effect": "Allow",
            "Action": "ec2:CreateVolume",
            "Resource": "arn:aws:ec2:*::snapshot/*",
        },
        {
            "Sid": "Ec2TagOnCreate",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": ["arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:*:*:volume/*"],
            "Condition": {
                "StringEquals": {"ec2:CreateAction": ["RunInstances", "CreateVolume"], **requested["StringEquals"]}
            },
        },
        {
            "Sid": "IamLookups",
            "Effect": "Allow",
            "Action": ["iam:GetInstanceProfile", "iam:GetRole"],
            "Resource": ["arn:aws:iam::*:instance-profile/*", "arn:aws:iam::*:role/*"],
        },
        *_pass_instance_roles(env),
        *_ebs_keys(env),
    ]


def _names(env: Mapping[str, str], variable: str) -> list[str]:
    return [name.strip() for name in env.get(variable, "").split(",") if name.strip()]


def _pass_instance_roles(env: Mapping[str, str]) -> list[dict[str, Any]]:
    """``iam:PassRole`` to EC2 of the roles the stage names in ``PCF_INSTANCE_ROLES`` (role names, ``*`` allowed):
    none when it names none, so a definition's instance profile can hand out no other role."""
    roles = _names(env, INSTANCE_ROLES_VARIABLE)
    if not roles:
        return []
    return [{
        "Sid": "PassInstanceRoles",
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": [f"arn:aws:iam::*:role/{role}" for role in roles],
        "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
    }]


def _ebs_keys(env: Mapping[str, str]) -> list[dict[str, Any]]:
    """What EBS needs of the customer-managed KMS keys the stage names in ``PCF_KMS_KEY_ARNS`` (key ARNs), only
    through EC2 (``kms:ViaService``), grants only for AWS resources (Amazon EBS User Guide, "Requirements for
    Amazon EBS encryption")."""
    keys = _names(env, KMS_KEYS_VARIABLE)
    if not keys:
        return []
    via_ec2 = {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}
    return [
        {"Sid": "EbsKeys", "Effect": "Allow", "Resource": keys, "Condition": via_ec2,
         "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom",
                    "kms:ReEncryptTo"]},
        {"Sid": "EbsKeyGrants", "Effect": "Allow", "Action": "kms:CreateGrant", "Resource": keys,
         "Condition": {**via_ec2, "Bool": {"kms:GrantIsForAWSResource": "true"}}},
    ]


def write_policies(chalice_dir: Path, render: Callable[[dict[str, Any]], str]) -> None:
    """Write every stage's policy files and point the stage's functions at them in ``config.json``."""
    config = chalice_config(chalice_dir)
    for stage, settings in config["stages"].items():
        for role in ROLES:
            (chalice_dir / policy_file(stage, role)).write_text(render(lambda_policy(stage, role)))
        settings["autogen_policy"] = False
        settings["iam_policy_file"] = policy_file(stage, DEFAULT_ROLE)
        functions = settings.setdefault("lambda_functions", {})
        for role, names in ROLES.items():
            for function in names:  # other keys (sizes) stay as they are
                functions.setdefault(function, {})["iam_policy_file"] = policy_file(stage, role)
    (chalice_dir / "config.json").write_text(render(config))
