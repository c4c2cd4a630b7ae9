"""The CloudFormation that ``chalice package --merge-template`` adds to Chalice's SAM output, and the Lambda policy.

``build(stage)`` returns the merge template: the three state machines (``page``, the particles of one page of a
level; ``apply``, which runs a ``page`` execution per page; ``reconcile``, whose distributed Map reconciles a page
of the deployment per child execution; each ``Definition`` read from ``state_machines/<name>.asl.json``, every
``${XArn}`` substituted with the ARN of Chalice's function resource ``X``, ``${PageStateMachineArn}`` with the page
machine's and ``${StateTableName}`` with the table's name), a role per machine (``lambda:InvokeFunction`` on
exactly the functions it names; ``apply``'s may also start, follow and stop ``page`` executions; ``page``'s may
update the table's items, to write its task tokens; ``reconcile``'s may start, follow and stop its own map-run
children), the DynamoDB state table (named as the stage's ``PCF_TABLE_NAME``) and the outputs.
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
from typing import Any

from deploy import operations
from deploy.lambda_policies import chalice_config, function_name, stage_environment, write_policies
from deploy.project_files import CHALICE_DIR, STATE_MACHINES_DIR, load_app
from pcf_control_plane.store.table import cloudformation_resource

STATE_MACHINE = "ApplyStateMachine"
STATE_MACHINE_ROLE = "ApplyStateMachineRole"
PAGE_STATE_MACHINE = "PageStateMachine"
PAGE_STATE_MACHINE_ROLE = "PageStateMachineRole"
RECONCILE_STATE_MACHINE = "ReconcileStateMachine"
MACHINES = {"page": PAGE_STATE_MACHINE, "apply": STATE_MACHINE, "reconcile": RECONCILE_STATE_MACHINE}
"""Key (``state_machines/<key>.asl.json``) -> resource name, in creation order."""
TABLE = "StateTable"
TABLE_SUBSTITUTION = "StateTableName"
"""``${StateTableName}`` in an ASL file: the state table's name (the page machine's ``Await`` writes to it)."""
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)Arn\}")
SYNC_RULE = "StepFunctionsGetEventsForStepFunctionsExecutionRule"
"""The managed EventBridge rule through which a ``.sync`` Task learns that its child execution ended."""


def function_resource_names() -> dict[str, str]:
    """Chalice's CloudFormation resource name of each Lambda function in ``app.py`` -> the function's name."""
    from chalice.utils import to_cfn_resource_name

    chalice_app = load_app()
    functions = [*chalice_app.pure_lambda_functions, *chalice_app.event_sources]
    names = [str(getattr(function, "name")) for function in functions]  # noqa: B009 - chalice types it as object
    return {to_cfn_resource_name(name): name for name in names}


def definition(key: str = "apply") -> dict[str, Any]:
    """A state machine's ASL (``apply`` by default), with its ``${XArn}`` placeholders left in."""
    return json.loads((STATE_MACHINES_DIR / f"{key}.asl.json").read_text())


def placeholders(asl: dict[str, Any]) -> list[str]:
    """The function resource names ``X`` of every ``${XArn}`` in ``asl``, sorted, once each (state machines,
    ``${XStateMachineArn}``, left out)."""
    return sorted({name for name in PLACEHOLDER.findall(json.dumps(asl)) if name not in MACHINES.values()})


def _arn(resource: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, "Arn"]}


def state_machine_name(stage: str, key: str) -> str:
    """``pcf-serverless-<stage>-<key>``, as the local cloud names it; healing finds ``apply`` by this name
    (the stage's ``PCF_APPLY_STATE_MACHINE``)."""
    return f"{chalice_config()['app_name']}-{stage}-{key}"


def _child_execution_statements() -> list[dict[str, Any]]:
    """What ``apply`` needs to run ``page`` executions with ``startExecution.sync:2``."""
    executions = {"Fn::Sub": ["arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${Name}:*",
                              {"Name": {"Fn::GetAtt": [PAGE_STATE_MACHINE, "Name"]}}]}
    rule = {"Fn::Sub": f"arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:rule/{SYNC_RULE}"}
    return [
        {"Effect": "Allow", "Action": "states:StartExecution", "Resource": {"Ref": PAGE_STATE_MACHINE}},
        {"Effect": "Allow", "Action": ["states:DescribeExecution", "states:StopExecution"], "Resource": executions},
        {"Effect": "Allow", "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
         "Resource": rule},
    ]


def _table_update_statement() -> dict[str, Any]:
    """What a machine whose ``Await`` task writes its token on a particle's observation item needs: UpdateItem on
    the state table alone (no index, no other action)."""
    return {"Effect": "Allow", "Action": "dynamodb:UpdateItem", "Resource": {"Fn::GetAtt": [TABLE, "Arn"]}}


def _map_run_statements(machine_name: str) -> list[dict[str, Any]]:
    """What a machine with a distributed Map needs to run its items as child executions of itself
    (iam-policies-eg-dist-map.html). By name, not ``Ref``: the role cannot depend on the machine that uses it."""
    prefix = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"
    return [
        {"Effect": "Allow", "Action": "states:StartExecution",
         "Resource": {"Fn::Sub": f"{prefix}:stateMachine:{machine_name}"}},
        {"Effect": "Allow", "Action": ["states:DescribeExecution", "states:StopExecution"],
         "Resource": {"Fn::Sub": f"{prefix}:execution:{machine_name}/*"}},
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
    for key in ("apply", "reconcile"):
        variable = f"PCF_{key.upper()}_STATE_MACHINE"
        if env.get(variable) != state_machine_name(stage, key):
            raise SystemExit(f"stage {stage}: {variable} must be {state_machine_name(stage, key)!r}")
    known = function_resource_names()
    resources: dict[str, Any] = {TABLE: cloudformation_resource(env["PCF_TABLE_NAME"])}
    for resource, function in known.items():  # merged into Chalice's function: a name the CLI can find
        resources[resource] = {"Properties": {"FunctionName": function_name(stage, function)}}
    resources.update(operations.failed_events_resources(stage, known))
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
        text = json.dumps(asl)
        if f"${{{PAGE_STATE_MACHINE}Arn}}" in text:
            statements += _child_execution_statements()
            substitutions[f"{PAGE_STATE_MACHINE}Arn"] = {"Ref": PAGE_STATE_MACHINE}
        if f"${{{TABLE_SUBSTITUTION}}}" in text:
            statements.append(_table_update_statement())
            substitutions[TABLE_SUBSTITUTION] = {"Ref": TABLE}
        if '"DISTRIBUTED"' in text:
            statements += _map_run_statements(state_machine_name(stage, key))
        statements += operations.machine_observability_statements()
        role = f"{resource}Role"
        resources[role] = _role(f"{resource}Steps", statements)
        log_group, group = operations.machine_log_group(resource, state_machine_name(stage, key), stage)
        resources[log_group] = group
        resources[resource] = {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": state_machine_name(stage, key),
                "StateMachineType": "STANDARD",
                "RoleArn": _arn(role),
                "Definition": asl,
                "DefinitionSubstitutions": substitutions,
                **operations.machine_observability(resource),
            },
        }
    resources.update(operations.alarms(known, STATE_MACHINE))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": operations.parameters(),
        "Conditions": operations.conditions(),
        "Resources": resources,
        "Outputs": {
            "ApplyStateMachineArn": {"Value": {"Ref": STATE_MACHINE}},
            "PageStateMachineArn": {"Value": {"Ref": PAGE_STATE_MACHINE}},
            "ReconcileStateMachineArn": {"Value": {"Ref": RECONCILE_STATE_MACHINE}},
            "TableName": {"Value": {"Ref": TABLE}},
            "FailedEventsQueueUrl": {"Value": {"Ref": operations.FAILED_EVENTS_QUEUE}},
        },
    }


def render(document: dict[str, Any]) -> str:
    """JSON as written to disk: indented, newline-terminated."""
    return json.dumps(document, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the merge template for ``--stage``, or rewrite every stage's policy file (``--write-policies``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--stage", help="the Chalice stage whose merge template to print")
    group.add_argument("--write-policies", action="store_true",
                       help="rewrite .chalice/policy-<stage>-<role>.json and each stage's lambda_functions")
    args = parser.parse_args(argv)
    if args.write_policies:
        write_policies(CHALICE_DIR, render)
        return 0
    sys.stdout.write(render(build(args.stage)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
