"""The state directory of a local-cloud server: where it is, its files, and the state file's contents.

A running server (``python -m pcf_local_cloud.server``) owns one directory: ``server.json`` (the state
file, written once the server is ready, removed when it stops), ``server.log`` and ``server.lock`` (held
with ``flock`` for the server's life, so two servers never share a directory). This module reads and
writes those files and never imports moto, so a ``pcf`` client pays only for boto3.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pcf.util.aws.clients import ClientFactory

if TYPE_CHECKING:
    from pcf_local_cloud.deployment import LocalDeployment

STATE_DIR_ENV = "PCF_LOCAL_DIR"
DEFAULT_STATE_DIR = Path("~/.pcf/local")
STATE_FILE = "server.json"
LOG_FILE = "server.log"
LOCK_FILE = "server.lock"
FORMAT = 1
SERVER_MODULE = "pcf_local_cloud.server"


def resolve_state_dir(state_dir: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The server's directory: ``state_dir`` if given, else ``$PCF_LOCAL_DIR``, else ``~/.pcf/local``."""
    env = os.environ if env is None else env
    chosen = state_dir if state_dir not in (None, "") else env.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR
    return Path(chosen).expanduser().absolute()


def state_file(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def log_file(state_dir: Path) -> Path:
    return state_dir / LOG_FILE


def lock_file(state_dir: Path) -> Path:
    return state_dir / LOCK_FILE


@dataclass(frozen=True)
class ServerInfo:
    """What a running server wrote to its state file: where it listens and what is deployed in it."""

    pid: int
    endpoint: str
    region: str
    account_id: str
    table_name: str
    stage: str
    app_name: str
    role_arn: str
    started_at: str
    pending_seconds: float
    volume_pending_seconds: float
    state_machine_arns: dict[str, str] = field(default_factory=dict)
    function_names: dict[str, str] = field(default_factory=dict)
    function_arns: dict[str, str] = field(default_factory=dict)
    control_endpoint: str = ""
    """The server's own endpoint beside moto's (``server_control``: ``POST /settle``); '' from an older server."""
    state_dir: Path = field(default=Path("."), compare=False)

    @property
    def state_file(self) -> Path:
        return state_file(self.state_dir)

    @property
    def log_file(self) -> Path:
        return log_file(self.state_dir)

    def client_factory(self, region_name: str | None = None) -> ClientFactory:
        """A new ``ClientFactory`` whose clients (fake credentials, blind to the shell's AWS setup) call this
        server; in the server's region unless ``region_name`` is given."""
        return endpoint_client_factory(self.endpoint, region_name or self.region)

    def deployment(self) -> LocalDeployment:
        """The control plane deployed in the server, as a ``LocalDeployment`` whose ``run_execution`` and
        ``execution_arn`` work from any process (its handlers run in the server, not here)."""
        from pcf_local_cloud.deployment import LocalDeployment
        from pcf_local_cloud.endpoint_cloud import EndpointCloud

        cloud = EndpointCloud(self.endpoint, self.region, self.account_id)
        return LocalDeployment(
            cloud,  # type: ignore[arg-type]
            self.app_name,
            self.stage,
            self.role_arn,
            function_names=dict(self.function_names),
            function_arns=dict(self.function_arns),
            state_machine_arns=dict(self.state_machine_arns),
        )

    def to_json(self) -> str:
        data: dict[str, Any] = {"format": FORMAT, **asdict(self)}
        del data["state_dir"]
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, state_dir: Path) -> ServerInfo:
        """Parse a state file; ``ValueError`` if it is not one this version wrote."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.pop("format", None) != FORMAT:
            raise ValueError("not a local-cloud server state file of format 1")
        try:
            return cls(**data, state_dir=state_dir)
        except TypeError as error:
            raise ValueError(f"malformed server state file: {error}") from None


def endpoint_client_factory(endpoint: str, region_name: str) -> ClientFactory:
    """A ``ClientFactory`` on a fake-credential session whose every client calls ``endpoint``."""
    from pcf_local_cloud.sessions import fake_session

    return ClientFactory(fake_session(region_name), region_name=region_name, endpoint_url=endpoint)


def read_state(state_dir: Path) -> ServerInfo | None:
    """The state file's contents, or ``None`` if there is none (or it is unreadable: a crash mid-write)."""
    try:
        return ServerInfo.from_json(state_file(state_dir).read_text(encoding="utf-8"), state_dir)
    except (OSError, ValueError):
        return None


def write_state(info: ServerInfo) -> None:
    """Write the state file atomically (readers never see half of it)."""
    path = info.state_file
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(info.to_json(), encoding="utf-8")
    os.replace(partial, path)


def remove_state(state_dir: Path, pid: int | None = None) -> bool:
    """Remove the state file (only if it names ``pid``, when given); whether one was removed."""
    if pid is not None:
        current = read_state(state_dir)
        if current is not None and current.pid != pid:
            return False
    try:
        state_file(state_dir).unlink()
    except FileNotFoundError:
        return False
    return True


def pid_alive(pid: int) -> bool:
    """Is process ``pid`` running (a zombie is not; a zombie child of ours is reaped)?"""
    if pid <= 0:
        return False
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child: ask the kernel below
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (macOS): trust kill(0)
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def is_server_process(pid: int) -> bool:
    """Is ``pid`` alive and, where ``/proc`` tells, a local-cloud server (not a reused pid)?"""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return SERVER_MODULE.encode() in cmdline


def utc_now() -> str:
    """The current time as ISO 8601 UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
