"""The local-cloud server: one long-lived process that separate ``pcf`` commands share as their AWS.

``python -m pcf_local_cloud.server [--state-dir D] [--pending-seconds S] ...`` (``pcf local start`` runs it
detached) serves moto's ``ThreadedMotoServer`` on 127.0.0.1 with the local-cloud patches installed in this
process (real clock), Step Functions execution switched on, and the whole control plane deployed: the state
table, every Lambda function of ``app.py`` (run in this process) and the ``particle`` and ``apply`` state
machines. Timed transitions settle at their deadlines (their EC2 events are delivered then); a ticker fires
scheduled rules every second, where the patch set has one. Then it writes the state file
(``server_state``) and serves until SIGTERM or SIGINT, when it removes the state file and exits (executions
still running are abandoned: the cloud lives in this process's memory).

Exit codes: 0 stopped on a signal, 1 failed to start, 2 bad arguments, 3 another live server owns the
state directory.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from pcf_local_cloud.server_state import (
    ServerInfo,
    is_server_process,
    lock_file,
    log_file,
    read_state,
    remove_state,
    resolve_state_dir,
    state_file,
    utc_now,
    write_state,
)

HOST = "127.0.0.1"
DEFAULT_PENDING_SECONDS = 2.0
DEFAULT_REGION = "us-east-1"
TICK_SECONDS = 1.0
EXIT_STOPPED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_OWNED = 3
_SHELL_AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                        "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "TEST_SERVER_MODE", "MOTO_ACCOUNT_ID")

log = logging.getLogger("pcf_local_cloud.server")


class StopRequested(BaseException):
    """SIGTERM or SIGINT arrived before the server was ready: abandon the start-up."""


class StateDirOwned(Exception):
    """Another live server holds the state directory."""


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"{text} must not be negative")
    return value


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 65535")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pcf_local_cloud.server",
                                     description="Serve the local cloud, control plane deployed, until SIGTERM.")
    parser.add_argument("--state-dir", help="the server's directory (default: $PCF_LOCAL_DIR, else ~/.pcf/local)")
    parser.add_argument("--pending-seconds", type=non_negative, default=DEFAULT_PENDING_SECONDS, metavar="S",
                        help="how long instances stay pending/stopping/shutting-down "
                             f"(default {DEFAULT_PENDING_SECONDS:g})")
    parser.add_argument("--volume-pending-seconds", type=non_negative, metavar="S",
                        help="how long new volumes stay creating (default: --pending-seconds)")
    parser.add_argument("--port", type=port_number, default=0, help="TCP port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--region", default=DEFAULT_REGION, help=f"clients' default region (default {DEFAULT_REGION})")
    parser.add_argument("--stage", default="dev", help="the .chalice/config.json stage deployed (default dev)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until a signal; the exit code (see the module docstring)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    state_dir = resolve_state_dir(args.state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"--state-dir: cannot use {state_dir}: {error.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        lock = acquire_state_dir(state_dir)
    except StateDirOwned as error:
        print(f"refusing to start: {error}", file=sys.stderr)
        return EXIT_OWNED
    with lock:
        with contextlib.suppress(FileNotFoundError):
            os.truncate(log_file(state_dir), 0)  # a fresh log per run (output so far goes to stderr)
        with _logging_to(log_file(state_dir)):
            return _run(args, state_dir)


def _run(args: argparse.Namespace, state_dir: Path) -> int:
    stop = threading.Event()
    ready = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()
        if not ready.is_set():
            raise StopRequested

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    volumes = args.pending_seconds if args.volume_pending_seconds is None else args.volume_pending_seconds
    server = LocalCloudServer(state_dir, args.pending_seconds, volumes, port=args.port, region=args.region,
                              stage=args.stage)
    try:
        replace_stale_state(state_dir)
        started = time.perf_counter()
        info = server.start()
        ready.set()  # from now on a signal stops the loop below
        write_state(info)  # clients find the server from here on
        log.info("ready in %.2f s: %s (pid %d); stop with SIGTERM or pcf local stop",
                 time.perf_counter() - started, info.endpoint, info.pid)
        while not stop.wait(1.0):
            pass
        return EXIT_STOPPED
    except StopRequested:
        log.info("stopped during start-up")
        return EXIT_STOPPED
    except StateDirOwned as error:
        log.error("refusing to start: %s", error)
        return EXIT_OWNED
    except Exception:
        log.exception("the local-cloud server failed")
        return EXIT_FAILED
    finally:
        ready.set()  # a late signal only sets ``stop`` now
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("stopped")


class LocalCloudServer:
    """moto's threaded server, the patches and the deployed control plane, in this process."""

    def __init__(self, state_dir: Path, pending_seconds: float, volume_pending_seconds: float, *,
                 port: int = 0, region: str = DEFAULT_REGION, stage: str = "dev") -> None:
        self.state_dir = state_dir
        self.pending_seconds = pending_seconds
        self.volume_pending_seconds = volume_pending_seconds
        self.port = port
        self.region = region
        self.stage = stage
        self._cleanup: list[Any] = []
        self.info: ServerInfo | None = None

    def start(self) -> ServerInfo:
        """Serve and deploy the control plane; what the state file is to say."""
        isolate_environment()
        from moto.server import ThreadedMotoServer

        from pcf.util.aws.clients import set_default_factory
        from pcf_local_cloud.clock import RealClock
        from pcf_local_cloud.control_plane import deploy_control_plane, local_heal_wait_seconds
        from pcf_local_cloud.endpoint_cloud import EndpointCloud
        from pcf_local_cloud.patching import install_patches
        from pcf_local_cloud.quiescence import wait_until_quiet
        from pcf_local_cloud.server_control import ControlServer
        from pcf_local_cloud.state import EmulationState

        clock = RealClock()
        patches = install_patches(EmulationState(clock, self.pending_seconds, self.volume_pending_seconds))
        self._cleanup.append(patches.uninstall)
        moto = ThreadedMotoServer(ip_address=HOST, port=self.port, verbose=False)
        moto.start()
        self._cleanup.append(moto.stop)
        port = moto.get_host_and_port()[1]
        os.environ["MOTO_PORT"] = str(port)  # moto's Step Functions calls Lambda at localhost:$MOTO_PORT
        endpoint = f"http://{HOST}:{port}"
        log.info("moto listening at %s; pending %gs, volumes %gs", endpoint, self.pending_seconds,
                 self.volume_pending_seconds)
        enable_step_functions(endpoint)
        cloud = EndpointCloud(endpoint, self.region, clock=clock, lambdas=patches.lambdas)
        set_default_factory(cloud.client_factory)  # the handlers call AWS through the default factory
        self._cleanup.append(lambda: set_default_factory(None))
        heal_wait = local_heal_wait_seconds(self.pending_seconds)  # as the in-process cloud's, not AWS's 5 s
        deployment = deploy_control_plane(cloud, stage=self.stage,
                                          environment={"PCF_HEAL_WAIT_SECONDS": str(heal_wait)})
        log.info("control plane deployed: %s", ", ".join(deployment.state_machine_arns.values()))
        start_ticker = getattr(patches, "start_ticker", None)  # patch sets that publish events and fire schedules
        if start_ticker is not None:
            start_ticker(TICK_SECONDS)  # on the real clock: scheduled rules fire on time
        sfn = cloud.client("stepfunctions")
        control = ControlServer(lambda timeout_s: wait_until_quiet(patches, sfn, timeout_s), host=HOST).start()
        self._cleanup.append(control.stop)
        self.info = ServerInfo(
            pid=os.getpid(), endpoint=endpoint, control_endpoint=control.endpoint, region=self.region,
            account_id=cloud.account_id,
            table_name=os.environ["PCF_TABLE_NAME"], stage=self.stage, app_name=deployment.app_name,
            role_arn=deployment.role_arn, started_at=utc_now(), pending_seconds=self.pending_seconds,
            volume_pending_seconds=self.volume_pending_seconds,
            state_machine_arns=dict(deployment.state_machine_arns),
            function_names=dict(deployment.function_names), function_arns=dict(deployment.function_arns),
            state_dir=self.state_dir,
        )
        threading.Thread(target=_warm_ec2, args=(cloud.account_id, self.region), daemon=True).start()
        return self.info

    def stop(self) -> None:
        """Remove the state file, stop serving, remove the patches (idempotent)."""
        remove_state(self.state_dir, pid=os.getpid())
        while self._cleanup:
            undo = self._cleanup.pop()
            try:
                undo()
            except Exception:
                log.exception("while stopping")


def _warm_ec2(account_id: str, region: str) -> None:
    """Build moto's EC2 backend now (~0.3 s: its AMI catalogue) rather than in the first EC2 request."""
    from moto.ec2.models import ec2_backends

    try:
        ec2_backends[account_id][region]
    except Exception:
        log.exception("warming EC2 up failed")


def isolate_environment() -> None:
    """Keep the shell's AWS setup out of this process: moto's own clients use boto3's default session."""
    for name in list(os.environ):
        if name in _SHELL_AWS_VARIABLES or name.startswith("AWS_ENDPOINT_URL_"):
            del os.environ[name]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_DEFAULT_REGION"] = DEFAULT_REGION
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")


def enable_step_functions(endpoint: str) -> None:
    """Switch moto's Step Functions interpreter on through the server's API (no environment variable does it)."""
    from moto.core.config import default_user_config

    body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    request = urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass
    if not default_user_config.get("stepfunctions", {}).get("execute_state_machine"):  # the answer omits it
        raise RuntimeError("moto did not switch Step Functions execution on")


class _Lock:
    """An exclusive ``flock`` on the state directory's lock file, released on exit or process death."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> _Lock:
        return self

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)


def acquire_state_dir(state_dir: Path) -> _Lock:
    """Own ``state_dir`` for this process's life; ``StateDirOwned`` if a live server owns it."""
    fd = os.open(lock_file(state_dir), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        owner = read_state(state_dir)
        where = f" at {owner.endpoint} (pid {owner.pid})" if owner else " (still starting)"
        raise StateDirOwned(f"a local-cloud server already runs in {state_dir}{where}") from None
    return _Lock(fd)


def replace_stale_state(state_dir: Path) -> None:
    """Remove a state file left by a server that died without cleaning up; refuse if its server lives."""
    stale = read_state(state_dir)
    if stale is None:
        with contextlib.suppress(FileNotFoundError):
            state_file(state_dir).unlink()  # unreadable leftovers
        return
    if stale.pid != os.getpid() and is_server_process(stale.pid):
        raise StateDirOwned(f"a local-cloud server already runs in {state_dir} (pid {stale.pid})")
    log.info("replacing the stale state file of pid %d (not running)", stale.pid)
    remove_state(state_dir)


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """INFO and up to ``path``; also to stderr when stderr is not that file already (run by hand)."""
    handlers: list[logging.Handler] = [logging.FileHandler(path, encoding="utf-8")]
    if not _same_file(sys.stderr, path):
        handlers.append(logging.StreamHandler(sys.stderr))
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    try:
        yield
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()


def _same_file(stream: Any, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(stream.fileno()), os.stat(path))
    except (OSError, ValueError, AttributeError):
        return False


def run_and_exit() -> None:
    """``main``, then leave at once: nothing is left to save (the state file is gone, moto lives in memory), and
    a normal interpreter shutdown spends about a second in moto's threads and atexit hooks."""
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run_and_exit()
