"""Where commands act: the in-process local cloud (default without AWS credentials) or AWS itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError

from pcf.core.pcf_exceptions import DefinitionError
from pcf.core.runtime import PollPolicy
from pcf.util.aws.clients import ClientFactory, use_client_factory

LOCAL = "local"
AWS = "aws"
TARGETS = (LOCAL, AWS)
DEFAULT_LOCAL_REGION = "us-east-1"
EPHEMERAL_NOTE = "local cloud: resources exist only for this command; see README"
# Polling the in-process cloud costs nothing: poll often, so progress follows the pending phases closely.
LOCAL_POLL = PollPolicy(initial=0.2, factor=1.5, maximum=0.5)


@dataclass(frozen=True)
class TargetSettings:
    """The target options of a command line."""

    target: str | None = None
    region: str | None = None
    pending_seconds: float | None = None

    @classmethod
    def of(cls, args: Any) -> TargetSettings:
        """The target options of a parsed command line (``--target``, ``--region``, ``--pending-seconds``)."""
        return cls(args.target, args.region, args.pending_seconds)


@dataclass
class Target:
    """An open target: name, clients, clock; ``ephemeral`` when what is done there vanishes with the command,
    ``cloud`` the in-process local cloud, ``apply_arn`` the ``apply`` machine already deployed (a shared server)."""

    name: str
    region: str
    client_factory: ClientFactory
    now: Callable[[], float]
    sleep: Callable[[float], None]
    ephemeral: bool = False
    description: str = ""
    poll: PollPolicy = field(default_factory=PollPolicy)
    cloud: Any = None
    apply_arn: str | None = None


LocalCloudFactory = Callable[[str, float], AbstractContextManager[Any]]
TargetOpener = Callable[[TargetSettings], AbstractContextManager[Target]]


def has_aws_credentials() -> bool:
    """Does boto3's default credential chain find credentials? (A broken profile counts as none.)"""
    try:
        return boto3.Session().get_credentials() is not None
    except BotoCoreError:
        return False


def choose_target(requested: str | None, has_credentials: Callable[[], bool]) -> tuple[str, str]:
    """The target to use and why: the requested one, else ``aws`` if credentials exist, else ``local``."""
    if requested:
        if requested not in TARGETS:
            raise DefinitionError("--target", f"{requested!r} is not one of {', '.join(TARGETS)}")
        return requested, "requested"
    if has_credentials():
        return AWS, "AWS credentials found; --target local to use the local cloud"
    return LOCAL, "no AWS credentials found; --target aws to use AWS"


def local_cloud_factory(clock: Any = None) -> LocalCloudFactory:
    """Makes a fresh in-process ``LocalCloud`` per command, on ``clock`` (the real clock by default)."""

    def make(region: str, pending_seconds: float) -> AbstractContextManager[Any]:
        try:
            from pcf_local_cloud.cloud import LocalCloud
        except ImportError as error:
            needs = f"local needs the dev dependencies ({error.name}): pip install -e '.[dev]'"
            raise DefinitionError("--target", needs) from None
        return LocalCloud(region=region, pending_seconds=pending_seconds, volume_pending_seconds=pending_seconds,
                          clock=clock)

    return make


def running_local_server() -> Any:
    """The shared local-cloud server (``pcf local start``) of ``$PCF_LOCAL_DIR`` or ``~/.pcf/local``, if one runs."""
    try:
        from pcf_local_cloud.server_client import find_server
    except ImportError:
        return None
    return find_server()


def server_target(server: Any, settings: TargetSettings, why: str) -> Target:
    """The local target on a running server: state kept across commands, the control plane deployed there."""
    if settings.region and settings.region != server.region:
        raise DefinitionError("--region", f"the local server runs in {server.region}; pcf local stop, then start "
                                          "it again to change region")
    if settings.pending_seconds is not None and settings.pending_seconds != server.pending_seconds:
        raise DefinitionError("--pending-seconds", f"the local server's pending phase is {server.pending_seconds:g}s; "
                                                   "pcf local stop, then pcf local start --pending-seconds S")
    factory = server.client_factory()
    description = (f"local ({why}): the local server at {server.endpoint}, region {server.region}, "
                   f"pending {server.pending_seconds:g}s (pcf local stop ends it)")
    return Target(LOCAL, server.region, factory, time.monotonic, time.sleep, False, description, LOCAL_POLL,
                  apply_arn=server.state_machine_arns.get("apply"))


@contextmanager
def open_target(settings: TargetSettings, has_credentials: Callable[[], bool] = has_aws_credentials,
                local_cloud: LocalCloudFactory | None = None) -> Iterator[Target]:
    """Open the target for the duration of the block, its client factory the process default."""
    name, why = choose_target(settings.target, has_credentials)
    if name == LOCAL:
        server = running_local_server()
        if server is not None:
            shared = server_target(server, settings, why)
            with use_client_factory(shared.client_factory):
                yield shared
            return
        region = settings.region or DEFAULT_LOCAL_REGION
        pending = settings.pending_seconds or 0.0
        if pending < 0:
            raise DefinitionError("--pending-seconds", "must not be negative")
        with (local_cloud or local_cloud_factory())(region, pending) as cloud:
            clock = cloud.clock
            description = f"local ({why}): in-process local cloud, region {region}, pending {pending:g}s"
            with use_client_factory(cloud.client_factory):
                yield Target(LOCAL, region, cloud.client_factory, clock.now, clock.sleep, True, description, LOCAL_POLL,
                             cloud)
        return
    if settings.pending_seconds is not None:
        raise DefinitionError("--pending-seconds", "applies to the local target only")
    factory = ClientFactory(boto3.Session(region_name=settings.region))
    description = f"aws ({why}): region {factory.region_name}"
    with use_client_factory(factory):
        yield Target(AWS, factory.region_name, factory, time.monotonic, time.sleep, description=description)
