"""The deployed ``apply`` state machine on AWS: ``--state-machine-arn``, else ``$PCF_STATE_MACHINE_ARN``, else
the output ``ApplyStateMachineArn`` of the stage's CloudFormation stack (``--stack``, default
``pcf-serverless-<stage>``; see ``docs/deploying.md``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.endpoint import ControlPlaneEndpoint

STATE_MACHINE_ENV = "PCF_STATE_MACHINE_ARN"
APPLY_OUTPUTS = ("ApplyStateMachineArn", "StateMachineArn")
"""Stack output keys naming the apply machine (the second is what older templates wrote)."""
AWS_WAIT_SECONDS = 5
AWS_POLL_SECONDS = 2.0
AWS_MAX_CHILD_READS = 8
"""``GetExecutionHistory`` refills at 5 calls a second per account: 1 + 8 reads every 2 s stays under it."""
_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$")


@dataclass(frozen=True)
class ResolvedMachine:
    """The apply machine's ARN and where it was found."""

    arn: str
    source: str


def resolve_apply_machine(
    *,
    option: str | None,
    environ: Mapping[str, str],
    stack: str,
    cloudformation: Callable[[], Any],
) -> ResolvedMachine:
    """Find the apply state machine (see the module docstring); ``DefinitionError`` naming the option otherwise.
    ``cloudformation`` makes the CloudFormation client, asked only when the first two give nothing."""
    if option:
        return ResolvedMachine(_checked(option, "--state-machine-arn"), "--state-machine-arn")
    if environ.get(STATE_MACHINE_ENV):
        return ResolvedMachine(_checked(environ[STATE_MACHINE_ENV], STATE_MACHINE_ENV), f"${STATE_MACHINE_ENV}")
    outputs = stack_outputs(cloudformation(), stack)
    for key in APPLY_OUTPUTS:
        if outputs.get(key):
            return ResolvedMachine(_checked(outputs[key], f"--stack {stack} output {key}"), f"stack {stack}")
    raise DefinitionError("--stack", f"stack {stack!r} has no output {APPLY_OUTPUTS[0]}: is it the PCF control "
                                     "plane? pass --state-machine-arn")


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    """The outputs of ``stack`` by key; ``DefinitionError`` when it cannot be read."""
    hint = f"deploy it (docs/deploying.md), or pass --state-machine-arn or set {STATE_MACHINE_ENV}"
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        if "does not exist" in message:
            raise DefinitionError("--stack", f"no CloudFormation stack {stack!r} in this region: {hint}") from None
        raise DefinitionError("--stack", f"cannot read stack {stack!r}: {message}") from None
    except BotoCoreError as error:
        raise DefinitionError("--stack", f"cannot read stack {stack!r}: {error}") from None
    if not stacks:
        raise DefinitionError("--stack", f"no CloudFormation stack {stack!r} in this region: {hint}")
    return {o["OutputKey"]: o.get("OutputValue", "") for o in stacks[0].get("Outputs") or []}


def _checked(arn: str, where: str) -> str:
    if not _ARN.match(arn):
        raise DefinitionError(where, f"{arn!r} is not a state machine ARN (arn:aws:states:REGION:ACCOUNT:"
                                     "stateMachine:NAME)")
    return arn


def aws_control_plane(client_factory: Any, machine: ResolvedMachine) -> ControlPlaneEndpoint:
    """The endpoint for a resolved machine, in the machine's own region."""
    region = machine.arn.split(":")[3]
    return ControlPlaneEndpoint(
        sfn=client_factory.client("stepfunctions", region),
        apply_arn=machine.arn,
        description=f"state machine {machine.arn.rsplit(':', 1)[-1]} (from {machine.source})",
        default_wait_seconds=AWS_WAIT_SECONDS,
        poll_seconds=AWS_POLL_SECONDS,
        max_child_reads=AWS_MAX_CHILD_READS,
        lambda_client=client_factory.client("lambda", region),
    )
