"""Start, find and stop the local-cloud server (``pcf_local_cloud.server``) from any process.

``start_server`` spawns ``python -m pcf_local_cloud.server`` detached (its own session, output to the log
file) and returns once its state file names it and its endpoint answers. ``find_server`` reads the state
file of a live server, ``stop_server`` sends SIGTERM (SIGKILL after a timeout). ``ServerInfo`` gives a
``ClientFactory`` for the server (``info.client_factory()``) and its control plane (``info.deployment()``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import pcf_local_cloud
from pcf_local_cloud.server_state import (
    SERVER_MODULE,
    ServerInfo,
    is_server_process,
    log_file,
    pid_alive,
    read_state,
    remove_state,
    resolve_state_dir,
)

DEFAULT_PENDING_SECONDS = 2.0
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 15
_EXIT_OWNED = 3  # pcf_local_cloud.server's code for "another server owns the directory"
_POLL_S = 0.05

log = logging.getLogger(__name__)
_children: dict[int, subprocess.Popen[bytes]] = {}
"""Servers this process spawned, kept so that they are not reported as still running when garbage-collected."""


class ServerError(Exception):
    """The local-cloud server could not be started or reached."""


class StateDirError(ServerError):
    """The state directory cannot be used (a file, not writable...)."""


class ServerAlreadyRunning(ServerError):
    """A live server already owns the state directory (``info``; ``None`` while it is still starting)."""

    def __init__(self, state_dir: Path, info: ServerInfo | None) -> None:
        where = f" at {info.endpoint} (pid {info.pid})" if info else " (still starting)"
        super().__init__(f"a local-cloud server already runs in {state_dir}{where}")
        self.state_dir = state_dir
        self.info = info


class ServerStartError(ServerError):
    """The server died or did not become ready while starting (it is gone now); ``log_tail`` holds its last log
    lines, ``pid`` was its process."""

    def __init__(self, message: str, log_tail: str, pid: int) -> None:
        super().__init__(message)
        self.log_tail = log_tail
        self.pid = pid

    def __str__(self) -> str:
        tail = "\n".join(f"  | {line}" for line in self.log_tail.splitlines())
        return f"{self.args[0]}\nlast lines of the server log:\n{tail}" if tail else str(self.args[0])


def find_server(state_dir: str | os.PathLike[str] | None = None) -> ServerInfo | None:
    """The live server of ``state_dir`` (default: ``$PCF_LOCAL_DIR``, else ``~/.pcf/local``), or ``None`` if
    there is no state file or its process is gone."""
    info = read_state(resolve_state_dir(state_dir))
    return info if info is not None and is_server_process(info.pid) else None


def start_server(
    state_dir: str | os.PathLike[str] | None = None,
    pending_seconds: float = DEFAULT_PENDING_SECONDS,
    *,
    volume_pending_seconds: float | None = None,
    region: str = "us-east-1",
    stage: str = "dev",
    port: int = 0,
    timeout_s: float = START_TIMEOUT_S,
    environ: Mapping[str, str] | None = None,
) -> ServerInfo:
    """Spawn a detached server for ``state_dir`` and wait until it is ready; its state.

    Raises ``ValueError`` for a negative duration, ``StateDirError`` if the directory cannot be made,
    ``ServerAlreadyRunning`` if a live server owns it, ``ServerStartError`` (with the log's tail) if the
    server exits or is not ready within ``timeout_s`` (it is then killed).
    """
    for name, value in (("pending_seconds", pending_seconds), ("volume_pending_seconds", volume_pending_seconds)):
        if value is not None and not value >= 0:
            raise ValueError(f"{name} must not be negative (got {value})")
    directory = resolve_state_dir(state_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StateDirError(f"cannot use {directory} as the server's directory: {error.strerror}") from None
    running = find_server(directory)
    if running is not None:
        raise ServerAlreadyRunning(directory, running)
    command = [sys.executable, "-m", SERVER_MODULE, "--state-dir", str(directory),
               "--pending-seconds", repr(float(pending_seconds)), "--region", region, "--stage", stage,
               "--port", str(port)]
    if volume_pending_seconds is not None:
        command += ["--volume-pending-seconds", repr(float(volume_pending_seconds))]
    with open(log_file(directory), "ab") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                                   cwd=directory, env=_server_environment(environ), start_new_session=True)
    _children[process.pid] = process
    return _wait_until_ready(process, directory, timeout_s)


def stop_server(
    state_dir: str | os.PathLike[str] | None = None, *, timeout_s: float = STOP_TIMEOUT_S
) -> ServerInfo | None:
    """Stop the server of ``state_dir``: SIGTERM, then SIGKILL if it is still there after ``timeout_s``.

    Returns what it was, or ``None`` if none was running (a stale state file is removed).
    """
    directory = resolve_state_dir(state_dir)
    info = read_state(directory)
    if info is None:
        return None
    if not is_server_process(info.pid):
        remove_state(directory, pid=info.pid)
        return None
    _terminate(info.pid, timeout_s)
    remove_state(directory, pid=info.pid)  # a killed server could not remove it
    return info


def settle(info: ServerInfo, timeout_s: float = 60.0) -> dict[str, int]:
    """Wait until the server's cloud is quiet: every due transition settled, every event already caused
    delivered, no execution running (``server_control``). Its answer (``settled``, ``executions_waited_for``);
    ``ServerError`` when the server has no control endpoint or is still busy after ``timeout_s``."""
    if not info.control_endpoint:
        raise ServerError(f"the server at {info.endpoint} has no control endpoint (started by an older version)")
    request = urllib.request.Request(f"{info.control_endpoint}/settle?timeout={timeout_s}", data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s + 10) as answer:
            return dict(json.loads(answer.read()))
    except urllib.error.HTTPError as refused:
        raise ServerError(f"the server did not settle: {refused.read().decode(errors='replace')}") from None


def log_tail(state_dir: str | os.PathLike[str] | None = None, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of the server's log ('' if there is none)."""
    try:
        text = log_file(resolve_state_dir(state_dir)).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def endpoint_answers(endpoint: str, timeout_s: float = 2.0) -> bool:
    """Does an HTTP server answer at ``endpoint`` (any status)?"""
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/config", timeout=timeout_s):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def _server_environment(environ: Mapping[str, str] | None) -> dict[str, str]:
    """The spawning environment, with this package importable however the caller found it."""
    env = dict(os.environ if environ is None else environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (*_package_roots(), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _package_roots() -> list[str]:
    """The folders holding the packages the server imports (the local cloud, the framework, the deploy model),
    wherever this process found them: a checkout, an editable install or site-packages."""
    import deploy
    import pcf
    import pcf_control_plane

    packages = (pcf_local_cloud, pcf, pcf_control_plane, deploy)
    roots = [Path(module.__file__ or "").resolve().parents[1] for module in packages]
    return list(dict.fromkeys(str(root) for root in roots))


def _wait_until_ready(process: subprocess.Popen[bytes], directory: Path, timeout_s: float) -> ServerInfo:
    deadline = time.monotonic() + timeout_s
    while True:
        code = process.poll()
        if code is not None:
            _children.pop(process.pid, None)
            if code == _EXIT_OWNED:
                raise ServerAlreadyRunning(directory, find_server(directory))
            raise ServerStartError(f"the local-cloud server exited with code {code} while starting",
                                   log_tail(directory), process.pid)
        info = read_state(directory)
        if info is not None and info.pid == process.pid and endpoint_answers(info.endpoint):
            return info
        if time.monotonic() >= deadline:
            _terminate(process.pid, STOP_TIMEOUT_S)
            remove_state(directory, pid=process.pid)
            raise ServerStartError(f"the local-cloud server was not ready after {timeout_s:g} s (stopped it)",
                                   log_tail(directory), process.pid)
        time.sleep(_POLL_S)


def _terminate(pid: int, timeout_s: float) -> None:
    """SIGTERM ``pid``, wait up to ``timeout_s`` for it to end, else SIGKILL it."""
    _signal(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout_s):
        log.warning("local-cloud server pid %d ignored SIGTERM for %g s: killing it", pid, timeout_s)
        _signal(pid, signal.SIGKILL)
        _wait_gone(pid, timeout_s)
    _children.pop(pid, None)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)
    return True
