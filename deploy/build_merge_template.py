"""The CloudFormation that ``chalice package --merge-template`` adds to Chalice's SAM output, and the Lambda policy.

``build(stage)`` returns the merge template: the two state machines (``particle``, one particle's loop, and
``apply``, which runs a ``particle`` execution per particle; each ``Definition`` read from
``state_machines/<name>.asl.json``, every ``${XArn}`` substituted with the ARN of Chalice's function resource
``X`` and ``${ParticleStateMachineArn}`` with the particle machine's), a role per machine
(``lambda:InvokeFunction`` on exactly the functions it names; ``apply``'s may also start, follow and stop
``particle`` executions), the DynamoDB state table (named as the stage's ``PCF_TABLE_NAME``) and the outputs.
``lambda_policy(stage)`` is the least-privilege policy Chalice attaches to the functions' role
(``.chalice/policy-<stage>.json``, ``autogen_policy`` off).

    python -m deploy.build_merge_template --stage dev > build/merge-template.json
    python -m deploy.build_merge_template --write-policies     # rewrite .chalice/policy-*.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHALICE_DIR = ROOT / ".chalice"
STATE_MACHINES_DIR = ROOT / "state_machines"
if str(ROOT / "chalicelib") not in sys.path:
    sys.path.insert(0, str(ROOT / "chalicelib"))

from pcf.util.aws.tag_specifications import DEPLOYMENT_TAG  # noqa: E402
from pcf_control_plane.store.table import cloudformation_resource  # noqa: E402

STATE_MACHINE = "ApplyStateMachine"
STATE_MACHINE_ROLE = "ApplyStateMachineRole"
PARTICLE_STATE_MACHINE = "ParticleStateMachine"
PARTICLE_STATE_MACHINE_ROLE = "ParticleStateMachineRole"
MACHINES = {"particle": PARTICLE_STATE_MACHINE, "apply": STATE_MACHINE}
"""Key (``state_machines/<key>.asl.json``) -> resource name, in creation order."""
TABLE = "StateTable"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)Arn\}")
SYNC_RULE = "StepFunctionsGetEventsForStepFunctionsExecutionRule"
"""The managed EventBridge rule through which a ``.sync`` Task learns that its child execution ended."""

_DYNAMODB_ACTIONS = [
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


def chalice_config() -> dict[str, Any]:
    """``.chalice/config.json``."""
    return json.loads((CHALICE_DIR / "config.json").read_text())


def stage_environment(stage: str) -> dict[str, str]:
    """The functions' environment in ``stage``: the global variables overlaid with the stage's."""
    config = chalice_config()
    if stage not in config.get("stages", {}):
        raise SystemExit(f"unknown stage {stage!r}; .chalice/config.json has {sorted(config.get('stages', {}))}")
    return {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}


def function_resource_names() -> dict[str, str]:
    """Chalice's CloudFormation resource name of each Lambda function in ``app.py`` -> the function's name."""
    from chalice.utils import to_cfn_resource_name

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import app

    return {to_cfn_resource_name(function.name): function.name for function in app.app.pure_lambda_functions}


def definition(key: str = "apply") -> dict[str, Any]:
    """A state machine's ASL (``apply`` by default), with its ``${XArn}`` placeholders left in."""
    return json.loads((STATE_MACHINES_DIR / f"{key}.asl.json").read_text())


def placeholders(asl: dict[str, Any]) -> list[str]:
    """The function resource names ``X`` of every ``${XArn}`` in ``asl``, sorted, once each (state machines,
    ``${XStateMachineArn}``, left out)."""
    return sorted({name for name in PLACEHOLDER.findall(json.dumps(asl)) if name not in MACHINES.values()})


def _arn(resource: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, "Arn"]}


def _table_arns(table_name: str) -> list[str]:
    table = f"arn:aws:dynamodb:*:*:table/{table_name}"
    return [table, f"{table}/index/*"]


def lambda_policy(stage: str) -> dict[str, Any]:
    """The functions' role policy in ``stage``: the state table, EC2 scoped by the deployment tag, IAM reads."""
    env = stage_environment(stage)
    table_name, deployment = env["PCF_TABLE_NAME"], env["PCF_DEPLOYMENT"]
    tagged = {"StringEquals": {f"aws:ResourceTag/{DEPLOYMENT_TAG}": deployment}}
    requested = {"StringEquals": {f"aws:RequestTag/{DEPLOYMENT_TAG}": deployment}}
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": ["arn:aws:logs:*:*:log-group:/aws/lambda/*", "arn:aws:logs:*:*:log-group:/aws/lambda/*:*"],
        },
        {"Sid": "StateTable", "Effect": "Allow", "Action": _DYNAMODB_ACTIONS, "Resource": _table_arns(table_name)},
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
            "Sid": "StartHealingExecutions",
            "Effect": "Allow",
            "Action": "states:StartExecution",
            "Resource": f"arn:aws:states:*:*:stateMachine:{env['PCF_APPLY_STATE_MACHINE']}",
        },
        {
            "Sid": "IamLookups",
            "Effect": "Allow",
            "Action": ["iam:GetInstanceProfile", "iam:GetRole"],
            "Resource": ["arn:aws:iam::*:instance-profile/*", "arn:aws:iam::*:role/*"],
        },
        {
            "Sid": "PassInstanceRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": "arn:aws:iam::*:role/*",
            "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def state_machine_name(stage: str, key: str) -> str:
    """``pcf-serverless-<stage>-<key>``, as the local cloud names it; healing finds ``apply`` by this name
    (the stage's ``PCF_APPLY_STATE_MACHINE``)."""
    return f"{chalice_config()['app_name']}-{stage}-{key}"


def _child_execution_statements() -> list[dict[str, Any]]:
    """What ``apply`` needs to run ``particle`` executions with ``startExecution.sync:2``."""
    executions = {"Fn::Sub": ["arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${Name}:*",
                              {"Name": {"Fn::GetAtt": [PARTICLE_STATE_MACHINE, "Name"]}}]}
    rule = {"Fn::Sub": f"arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:rule/{SYNC_RULE}"}
    return [
        {"Effect": "Allow", "Action": "states:StartExecution", "Resource": {"Ref": PARTICLE_STATE_MACHINE}},
        {"Effect": "Allow", "Action": ["states:DescribeExecution", "states:StopExecution"], "Resource": executions},
        {"Effect": "Allow", "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
         "Resource": rule},
    ]


def _role(policy_name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    trust = {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]},
            "Policies": [{"PolicyName": policy_name,
                          "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}],
        },
    }


def build(stage: str) -> dict[str, Any]:
    """The merge template for ``stage``; ``SystemExit`` if an ASL file names a function ``app.py`` lacks."""
    env = stage_environment(stage)
    if env.get("PCF_APPLY_STATE_MACHINE") != state_machine_name(stage, "apply"):
        raise SystemExit(f"stage {stage}: PCF_APPLY_STATE_MACHINE must be {state_machine_name(stage, 'apply')!r}")
    known = function_resource_names()
    resources: dict[str, Any] = {TABLE: cloudformation_resource(env["PCF_TABLE_NAME"])}
    for key, resource in MACHINES.items():
        asl = definition(key)
        names = placeholders(asl)
        unknown = [name for name in names if name not in known]
        if unknown:
            raise SystemExit(f"{key}.asl.json: no Chalice function for ${{…Arn}} placeholders {unknown}")
        statements: list[dict[str, Any]] = [
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": [_arn(name) for name in names]}
        ]
        substitutions: dict[str, Any] = {f"{name}Arn": _arn(name) for name in names}
        if f"${{{PARTICLE_STATE_MACHINE}Arn}}" in json.dumps(asl):
            statements += _child_execution_statements()
            substitutions[f"{PARTICLE_STATE_MACHINE}Arn"] = {"Ref": PARTICLE_STATE_MACHINE}
        role = f"{resource}Role"
        resources[role] = _role(f"{resource}Steps", statements)
        resources[resource] = {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": state_machine_name(stage, key),
                "StateMachineType": "STANDARD",
                "RoleArn": _arn(role),
                "Definition": asl,
                "DefinitionSubstitutions": substitutions,
            },
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": resources,
        "Outputs": {
            "ApplyStateMachineArn": {"Value": {"Ref": STATE_MACHINE}},
            "ParticleStateMachineArn": {"Value": {"Ref": PARTICLE_STATE_MACHINE}},
            "TableName": {"Value": {"Ref": TABLE}},
        },
    }


def policy_path(stage: str) -> Path:
    """Where ``stage``'s Lambda policy lives (the ``iam_policy_file`` of that stage)."""
    return CHALICE_DIR / f"policy-{stage}.json"


def render(document: dict[str, Any]) -> str:
    """JSON as written to disk: indented, newline-terminated."""
    return json.dumps(document, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the merge template for ``--stage``, or rewrite every stage's policy file (``--write-policies``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--stage", help="the Chalice stage whose merge template to print")
    group.add_argument("--write-policies", action="store_true", help="rewrite .chalice/policy-<stage>.json")
    args = parser.parse_args(argv)
    if args.write_policies:
        for stage in chalice_config()["stages"]:
            policy_path(stage).write_text(render(lambda_policy(stage)))
        return 0
    sys.stdout.write(render(build(args.stage)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
