"""``pcf local start|stop|status``: the shared local-cloud server (``pcf_local_cloud.server``), run detached in
``--state-dir``, else ``$PCF_LOCAL_DIR``, else ``~/.pcf/local``; the local-cloud package is imported only when one
of these runs (exit codes: ``docs/cli.md``)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.environment import CliEnvironment
from pcf_cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from pcf_local_cloud.server_state import ServerInfo

DEFAULT_PENDING_SECONDS = 2.0
DEFAULT_REGION = "us-east-1"
STATE_DIR_ENV = "PCF_LOCAL_DIR"
SUMMARY = "start, stop or show the shared local-cloud server"
DESCRIPTION = """\
A local-cloud server is one long-lived process holding a local AWS (moto, patched) with the PCF control
plane deployed; every pcf command on the local target can share it. Its directory (--state-dir, else
$PCF_LOCAL_DIR, else ~/.pcf/local) holds server.json (where it listens) and server.log."""


def start_command(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """Start the server and print one line: where it listens and how to stop it."""
    client, directory, option = _server(args, env)
    pending = DEFAULT_PENDING_SECONDS if args.pending_seconds is None else args.pending_seconds
    try:
        info = client.start_server(directory, pending, region=args.region or DEFAULT_REGION)
    except client.StateDirError as error:
        raise DefinitionError(option, str(error)) from None
    except client.ServerAlreadyRunning as error:
        return _failed(env, f"{error}; stop it first: {_stop_hint(args, directory)}")
    except client.ServerStartError as error:
        return _failed(env, f"local cloud server did not start: {error}")
    env.stdout.write(f"local cloud listening at {info.endpoint} (pid {info.pid}, pending {info.pending_seconds:g}s, "
                     f"state {info.state_file}); stop it with: {_stop_hint(args, directory)}\n")
    return ExitCode.OK


def stop_command(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """Stop the server; not finding one is not an error."""
    client, directory, _option = _server(args, env)
    info = client.stop_server(directory)
    if info is None:
        env.stdout.write(f"no local cloud server runs in {directory}\n")
    else:
        env.stdout.write(f"local cloud at {info.endpoint} (pid {info.pid}) stopped\n")
    return ExitCode.OK


def status_command(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """Where the server listens, since when, with which settings; exit 1 if none runs (or it does not answer)."""
    client, directory, _option = _server(args, env)
    info = client.find_server(directory)
    if info is None:
        env.stdout.write(f"no local cloud server runs in {directory}; start one with: pcf local start\n")
        return ExitCode.FAILED
    answering = client.endpoint_answers(info.endpoint)
    env.stdout.write(describe(info, answering=answering) + "\n")
    return ExitCode.OK if answering else ExitCode.FAILED


def describe(info: ServerInfo, *, answering: bool = True) -> str:
    """One line about a running server."""
    health = "" if answering else " NOT ANSWERING (see the log)"
    return (f"local cloud listening at {info.endpoint}{health} (pid {info.pid}, since {info.started_at}, "
            f"region {info.region}, pending {info.pending_seconds:g}s, log {info.log_file})")


def _server(args: SimpleNamespace, env: CliEnvironment) -> tuple[Any, Path, str]:
    """``pcf_local_cloud.server_client`` (a clear error if the local-cloud dependencies are missing), the state
    directory and the option that chose it; ``--target aws`` is refused."""
    try:
        from pcf_local_cloud import server_client
    except ImportError as error:
        needs = f"needs the local dependencies ({error.name}): pip install -e '.[local]'"
        raise DefinitionError("local", needs) from None
    directory, option = _state_dir(args, env)
    if getattr(args, "target", None) == "aws":
        raise DefinitionError("--target", "pcf local manages the local cloud; aws does not apply")
    return server_client, directory, option


def _state_dir(args: SimpleNamespace, env: CliEnvironment) -> tuple[Path, str]:
    """The state directory (relative to the working directory) and the option or variable that chose it."""
    given, option = args.state_dir, "--state-dir"
    if not given:
        given, option = os.environ.get(STATE_DIR_ENV), STATE_DIR_ENV
    if not given:
        from pcf_local_cloud.server_state import resolve_state_dir

        return resolve_state_dir(None, env={}), "--state-dir"  # the default, ~/.pcf/local
    path = Path(given).expanduser()
    path = path if path.is_absolute() else Path(env.cwd, path).absolute()
    if path.exists() and not path.is_dir():
        raise DefinitionError(option, f"{given} is not a directory")
    return path, option


def _stop_hint(args: SimpleNamespace, directory: Path) -> str:
    return f"pcf local stop --state-dir {directory}" if args.state_dir else "pcf local stop"


def _failed(env: CliEnvironment, message: str) -> ExitCode:
    """``pcf: error:`` and the message's first line, then its other lines (a server log's last lines) as they are."""
    first, *more = message.splitlines() or [""]
    env.error(first)
    env.stderr.write("".join(f"{line}\n" for line in more))
    return ExitCode.FAILED
