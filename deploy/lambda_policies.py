"""The Lambda functions' IAM policies, one per role, least privilege: each function gets only what it calls.

- ``steps`` (``converge``): the state table; EC2 reads; EC2
  changes only to resources tagged with the stage's deployment, creation only with that tag; IAM instance-profile
  lookups and passing roles to EC2.
- ``store`` (every other step of the workflow): the state table.
- ``events`` (``on_ec2_event``): the state table; starting executions of the stage's ``apply`` machine.
- ``reconcile`` (``reconcile``, the schedule's): starting and listing executions of the stage's ``reconcile``
  machine; no table.
- ``reconcile_read`` (``reconcile_page``): the state table; ``DescribeInstances``/``DescribeVolumes``.
- ``heal`` (``reconcile_end``): the state table; starting ``apply`` executions.

Every role writes only to its stage's functions' log groups (created by the template, so never
``logs:CreateLogGroup``). The roles of functions invoked asynchronously (:data:`ASYNC_FUNCTIONS`) may send to the
stage's failed-events queue, where Lambda puts an event whose retries are exhausted (their on-failure
destination, sent with the function's role).

Chalice's generated policy is off; ``write_policies`` writes ``.chalice/policy-<stage>-<role>.json`` and points
each stage's ``lambda_functions`` at them (``store`` is the stage default).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from deploy import stage_config
from deploy.project_files import CHALICE_DIR
from pcf.core.resource_table import ResourceTable, resource_tables
from pcf.util.aws.aws_lookup import LOOKUP_ACTIONS
from pcf.util.aws.tag_specifications import DEPLOYMENT_TAG

ROLES: dict[str, tuple[str, ...]] = {
    "steps": ("converge",),
    "events": ("on_ec2_event",),
    "reconcile": ("reconcile",),
    "reconcile_read": ("reconcile_page",),
    "heal": ("reconcile_end",),
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
    "dynamodb:BatchWriteItem",  # a run's pages (plan)
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
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
    own = {"steps": _ec2_steps, "events": _events, "heal": _healing, "reconcile": _scheduling,
           "reconcile_read": _describing, "store": lambda env: []}[role](env)
    statements = [*_base(stage, env, table=role != "reconcile"), *own]
    if any(function in ASYNC_FUNCTIONS for function in ROLES[role]):
        statements.append({"Sid": "FailedEvents", "Effect": "Allow", "Action": "sqs:SendMessage",
                           "Resource": f"arn:aws:sqs:*:*:{failed_events_queue_name(stage)}"})
    return {"Version": "2012-10-17", "Statement": statements}


def _base(stage: str, env: dict[str, str], *, table: bool = True) -> list[dict[str, Any]]:
    log_groups = f"arn:aws:logs:*:*:log-group:/aws/lambda/{function_name(stage, '*')}"
    logs = {
        "Sid": "Logs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": log_groups,  # the group and its streams: the name's trailing * matches ":log-stream:…" too
    }
    if not table:
        return [logs]
    return [logs, {"Sid": "StateTable", "Effect": "Allow", "Action": _DYNAMODB_ACTIONS,
                   "Resource": _table_arns(env["PCF_TABLE_NAME"])}]


def _healing(env: dict[str, str]) -> list[dict[str, Any]]:
    return [{
        "Sid": "StartHealingExecutions",
        "Effect": "Allow",
        "Action": "states:StartExecution",
        "Resource": f"arn:aws:states:*:*:stateMachine:{env['PCF_APPLY_STATE_MACHINE']}",
    }]


def _events(env: dict[str, str]) -> list[dict[str, Any]]:
    """Healing, and resuming the executions waiting for an event (``SendTaskSuccess`` has no resource-level
    permissions: a task token names no resource)."""
    return [*_healing(env), {"Sid": "ResumeWaitingParticles", "Effect": "Allow", "Action": "states:SendTaskSuccess",
                             "Resource": "*"}]


def _describing(env: dict[str, str]) -> list[dict[str, Any]]:
    describe = sorted({table.describe.action for table in resource_tables().values()})
    return [{"Sid": "Ec2ReadManaged", "Effect": "Allow", "Action": describe, "Resource": "*"}]


def _scheduling(env: dict[str, str]) -> list[dict[str, Any]]:
    return [{
        "Sid": "StartReconcileRuns",
        "Effect": "Allow",
        "Action": ["states:ListExecutions", "states:StartExecution"],
        "Resource": f"arn:aws:states:*:*:stateMachine:{env['PCF_RECONCILE_STATE_MACHINE']}",
    }]


def _ec2_steps(env: Mapping[str, str]) -> list[dict[str, Any]]:
    """What the transitions of every flavor with a resource table need (``Permissions``), and lookups."""
    tables = list(resource_tables().values())
    deployment = env["PCF_DEPLOYMENT"]
    tagged = {"StringEquals": {f"aws:ResourceTag/{DEPLOYMENT_TAG}": deployment}}
    requested = {"StringEquals": {f"aws:RequestTag/{DEPLOYMENT_TAG}": deployment}}
    arns = _union(table.permissions.arns for table in tables)
    creating = _union(table.permissions.create for table in tables)
    reads = _union([*(table.permissions.describe for table in tables), LOOKUP_ACTIONS["ec2"]])
    return [
        {"Sid": "Ec2Read", "Effect": "Allow", "Action": reads, "Resource": "*"},
        {"Sid": "Ec2Managed", "Effect": "Allow", "Action": _union(t.permissions.tagged() for t in tables),
         "Resource": arns, "Condition": tagged},
        {"Sid": "Ec2CreateTagged", "Effect": "Allow", "Action": creating, "Resource": arns, "Condition": requested},
        *_inputs(tables),
        {
            "Sid": "Ec2TagOnCreate",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": arns,
            "Condition": {"StringEquals": {"ec2:CreateAction": [action.split(":", 1)[1] for action in creating],
                                           **requested["StringEquals"]}},
        },
        {
            "Sid": "IamLookups",
            "Effect": "Allow",
            "Action": list(LOOKUP_ACTIONS["iam"]),
            "Resource": ["arn:aws:iam::*:instance-profile/*", "arn:aws:iam::*:role/*"],
        },
        *_pass_instance_roles(env),
        *_ebs_keys(env),
    ]


def _union(groups: Iterable[Iterable[str]]) -> list[str]:
    return sorted({item for group in groups for item in group})


def _inputs(tables: list[ResourceTable]) -> list[dict[str, Any]]:
    """One statement per action touching resources besides its flavor's own (``Permissions.inputs``)."""
    inputs: dict[str, set[str]] = {}
    for table in tables:
        for action, resources in table.permissions.inputs.items():
            inputs.setdefault(action, set()).update(resources)
    return [{"Sid": f"Ec2{action.split(':', 1)[1]}Inputs", "Effect": "Allow", "Action": action,
             "Resource": sorted(resources)} for action, resources in sorted(inputs.items())]


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
        named = {function for names in ROLES.values() for function in names}
        for function in [name for name in functions if name not in named]:  # a function no role names any more
            functions[function].pop("iam_policy_file", None)
            if not functions[function]:
                del functions[function]
        for role, names in ROLES.items():
            for function in names:  # other keys (sizes) stay as they are
                functions.setdefault(function, {})["iam_policy_file"] = policy_file(stage, role)
    (chalice_dir / "config.json").write_text(render(config))
