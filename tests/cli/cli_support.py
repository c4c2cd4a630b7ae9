"""CLI test helpers: an in-memory test flavor and a runner of ``pcf`` command lines with captured streams.

``CliRunner`` runs command lines in-process with ``run_cli``; its target is a fake local cloud on a
virtual clock (no moto) unless a test passes ``cloud=`` (a real ``LocalCloud`` it can inspect after) or
``target=`` (a whole ``Target``, e.g. a non-ephemeral one over a local cloud, standing for AWS or a shared
server). ``apply/run/stop/terminate`` get ``--engine direct`` unless the line names an engine or the runner's
``engine`` is ``None`` (the Step Functions engine needs a real local cloud).
"""

from __future__ import annotations

import io
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml

from pcf.core import State
from pcf.core.particle import Particle
from pcf.particle.aws.ec2.ec2_instance import INSTANCE_TABLE
from pcf.util.aws.clients import ClientFactory
from pcf_cli.cli import CONVERGE_COMMANDS
from pcf_cli.environment import CliEnvironment
from pcf_cli.main import run_cli
from pcf_cli.targets import Target, TargetSettings
from pcf_local_cloud.clock import VirtualClock

FLAVOR = "cli_test_particle"
OTHER_FLAVOR = "cli_other_particle"


@dataclass
class Resource:
    """One resource of the memory cloud: state, the state it is moving to, polls left pending."""

    resource_id: str
    state: State
    target: State | None = None
    pending_left: int = 0


@dataclass
class MemoryCloud:
    """Resources by pcf_id, a transition log, failures to inject and particles that never settle."""

    pending_polls: int = 1
    resources: dict[str, Resource] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    fail_on: dict[tuple[str, str], BaseException] = field(default_factory=dict)
    stuck: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=itertools.count)

    def act(self, pcf_id: str, action: str, target: State) -> None:
        with self.lock:
            self.log.append((pcf_id, action))
            error = self.fail_on.get((pcf_id, action))
            if error is not None:
                raise error
            resource = self.resources.get(pcf_id)
            if resource is None:
                resource = self.resources[pcf_id] = Resource(f"mem-{next(self.ids):04d}", State.terminated)
            resource.target, resource.pending_left, resource.state = target, self.pending_polls, State.pending

    def observe(self, pcf_id: str) -> Resource | None:
        with self.lock:
            resource = self.resources.get(pcf_id)
            if resource is not None and resource.state is State.pending and pcf_id not in self.stuck:
                resource.pending_left -= 1
                if resource.pending_left < 0 and resource.target is not None:
                    resource.state = resource.target
            return resource

    def states(self) -> dict[str, State]:
        return {pcf_id: r.state for pcf_id, r in self.resources.items()}


class CliTestParticle(Particle):
    """A particle whose resource lives in ``MemoryCloud``; ``sync_state`` reports an ``InstanceId``."""

    flavor = FLAVOR
    RESOURCE_TABLE = INSTANCE_TABLE  # it stands for an instance: its resource id is an ``InstanceId``
    UNIQUE_KEYS = ["aws_resource.custom_config.name"]
    UNIQUE_KEYS_BIND_RESOURCE = True  # the name is the resource's identity
    cloud: MemoryCloud = MemoryCloud()

    def __init__(self, particle_definition: dict[str, Any]) -> None:
        super().__init__(particle_definition)
        self.desired_state_definition = self.particle_definition["aws_resource"]

    def sync_state(self) -> None:
        resource = self.cloud.observe(self.pcf_id)
        if resource is None or resource.state is State.terminated:
            self.state, self.current_state_definition = State.terminated, {}
            return
        self.state = resource.state
        self.current_state_definition = {"InstanceId": resource.resource_id}

    def is_state_definition_equivalent(self) -> bool:
        return True

    def _start(self) -> None:
        self.cloud.act(self.pcf_id, "start", State.running)

    def _stop(self) -> None:
        self.cloud.act(self.pcf_id, "stop", State.stopped)

    def _terminate(self) -> None:
        self.cloud.act(self.pcf_id, "terminate", State.terminated)


class OtherTestParticle(CliTestParticle):
    """The same, under another flavor name (for names shared across flavors)."""

    flavor = OTHER_FLAVOR


def particle(name: str, **extra: Any) -> dict[str, Any]:
    """A test-flavor particle definition."""
    return {"pcf_name": name, "flavor": FLAVOR, "aws_resource": {"custom_config": {"name": name}}, **extra}


def cluster(name: str = "group", workers: int = 2, **extra: Any) -> dict[str, Any]:
    """A quasiparticle: ``head``, ``worker`` x ``workers`` (children of head), ``disk`` x ``workers``
    (each the child of its worker): three start levels."""
    return {
        "pcf_name": name,
        "flavor": "quasiparticle",
        "particles": [
            particle("head"),
            particle("worker", multiplier=workers, parents=[f"{FLAVOR}:head"]),
            particle("disk", multiplier=workers, parents=[f"{FLAVOR}:worker"]),
        ],
        **extra,
    }


@dataclass
class FakeCloud:
    """Stands in for ``LocalCloud`` where the test flavor needs no AWS: a clock and a client factory."""

    clock: VirtualClock
    client_factory: ClientFactory


class TerminalStream(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


@dataclass
class CliRunner:
    """Runs ``pcf`` command lines in ``workdir`` and records the target hooks' calls."""

    workdir: Path
    clock: VirtualClock
    credentials: bool = False
    opened: list[tuple[str, float]] = field(default_factory=list)
    engine: str | None = "direct"
    environ: dict[str, str] = field(default_factory=dict)
    terminal: bool = False
    """Both streams say they are a terminal (``isatty``), as a person's shell."""

    def write(self, name: str, content: Any) -> Path:
        """Write a definition file (JSON or YAML by its suffix; a string as it is)."""
        path = self.workdir / name
        if isinstance(content, str):
            path.write_text(content)
        elif path.suffix == ".json":
            path.write_text(json.dumps(content))
        else:
            path.write_text(yaml.safe_dump(content))
        return path

    def __call__(self, *argv: str, cloud: Any = None, target: Target | None = None) -> CliResult:
        out, err = (TerminalStream(), TerminalStream()) if self.terminal else (io.StringIO(), io.StringIO())
        env = CliEnvironment(out, err, self.workdir, lambda: self.credentials, self._local_cloud(cloud),
                             environ=self.environ, target_opener=self._opener(target))
        code = run_cli(self._with_engine(list(argv)), env)
        return CliResult(code, out.getvalue(), err.getvalue())

    def _with_engine(self, argv: list[str]) -> list[str]:
        converging = any(word in CONVERGE_COMMANDS for word in argv)
        if self.engine is None or not converging or any(a.startswith("--engine") for a in argv):
            return argv
        return [*argv, "--engine", self.engine]

    def _opener(self, target: Target | None) -> Callable[[TargetSettings], Any] | None:
        if target is None:
            return None

        @contextmanager
        def opened(settings: TargetSettings) -> Iterator[Target]:
            self.opened.append((target.name, settings.pending_seconds or 0.0))
            yield target

        return opened

    def _local_cloud(self, cloud: Any) -> Callable[[str, float], Any]:
        @contextmanager
        def make(region: str, pending: float) -> Iterator[Any]:
            self.opened.append((region, pending))
            if cloud is not None:
                yield cloud
                return
            session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=region)
            yield FakeCloud(self.clock, ClientFactory(session, region_name=region))

        return make
