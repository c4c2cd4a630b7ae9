"""Packaging for AWS: the merge template, ``chalice package --merge-template`` (run once), cfn-lint on its output.

Packaging downloads wheels from the package index: without a network this module fails, it does not skip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parliament import iam_definition

from deploy.build_merge_template import (
    MACHINES,
    PAGE_STATE_MACHINE,
    PAGE_STATE_MACHINE_ROLE,
    STATE_MACHINE,
    STATE_MACHINE_ROLE,
    TABLE,
    TABLE_SUBSTITUTION,
    build,
    definition,
    function_resource_names,
    placeholders,
)
from deploy.lambda_policies import (
    ASYNC_FUNCTIONS,
    CHALICE_DIR,
    ROLES,
    chalice_config,
    function_name,
    lambda_policy,
    policy_file,
    role_of,
    stage_environment,
)
from deploy.operations import log_retention_days, machine_observability_statements
from deploy.precompile import compiled_name, precompile
from pcf_control_plane.store.table import cloudformation_resource

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STAGE = "dev"
STAGES = sorted(chalice_config()["stages"])
MAX_PACKAGE_BYTES = 10 * 1024 * 1024
CFN_LINT_ERROR, CFN_LINT_WARNING = 2, 4  # cfn-lint exit codes are bit flags (8 is informational)


def _statements(template: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every statement of every inline policy of every IAM role in ``template`` (both branches of an ``Fn::If``)."""
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    branches = statement["Fn::If"][1:] if "Fn::If" in statement else [statement]
                    yield from (branch for branch in branches if branch != {"Ref": "AWS::NoValue"})


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def _resources(statement: dict[str, Any]) -> list[Any]:
    resources = statement["Resource"]
    return resources if isinstance(resources, list) else [resources]


def _assert_no_wildcard_action(statements: list[dict[str, Any]]) -> None:
    for statement in statements:
        for action in _actions(statement):
            assert action != "*" and not action.endswith(":*"), f"wildcard action {action!r} in {statement}"


@pytest.fixture(scope="module")
def merge_template() -> dict[str, Any]:
    return build(STAGE)


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory, merge_template: dict[str, Any]) -> dict[str, Any]:
    """``chalice package --merge-template`` for the dev stage, once: the template, the output dir, the seconds."""
    work = tmp_path_factory.mktemp("package")
    merge_file = work / "merge-template.json"
    merge_file.write_text(json.dumps(merge_template))
    out = work / "package"
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "chalice"), "package", "--stage", STAGE, "--merge-template", str(merge_file), str(out)],
        cwd=ROOT,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"chalice package failed (network needed for wheels):\n{result.stderr}"
    precompile(out / "deployment.zip")  # as make package does
    seconds = time.monotonic() - started
    print(f"\nchalice package took {seconds:.1f} s")
    return {"template": json.loads((out / "sam.json").read_text()), "dir": out, "seconds": seconds}


@pytest.mark.parametrize("key", list(MACHINES))
def test_every_asl_placeholder_is_a_chalice_function_the_page_machine_or_the_table(
    merge_template: dict[str, Any], key: str
) -> None:
    asl_text = json.dumps(definition(key))
    every_placeholder = set(re.findall(r"\$\{([^}]+)\}", asl_text))
    substitutions = merge_template["Resources"][MACHINES[key]]["Properties"]["DefinitionSubstitutions"]
    assert every_placeholder and set(substitutions) == every_placeholder
    functions = function_resource_names()
    for placeholder, value in substitutions.items():
        name = placeholder.removesuffix("Arn")
        if name == PAGE_STATE_MACHINE:
            assert value == {"Ref": PAGE_STATE_MACHINE}
            continue
        if placeholder == TABLE_SUBSTITUTION:
            assert value == {"Ref": TABLE}
            continue
        assert value == {"Fn::GetAtt": [name, "Arn"]}
        assert name in functions, f"{placeholder}: no Chalice function resource {name}"


def test_the_page_machine_role_invokes_exactly_its_functions_and_updates_only_the_table(
    merge_template: dict[str, Any]
) -> None:
    role = merge_template["Resources"][PAGE_STATE_MACHINE_ROLE]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert statements[1] == {"Effect": "Allow", "Action": "dynamodb:UpdateItem",
                             "Resource": {"Fn::GetAtt": [TABLE, "Arn"]}}, "its Await writes task tokens"
    assert statements[2:] == machine_observability_statements(), "then only log delivery and tracing"
    statement = statements[0]
    assert _actions(statement) == ["lambda:InvokeFunction"]
    expected = [{"Fn::GetAtt": [name, "Arn"]} for name in placeholders(definition("page"))]
    assert sorted(map(json.dumps, _resources(statement))) == sorted(map(json.dumps, expected))


def test_the_apply_machine_role_invokes_its_functions_and_runs_only_page_executions(
    merge_template: dict[str, Any]
) -> None:
    role = merge_template["Resources"][STATE_MACHINE_ROLE]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert statements[-2:] == machine_observability_statements()
    by_action = {action: statement for statement in statements[:-2] for action in _actions(statement)}
    expected = [{"Fn::GetAtt": [name, "Arn"]} for name in placeholders(definition("apply"))]
    assert sorted(map(json.dumps, _resources(by_action["lambda:InvokeFunction"]))) == sorted(map(json.dumps, expected))
    assert by_action["states:StartExecution"]["Resource"] == {"Ref": PAGE_STATE_MACHINE}
    assert "PageStateMachine" in json.dumps(by_action["states:DescribeExecution"]["Resource"])
    assert set(by_action) == {"lambda:InvokeFunction", "states:StartExecution", "states:DescribeExecution",
                              "states:StopExecution", "events:PutTargets", "events:PutRule", "events:DescribeRule"}


@pytest.mark.parametrize("stage", STAGES)
def test_table_is_the_stores_table_named_as_the_stage_says(stage: str) -> None:
    table_name = stage_environment(stage)["PCF_TABLE_NAME"]
    table = build(stage)["Resources"][TABLE]
    assert table == cloudformation_resource(table_name)
    assert table["Properties"]["TableName"] == table_name


@pytest.mark.parametrize("stage", STAGES)
def test_no_iam_statement_grants_a_wildcard_action(stage: str) -> None:
    _assert_no_wildcard_action(list(_statements(build(stage))))
    for role in ROLES:
        _assert_no_wildcard_action(lambda_policy(stage, role)["Statement"])


@pytest.mark.parametrize("stage", STAGES)
def test_each_role_may_do_only_what_its_functions_call(stage: str) -> None:
    def actions(role: str) -> set[str]:
        return {a for statement in lambda_policy(stage, role)["Statement"] for a in _actions(statement)}

    base = {"logs:CreateLogStream", "logs:PutLogEvents", "dynamodb:ConditionCheckItem",
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:Query", "dynamodb:PutItem",
            "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    assert actions("store") == base
    assert actions("events") == base | {"states:StartExecution", "states:SendTaskSuccess", "sqs:SendMessage"}
    assert actions("reconcile") == {"logs:CreateLogStream", "logs:PutLogEvents", "states:StartExecution",
                                    "states:ListExecutions", "sqs:SendMessage"}  # starts a run, reads no table
    assert actions("reconcile_read") == base | {"ec2:DescribeInstances", "ec2:DescribeVolumes"}
    assert actions("heal") == base | {"states:StartExecution"}
    assert "states:StartExecution" not in actions("steps")
    assert {"ec2:RunInstances", "ec2:TerminateInstances"} <= actions("steps")
    heal = next(st for st in lambda_policy(stage, "events")["Statement"] if st["Sid"] == "StartHealingExecutions")
    assert heal["Resource"].endswith(f":stateMachine:{stage_environment(stage)['PCF_APPLY_STATE_MACHINE']}")


def _no_resource_types(action: str) -> bool:
    """Does IAM's catalogue (parliament's copy) give ``action`` no resource type (``Resource: "*"`` only)?"""
    prefix, name = action.split(":")
    privileges = [p for service in iam_definition if service["prefix"] == prefix for p in service["privileges"]
                  if p["privilege"] == name]
    return bool(privileges) and all(r["resource_type"] == "" for p in privileges for r in p["resource_types"])


@pytest.mark.parametrize("stage", STAGES)
def test_lambda_policy_is_scoped(stage: str) -> None:
    env = stage_environment(stage)
    for statement in (st for role in ROLES for st in lambda_policy(stage, role)["Statement"]):
        actions, resources = _actions(statement), _resources(statement)
        if resources == ["*"]:
            assert all(a.startswith("ec2:Describe") or _no_resource_types(a) for a in actions), statement
        if any(a.startswith("dynamodb:") for a in actions):
            table = f"arn:aws:dynamodb:*:*:table/{env['PCF_TABLE_NAME']}"
            assert resources == [table, f"{table}/index/*"]
        mutating = [a for a in actions if a.startswith("ec2:") and not a.startswith("ec2:Describe")]
        if mutating and any(":instance/" in r for r in resources):
            assert env["PCF_DEPLOYMENT"] in json.dumps(statement["Condition"]), statement


@pytest.mark.parametrize("stage", STAGES)
def test_chalice_stage_uses_the_generated_policy_files(stage: str) -> None:
    config = chalice_config()["stages"][stage]
    assert config["autogen_policy"] is False
    assert config["iam_policy_file"] == policy_file(stage, "store")
    for function in function_resource_names().values():
        expected = policy_file(stage, role_of(function))
        assert config.get("lambda_functions", {}).get(function, {}).get("iam_policy_file", expected) == expected
    for role in ROLES:
        assert json.loads((CHALICE_DIR / policy_file(stage, role)).read_text()) == lambda_policy(stage, role), (
            "stale policy file: run python -m deploy.build_merge_template --write-policies")


def test_packaged_template_has_functions_state_machine_and_table(packaged: dict[str, Any]) -> None:
    resources = packaged["template"]["Resources"]
    env = stage_environment(STAGE)
    for name, app_function in function_resource_names().items():
        function = resources[name]
        assert function["Type"] == "AWS::Serverless::Function"
        assert function["Properties"]["Environment"]["Variables"]["PCF_TABLE_NAME"] == env["PCF_TABLE_NAME"]
        role = resources[function["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
        assert [p["PolicyDocument"] for p in role["Policies"]] == [lambda_policy(STAGE, role_of(app_function))]
    assert resources[STATE_MACHINE]["Type"] == "AWS::StepFunctions::StateMachine"
    assert resources[PAGE_STATE_MACHINE]["Type"] == "AWS::StepFunctions::StateMachine"
    assert resources[TABLE] == cloudformation_resource(env["PCF_TABLE_NAME"])
    assert set(packaged["template"]["Outputs"]) >= {"ApplyStateMachineArn", "PageStateMachineArn", "TableName"}
    _assert_no_wildcard_action(list(_statements(packaged["template"])))


def test_packaged_template_passes_cfn_lint(packaged: dict[str, Any]) -> None:
    result = subprocess.run(
        [str(BIN / "cfn-lint"), str(packaged["dir"] / "sam.json")], capture_output=True, text=True, timeout=120
    )
    if result.returncode & CFN_LINT_WARNING:
        warnings.warn(f"cfn-lint warnings:\n{result.stdout}", stacklevel=1)
    assert not result.returncode & CFN_LINT_ERROR, f"cfn-lint errors:\n{result.stdout}{result.stderr}"
    assert result.returncode in (0, CFN_LINT_WARNING, 8, CFN_LINT_WARNING | 8), result.stderr


def test_deployment_package_size(packaged: dict[str, Any]) -> None:
    size = (packaged["dir"] / "deployment.zip").stat().st_size
    print(f"\ndeployment.zip: {size / 1024 / 1024:.1f} MiB")
    assert size <= MAX_PACKAGE_BYTES, (
        f"deployment.zip is {size / 1024 / 1024:.1f} MiB > 10 MiB "
        "(boto3/botocore pinned in requirements.txt are ~16 MiB of it)"
    )


def test_every_function_is_named_as_the_cli_and_the_local_cloud_name_it(packaged: dict[str, Any]) -> None:
    from pcf_cli.stages import read_stage

    resources = packaged["template"]["Resources"]
    for resource, function in function_resource_names().items():
        assert resources[resource]["Properties"]["FunctionName"] == function_name(STAGE, function)
    assert resources["Reconcile"]["Properties"]["FunctionName"] == f"{read_stage(STAGE).stack_name}-reconcile"


def test_every_function_and_machine_logs_to_a_group_with_retention(packaged: dict[str, Any]) -> None:
    resources = packaged["template"]["Resources"]
    groups = {json.dumps(r["Properties"]["LogGroupName"]): r["Properties"]["RetentionInDays"]
              for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"}
    for resource in function_resource_names():
        assert groups[json.dumps({"Fn::Sub": f"/aws/lambda/${{{resource}}}"})] == log_retention_days(STAGE)
    for resource in MACHINES.values():
        logging = resources[resource]["Properties"]["LoggingConfiguration"]
        assert (logging["Level"], logging["IncludeExecutionData"]) == ("ERROR", False)
        group = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
        assert resources[group]["Properties"]["RetentionInDays"] == log_retention_days(STAGE)


def test_asynchronous_functions_send_what_failed_to_the_queue_their_role_may_write(packaged: dict[str, Any]) -> None:
    resources = packaged["template"]["Resources"]
    queue = resources["FailedEventsQueue"]["Properties"]["QueueName"]
    configs = {r["Properties"]["FunctionName"]["Ref"]: r["Properties"] for r in resources.values()
               if r["Type"] == "AWS::Lambda::EventInvokeConfig"}
    by_function = {function: resource for resource, function in function_resource_names().items()}
    assert set(configs) == {by_function[function] for function in ASYNC_FUNCTIONS}
    for function in ASYNC_FUNCTIONS:
        config = configs[by_function[function]]
        assert config["MaximumRetryAttempts"] == 2
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}
        sends = [st for st in lambda_policy(STAGE, role_of(function))["Statement"] if st["Action"] == "sqs:SendMessage"]
        assert [st["Resource"] for st in sends] == [f"arn:aws:sqs:*:*:{queue}"]
    for role in {role_of(f) for f in function_resource_names().values()} - {role_of(f) for f in ASYNC_FUNCTIONS}:
        assert "sqs:" not in json.dumps(lambda_policy(STAGE, role))


def test_alarms_watch_the_queue_the_apply_machine_and_every_function(packaged: dict[str, Any]) -> None:
    resources = packaged["template"]["Resources"]
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched = {(a["Namespace"], a["MetricName"], json.dumps(a["Dimensions"][0]["Value"])) for a in alarms}
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible",
            json.dumps({"Fn::GetAtt": ["FailedEventsQueue", "QueueName"]})) in watched
    assert ("AWS/States", "ExecutionsFailed", json.dumps({"Ref": STATE_MACHINE})) in watched
    for resource in function_resource_names():
        assert ("AWS/Lambda", "Errors", json.dumps({"Ref": resource})) in watched
    assert all(a["AlarmActions"]["Fn::If"][0] == "HasAlarmTopic" for a in alarms)


def test_every_module_of_the_package_is_precompiled_and_imported_from_its_bytecode(
    packaged: dict[str, Any], tmp_path: Path
) -> None:
    import importlib.util
    import zipfile

    with zipfile.ZipFile(packaged["dir"] / "deployment.zip") as archive:
        names = set(archive.namelist())
        assert {compiled_name(n) for n in names if n.endswith(".py")} <= names
        assert archive.read(compiled_name("app.py"))[:4] == importlib.util.MAGIC_NUMBER
        archive.extractall(tmp_path)
    (tmp_path / "app.py").write_text("this is not Python\n")  # only its bytecode can be imported now
    code = "import sys; sys.path.insert(0, '.'); import app; print(app.app.app_name)"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pcf-serverless"
