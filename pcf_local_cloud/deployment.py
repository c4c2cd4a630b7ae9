"""Deploy a Chalice app and its state machines into the local cloud, the way ``chalice deploy`` would name them.

Each Lambda function of the app (``@app.lambda_function`` and the event-source handlers: ``@app.on_cw_event``,
``@app.schedule``, ...) becomes a moto function ``<app_name>-<stage>-<name>`` whose invocations run the app's
own handler in-process (see ``lambda_dispatch``). ``@app.on_cw_event`` and ``@app.schedule`` handlers also get
their EventBridge rule ``<app_name>-<stage>-<name>-event`` (the event pattern, or the schedule expression as
chalice renders it), targeting the function (target id ``1``), with the permission for EventBridge to invoke
it, as ``chalice deploy`` creates them. Each state machine is created from its ASL file with
``${<CamelCaseName>Arn}`` replaced by the function's ARN, as ``DefinitionSubstitutions`` do on AWS.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from moto.core import DEFAULT_ACCOUNT_ID

if TYPE_CHECKING:
    from chalice import Chalice

    from pcf_local_cloud.cloud import LocalCloud

ROLE_NAME = "pcf-local-lambda-role"
ADMIN_POLICY: Mapping[str, Any] = {
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
"""The policy of ``pcf-local-lambda-role``: an app deployed without a role model may do anything."""
INLINE_POLICY = "pcf-local"
RUNTIME = "python3.11"
EMPTY_ZIP = b"PK\x05\x06" + b"\x00" * 18
_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        }
    ],
}
_PLACEHOLDER = re.compile(r"\$\{([^}\s]+)\}")


class RoleModel(Protocol):
    """Who each function and state machine runs as (``pcf_local_cloud.control_plane`` reads it from the deploy
    model)."""

    def function(self, name: str) -> tuple[str, Mapping[str, Any], int, int]:
        """``(role name, policy, timeout_s, memory_mb)`` of the app's function ``name``."""
        ...

    def machine(self, key: str, deployment: LocalDeployment) -> tuple[str, Mapping[str, Any]]:
        """``(role name, policy)`` of the state machine ``key`` (the functions are already deployed)."""
        ...

    def async_invoke(self, name: str) -> tuple[int, int, str] | None:
        """``(retries, maximum event age in seconds, on-failure queue name)`` of a function invoked
        asynchronously, ``None`` for the others."""
        ...


class UnresolvedSubstitutionError(ValueError):
    """An ASL file names a ``${…}`` substitution that was not provided."""


class ExecutionResult(NamedTuple):
    """How an execution ended: its status, its parsed output (or ``{"error", "cause"}``), its history events."""

    status: str
    output: Any
    history: list[dict[str, Any]]


@dataclass(frozen=True)
class ChaliceFunction:
    """One Lambda function of a Chalice app: its name in the app and its ``module.function`` handler string."""

    name: str
    handler_string: str


@dataclass(frozen=True)
class ChaliceRule:
    """The EventBridge rule chalice creates for an ``on_cw_event`` or ``schedule`` handler."""

    function: str
    event_pattern: str | None = None
    schedule_expression: str | None = None
    description: str | None = None

    def rule_name(self, app_name: str, stage: str) -> str:
        """``<app>-<stage>-<function>-event``, as chalice's deployer names it."""
        return f"{app_name}-{stage}-{self.function}-event"


def chalice_functions(app: Chalice) -> list[ChaliceFunction]:
    """The app's Lambda functions other than the REST API handler, in registration order."""
    configs = [*app.pure_lambda_functions, *app.event_sources]
    return [ChaliceFunction(config.name, config.handler_string) for config in configs]


def chalice_rules(app: Chalice) -> list[ChaliceRule]:
    """The app's EventBridge rules: one per ``@app.on_cw_event`` and ``@app.schedule`` handler, in order."""
    from chalice.app import CloudWatchEventConfig, ScheduledEventConfig, ScheduleExpression

    rules = []
    for config in app.event_sources:
        if isinstance(config, CloudWatchEventConfig):
            rules.append(ChaliceRule(config.name, event_pattern=json.dumps(config.event_pattern)))
        elif isinstance(config, ScheduledEventConfig):
            expression = config.schedule_expression
            text = expression.to_string() if isinstance(expression, ScheduleExpression) else str(expression)
            rules.append(ChaliceRule(config.name, schedule_expression=text, description=config.description))
    return rules


def substitution_name(function_name: str) -> str:
    """``sync_state`` -> ``SyncStateArn``: chalice's CloudFormation resource name for the function, plus ``Arn``."""
    from chalice.utils import to_cfn_resource_name  # chalice is needed only when deploying an app

    return f"{to_cfn_resource_name(function_name)}Arn"


def state_machine_substitution_name(key: str) -> str:
    """``page`` -> ``PageStateMachineArn``: how a later state machine names an earlier one's ARN."""
    from chalice.utils import to_cfn_resource_name

    return f"{to_cfn_resource_name(key)}StateMachineArn"


def substitute(definition: str, substitutions: Mapping[str, Any]) -> str:
    """Replace each ``${Name}`` in an ASL text; every name must be given (``UnresolvedSubstitutionError``)."""
    missing = sorted({name for name in _PLACEHOLDER.findall(definition) if name not in substitutions})
    if missing:
        raise UnresolvedSubstitutionError(f"no value for the substitution(s) {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: _text(substitutions[match.group(1)]), definition)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@dataclass
class LocalDeployment:
    """What :func:`deploy_chalice_app` created, by the names used in the app and in ``state_machines``."""

    cloud: LocalCloud
    app_name: str
    stage: str
    role_arn: str
    function_names: dict[str, str] = field(default_factory=dict)
    function_arns: dict[str, str] = field(default_factory=dict)
    rule_names: dict[str, str] = field(default_factory=dict)
    rule_arns: dict[str, str] = field(default_factory=dict)
    state_machine_arns: dict[str, str] = field(default_factory=dict)
    substitutions: dict[str, str] = field(default_factory=dict)

    def execution_arn(self, state_machine_name: str, name: str) -> str:
        """The ARN an execution called ``name`` of ``state_machine_name`` has."""
        machine_arn = self.state_machine_arns[state_machine_name]
        return f"{machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"

    def run_execution(
        self,
        state_machine_name: str,
        input: Mapping[str, Any],
        name: str,
        *,
        timeout_s: float = 30.0,
        poll: float = 0.01,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.monotonic,
    ) -> ExecutionResult:
        """Start an execution named ``name`` and poll until it is no longer ``RUNNING``.

        Returns the final status, the parsed output (``SUCCEEDED``) or ``{"error": …, "cause": …}``, and every
        history event. After ``timeout_s`` (measured by ``now``; ``sleep`` waits between polls) ``TimeoutError``
        is raised and the execution asked to stop: moto marks it ``ABORTED`` once the state in progress returns.
        """
        sfn = self.cloud.client("stepfunctions")
        arn = sfn.start_execution(
            stateMachineArn=self.state_machine_arns[state_machine_name], name=name, input=json.dumps(input)
        )["executionArn"]
        deadline = now() + timeout_s
        description = sfn.describe_execution(executionArn=arn)
        while description["status"] == "RUNNING":
            if now() >= deadline:
                raise TimeoutError(f"execution {arn} still RUNNING after {timeout_s} s{_stop(sfn, arn, timeout_s)}")
            sleep(poll)
            description = sfn.describe_execution(executionArn=arn)
        return ExecutionResult(description["status"], _outcome(description), execution_history(sfn, arn))


def _stop(sfn: Any, arn: str, timeout_s: float) -> str:
    """Stop a late execution; what went wrong, if anything, for the timeout message."""
    try:
        sfn.stop_execution(executionArn=arn, error="LocalTimeout", cause=f"not done after {timeout_s} s")
    except Exception as error:  # moto fails (AttributeError) on an execution whose worker has not started yet
        return f"; stopping it failed: {error!r}"
    return "; stopped"


def _outcome(description: Mapping[str, Any]) -> Any:
    if description["status"] == "SUCCEEDED":
        output = description.get("output")
        return None if output is None else json.loads(output)
    return {"error": description.get("error"), "cause": description.get("cause")}


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every history event of an execution, oldest first (all pages)."""
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return [event for page in pages for event in page["events"]]


def child_executions(history: list[dict[str, Any]]) -> list[str]:
    """The ARNs of the executions a history's ``states:startExecution`` tasks started, in order."""
    arns = []
    for event in history:
        details = event.get("taskSubmittedEventDetails") or {}
        if details.get("resourceType") == "states" and details.get("resource", "").startswith("startExecution"):
            arn = json.loads(details.get("output") or "{}").get("ExecutionArn")
            if arn:
                arns.append(arn)
    return arns


def execution_tree_history(sfn: Any, execution_arn: str) -> dict[str, list[dict[str, Any]]]:
    """The history of an execution and of every execution it started, by ARN (the parent first)."""
    tree: dict[str, list[dict[str, Any]]] = {}
    pending = [execution_arn]
    while pending:
        arn = pending.pop(0)
        if arn not in tree:
            tree[arn] = execution_history(sfn, arn)
            pending.extend(child_executions(tree[arn]))
    return tree


def deploy_chalice_app(
    cloud: LocalCloud,
    app: Chalice,
    *,
    stage: str = "dev",
    state_machines: Mapping[str, Path] | None = None,
    extra_substitutions: Mapping[str, Any] | None = None,
    timeout_s: int = 60,
    memory_mb: int = 128,
    roles: RoleModel | None = None,
) -> LocalDeployment:
    """Create the app's Lambda functions (handlers registered in-process), EventBridge rules and state machines
    in ``cloud``.

    Functions are named ``<app.app_name>-<stage>-<name>``; the rules of ``on_cw_event`` and ``schedule``
    handlers ``<app.app_name>-<stage>-<name>-event``; state machines ``<app.app_name>-<stage>-<key>`` from
    the ASL file ``state_machines[key]``, in order, with ``${<CamelCaseName>Arn}`` for every function,
    ``${<CamelCaseKey>StateMachineArn}`` for every state machine created before it, plus
    ``extra_substitutions`` (which win). Without ``roles`` every function and machine runs as the IAM role
    ``pcf-local-lambda-role``, which may do anything (an app deployed with no policy model); with ``roles``, each
    function gets the role, policy, timeout and memory the model gives it, and each machine its role.
    """
    if state_machines:
        _check_account(cloud)
    functions = chalice_functions(app)
    _check_unique_substitutions(functions)
    iam = cloud.client("iam")
    deployment = LocalDeployment(cloud, app.app_name, stage, _ensure_role(iam, ROLE_NAME, ADMIN_POLICY))
    lambda_client = cloud.client("lambda")
    for function in functions:
        function_name = f"{app.app_name}-{stage}-{function.name}"
        role_arn, timeout, memory = deployment.role_arn, timeout_s, memory_mb
        if roles is not None:
            role_name, policy, timeout, memory = roles.function(function.name)
            role_arn = _ensure_role(iam, role_name, policy)
        cloud.register_handler(function_name, app.handler_map[function.name])
        created = lambda_client.create_function(
            FunctionName=function_name,
            Runtime=RUNTIME,
            Role=role_arn,
            Handler=function.handler_string,
            Code={"ZipFile": EMPTY_ZIP},
            Timeout=timeout,
            MemorySize=memory,
        )
        deployment.function_names[function.name] = function_name
        deployment.function_arns[function.name] = created["FunctionArn"]
        if roles is not None and (settings := roles.async_invoke(function.name)) is not None:
            _configure_async_invoke(cloud, function_name, *settings)
        deployment.substitutions[substitution_name(function.name)] = created["FunctionArn"]
    for rule in chalice_rules(app):
        _create_rule(cloud, deployment, rule)
    deployment.substitutions.update({key: _text(value) for key, value in (extra_substitutions or {}).items()})
    sfn = cloud.client("stepfunctions")
    for key, path in (state_machines or {}).items():
        definition = substitute(Path(path).read_text(encoding="utf-8"), deployment.substitutions)
        name = f"{app.app_name}-{stage}-{key}"
        role_arn = deployment.role_arn
        if roles is not None:
            role_name, policy = roles.machine(key, deployment)
            role_arn = _ensure_role(iam, role_name, policy)
        deployment.state_machine_arns[key] = sfn.create_state_machine(
            name=name, definition=definition, roleArn=role_arn
        )["stateMachineArn"]
        deployment.substitutions[state_machine_substitution_name(key)] = deployment.state_machine_arns[key]
    return deployment


def _configure_async_invoke(cloud: LocalCloud, function_name: str, retries: int, max_age_s: int, queue: str) -> None:
    """The function's ``EventInvokeConfig``, its on-failure destination the SQS queue ``queue`` (created if
    missing), as the template's ``AWS::Lambda::EventInvokeConfig`` sets them."""
    sqs = cloud.client("sqs")
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    cloud.client("lambda").put_function_event_invoke_config(
        FunctionName=function_name, MaximumRetryAttempts=retries, MaximumEventAgeInSeconds=max_age_s,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}})


def _create_rule(cloud: LocalCloud, deployment: LocalDeployment, rule: ChaliceRule) -> None:
    """``put_rule``, ``put_targets`` (id ``1``) and the Lambda permission, as chalice's deployer calls them."""
    events = cloud.client("events")
    name = rule.rule_name(deployment.app_name, deployment.stage)
    params: dict[str, Any] = {"Name": name}
    if rule.schedule_expression:
        params["ScheduleExpression"] = rule.schedule_expression
    else:
        params["EventPattern"] = rule.event_pattern
    if rule.description is not None:
        params["Description"] = rule.description
    rule_arn = events.put_rule(**params)["RuleArn"]
    function_arn = deployment.function_arns[rule.function]
    events.put_targets(Rule=name, Targets=[{"Id": "1", "Arn": function_arn}])
    cloud.client("lambda").add_permission(
        FunctionName=function_arn,
        StatementId=str(uuid.uuid4()),  # chalice's deployer uses a random id too
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )
    deployment.rule_names[rule.function] = name
    deployment.rule_arns[rule.function] = rule_arn


def _check_unique_substitutions(functions: list[ChaliceFunction]) -> None:
    seen: dict[str, str] = {}
    for function in functions:
        key = substitution_name(function.name)
        if key in seen:
            raise ValueError(f"functions {seen[key]!r} and {function.name!r} both give the substitution {key}")
        seen[key] = function.name


def _check_account(cloud: LocalCloud) -> None:
    """moto's Step Functions calls Lambda in moto's default account: functions elsewhere are never found."""
    default = os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)
    if cloud.account_id != default:
        raise ValueError(
            f"state machines run Lambda tasks in moto's default account {default}, not in {cloud.account_id}: "
            "deploy into a LocalCloud with the default account_id"
        )


def _ensure_role(iam: Any, name: str, policy: Mapping[str, Any]) -> str:
    """The ARN of role ``name`` (trusting Lambda and Step Functions), created if missing, with ``policy`` as its
    one inline policy (replacing what it had)."""
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(_TRUST_POLICY))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName=INLINE_POLICY, PolicyDocument=json.dumps(policy))
    return arn
