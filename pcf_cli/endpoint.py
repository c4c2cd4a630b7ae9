"""Where the CLI finds the control plane's ``apply`` state machine, with the pacing that suits the place: deployed
into the in-process local cloud, on the shared local server, or on AWS (``--state-machine-arn``, else
``$PCF_STATE_MACHINE_ARN``, else the output ``ApplyStateMachineArn`` of the stage's stack: ``docs/cli.md``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.environment import CliEnvironment
from pcf_cli.stages import read_stage
from pcf_cli.targets import Target

STATE_MACHINE_ENV = "PCF_STATE_MACHINE_ARN"
APPLY_OUTPUTS = ("ApplyStateMachineArn", "StateMachineArn")
"""Stack output keys naming the apply machine (the second is what older templates wrote)."""
AWS_WAIT_SECONDS = 5
AWS_POLL_SECONDS = 2.0
AWS_MAX_CHILD_READS = 8
"""``GetExecutionHistory`` refills at 5 calls a second per account: 1 + 8 reads every 2 s stays under it."""
LOCAL_POLL_SECONDS = 0.5
AWS_ONLY_OPTIONS = (("state_machine_arn", "--state-machine-arn"), ("stack", "--stack"))
_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$")


@dataclass(frozen=True)
class ControlPlaneEndpoint:
    """An ``apply`` state machine ready to start: ``default_wait_seconds`` between polls of a particle when
    ``--wait-seconds`` is not given, ``poll_seconds`` between reads of the histories, ``max_child_reads`` page
    histories read per poll (``None``: all); ``lambda_client`` releases leases on Ctrl-C (``pcf_cli.stop_run``)."""

    sfn: Any
    apply_arn: str
    description: str
    default_wait_seconds: int = 5
    poll_seconds: float = 2.0
    max_child_reads: int | None = 8
    lambda_client: Any = None

    @classmethod
    def of(cls, client: Callable[[str], Any], arn: str, where: str, default_wait_seconds: int, poll_seconds: float,
           max_child_reads: int | None) -> ControlPlaneEndpoint:
        """The endpoint of the machine ``arn``, its clients made by ``client(service)``."""
        return cls(client("stepfunctions"), arn, f"state machine {arn.rsplit(':', 1)[-1]} ({where})",
                   default_wait_seconds, poll_seconds, max_child_reads, client("lambda"))

    def wait_seconds(self, given: int | None) -> int:
        """``--wait-seconds`` when given, else this place's default."""
        return self.default_wait_seconds if given is None else given


@dataclass(frozen=True)
class ResolvedMachine:
    """The apply machine's ARN and where it was found."""

    arn: str
    source: str


def resolve_apply_machine(*, option: str | None, environ: Mapping[str, str], stack: str,
                          cloudformation: Callable[[], Any]) -> ResolvedMachine:
    """Find the apply state machine on AWS; ``DefinitionError`` naming the option otherwise. ``cloudformation`` makes
    the CloudFormation client, asked only when the option and the variable give nothing."""
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
    return ControlPlaneEndpoint.of(lambda service: client_factory.client(service, region), machine.arn,
                                   f"from {machine.source}", AWS_WAIT_SECONDS, AWS_POLL_SECONDS, AWS_MAX_CHILD_READS)


@contextmanager
def open_endpoint(target: Target, args: SimpleNamespace, env: CliEnvironment) -> Iterator[ControlPlaneEndpoint]:
    """The control plane of ``target`` for the block: deployed into its in-process local cloud, the local server's,
    or found on AWS."""
    if target.cloud is not None:
        from pcf_cli.local_control_plane import local_control_plane

        for name, option in AWS_ONLY_OPTIONS:
            if getattr(args, name, None):
                raise DefinitionError(option, "the in-process local cloud deploys its own control plane: "
                                              "this option is for --target aws")
        with local_control_plane(target.cloud, stage=args.stage, verbose=args.verbose,
                                 pending_seconds=args.pending_seconds or 0.0,
                                 function_output=env.stderr if args.verbose else None) as endpoint:
            yield endpoint
    elif target.apply_arn:
        yield ControlPlaneEndpoint.of(target.client_factory.client, target.apply_arn, "on the local server", 1,
                                      LOCAL_POLL_SECONDS, None)
    else:
        machine = resolve_apply_machine(option=args.state_machine_arn, environ=env.environ,
                                        stack=args.stack or default_stack(args.stage),
                                        cloudformation=lambda: target.client_factory.client("cloudformation"))
        yield aws_control_plane(target.client_factory, machine)


def default_stack(stage: str) -> str:
    """The stage's stack name, ``<app_name>-<stage>`` (``pcf-serverless-<stage>`` without a Chalice config)."""
    try:
        return read_stage(stage).stack_name
    except DefinitionError:
        return f"pcf-serverless-{stage}"
