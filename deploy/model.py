"""What a stage deploys, in one place: the local cloud deploys from it and the packaged template is built from it.

For each Lambda function of ``app.py``: its name as ``chalice deploy`` gives it (``<app>-<stage>-<function>``,
which the packaged template sets as ``FunctionName`` too, so the CLI finds it the same way on both), its role and
that role's policy (``deploy.lambda_policies``), its timeout and memory (``.chalice/config.json``, as Chalice
reads them: the function's ``lambda_timeout`` / ``lambda_memory_size``, else the stage's, else the file's, else
Chalice's 60 s / 128 MB), its environment, and for a function EventBridge invokes asynchronously its retries and
the failed-events queue (``deploy.operations``). For each state machine: its name, its ASL file and its role's
statements, taken from the merge template (``deploy.build_merge_template``) with CloudFormation's intrinsic
functions left for the deployer to resolve (:func:`resolve_intrinsics`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.lambda_policies import (
    chalice_config,
    failed_events_queue_name,
    function_name,
    lambda_policy,
    role_of,
    stage_environment,
)
from deploy.operations import AsyncInvoke, async_invoke

CHALICE_DEFAULT_TIMEOUT = 60
CHALICE_DEFAULT_MEMORY = 128


@dataclass(frozen=True)
class FunctionModel:
    """One Lambda function of the stage."""

    name: str
    function_name: str
    role: str
    role_name: str
    policy: Mapping[str, Any]
    timeout_s: int
    memory_mb: int
    async_invoke: AsyncInvoke | None = None
    """Set for a function EventBridge invokes asynchronously: its retries and failure destination."""


@dataclass(frozen=True)
class MachineModel:
    """One state machine of the stage; ``statements`` may hold CloudFormation intrinsics."""

    key: str
    resource: str
    name: str
    role_name: str
    statements: tuple[Mapping[str, Any], ...]
    definition_path: Path


@dataclass(frozen=True)
class StageModel:
    """Everything a stage deploys, by function name and machine key (machines in creation order)."""

    app_name: str
    stage: str
    environment: Mapping[str, str]
    functions: Mapping[str, FunctionModel]
    machines: Mapping[str, MachineModel]
    failed_events_queue: str


def function_sizes(stage: str, function: str, config: Mapping[str, Any] | None = None) -> tuple[int, int]:
    """``(timeout_s, memory_mb)`` of ``function`` in ``stage``, as Chalice resolves them."""
    config = config if config is not None else chalice_config()
    stage_config = config.get("stages", {}).get(stage, {})
    scopes = [stage_config.get("lambda_functions", {}).get(function, {}), stage_config, config]
    timeout = next((scope["lambda_timeout"] for scope in scopes if "lambda_timeout" in scope), None)
    memory = next((scope["lambda_memory_size"] for scope in scopes if "lambda_memory_size" in scope), None)
    return int(timeout or CHALICE_DEFAULT_TIMEOUT), int(memory or CHALICE_DEFAULT_MEMORY)


def stage_model(stage: str, environment: Mapping[str, str] | None = None) -> StageModel:
    """The model of ``stage``; ``environment`` overrides the stage's variables (and so the policies)."""
    from deploy import build_merge_template as template

    config = chalice_config()
    app_name = config["app_name"]
    env = {**stage_environment(stage), **(environment or {})}
    functions = {}
    for name in template.function_resource_names().values():
        role = role_of(name)
        timeout, memory = function_sizes(stage, name, config)
        functions[name] = FunctionModel(name, function_name(stage, name), role, f"{app_name}-{stage}-{role}",
                                        lambda_policy(stage, role, env), timeout, memory, async_invoke(stage, name))
    resources = template.build(stage)["Resources"]
    machines = {}
    for key, resource in template.MACHINES.items():
        role = resources[f"{resource}Role"]["Properties"]
        statements = tuple(statement for policy in role["Policies"]
                           for statement in policy["PolicyDocument"]["Statement"])
        machines[key] = MachineModel(key, resource, template.state_machine_name(stage, key),
                                     f"{app_name}-{stage}-{key}-machine", statements,
                                     template.STATE_MACHINES_DIR / f"{key}.asl.json")
    return StageModel(app_name, stage, env, functions, machines, failed_events_queue_name(stage))


_SUB = re.compile(r"\$\{([A-Za-z0-9:.]+)\}")


def machine_policy(model: StageModel, key: str, function_arns: Mapping[str, str], region: str, account: str,
                   conditions: Mapping[str, bool] | None = None) -> dict[str, Any]:
    """The policy of state machine ``key``'s role with the template's intrinsics resolved: the functions deployed at
    ``function_arns`` (app name -> ARN), the machines named as the model names them, ``conditions`` as in
    :func:`resolve_intrinsics`."""
    from deploy.build_merge_template import TABLE, function_resource_names

    attributes: dict[str, dict[str, str]] = {
        resource: {"Arn": function_arns[name], "Ref": model.functions[name].function_name}
        for resource, name in function_resource_names().items() if name in function_arns}
    for machine in model.machines.values():
        arn = f"arn:aws:states:{region}:{account}:stateMachine:{machine.name}"
        attributes[machine.resource] = {"Ref": arn, "Arn": arn, "Name": machine.name}
    table = model.environment["PCF_TABLE_NAME"]
    attributes[TABLE] = {"Ref": table, "Arn": f"arn:aws:dynamodb:{region}:{account}:table/{table}"}
    pseudo = {"AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": account}
    statements = resolve_intrinsics(list(model.machines[key].statements), attributes, pseudo, conditions)
    return {"Version": "2012-10-17", "Statement": statements}


class _NoValue:
    """``{"Ref": "AWS::NoValue"}``: dropped from the list or object holding it."""


_NO_VALUE = _NoValue()


def resolve_intrinsics(value: Any, attributes: Mapping[str, Mapping[str, str]], pseudo: Mapping[str, str],
                       conditions: Mapping[str, bool] | None = None) -> Any:
    """``value`` with ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join`` and ``Fn::If`` resolved: ``attributes[logical
    id]`` maps ``Ref`` and attribute names (``Arn``, ``Name``) to values, ``pseudo`` the ``AWS::`` pseudo parameters,
    ``conditions`` the template's conditions (a condition not given is false: the parameters' defaults);
    ``AWS::NoValue`` removes its entry. An unknown resource or attribute raises ``KeyError`` naming it: nothing is
    guessed."""
    resolved = _resolve(value, attributes, pseudo, conditions or {})
    return None if resolved is _NO_VALUE else resolved


def _resolve(value: Any, attributes: Mapping[str, Mapping[str, str]], pseudo: Mapping[str, str],
             conditions: Mapping[str, bool]) -> Any:
    def again(item: Any) -> Any:
        return _resolve(item, attributes, pseudo, conditions)

    if isinstance(value, list):
        return [item for item in map(again, value) if item is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if value == {"Ref": "AWS::NoValue"}:
        return _NO_VALUE
    if set(value) == {"Fn::If"}:
        condition, when_true, when_false = value["Fn::If"]
        return again(when_true if conditions.get(condition, False) else when_false)
    if set(value) == {"Ref"}:
        name = value["Ref"]
        return pseudo[name] if name in pseudo else attributes[name]["Ref"]
    if set(value) == {"Fn::GetAtt"}:
        resource, attribute = value["Fn::GetAtt"]
        return attributes[resource][attribute]
    if set(value) == {"Fn::Join"}:
        separator, items = value["Fn::Join"]
        return separator.join(again(items))
    if set(value) == {"Fn::Sub"}:
        text, names = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
        local = {key: again(item) for key, item in names.items()}

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if name in pseudo:
                return pseudo[name]
            resource, _, attribute = name.partition(".")
            return attributes[resource][attribute or "Ref"]

        return _SUB.sub(one, text)
    resolved = {key: again(item) for key, item in value.items()}
    return {key: item for key, item in resolved.items() if item is not _NO_VALUE}
