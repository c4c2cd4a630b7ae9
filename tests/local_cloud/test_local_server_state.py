"""The local-cloud server's state directory, without a server: state file, liveness, stale files, clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pcf_local_cloud import server_client
from pcf_local_cloud.server_state import (
    SERVER_MODULE,
    ServerInfo,
    is_server_process,
    pid_alive,
    read_state,
    resolve_state_dir,
    state_file,
    write_state,
)


def info(state_dir: Path, pid: int, endpoint: str = "http://127.0.0.1:1") -> ServerInfo:
    return ServerInfo(
        pid=pid, endpoint=endpoint, region="us-east-1", account_id="123456789012", table_name="t", stage="dev",
        app_name="pcf-serverless", role_arn="arn:aws:iam::123456789012:role/r", started_at="2026-01-01T00:00:00Z",
        pending_seconds=2.0, volume_pending_seconds=1.0,
        state_machine_arns={"apply": "arn:aws:states:us-east-1:123456789012:stateMachine:a"}, state_dir=state_dir,
    )


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def fake_server(*extra: str) -> subprocess.Popen[bytes]:
    """A process whose command line names the server module, ignoring SIGTERM: a server that hangs."""
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ok', flush=True); time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", code, SERVER_MODULE, *extra], stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline() == b"ok\n"  # the handler is in place
    return process


def test_the_state_dir_is_the_option_else_the_variable_else_the_home_default(tmp_path: Path) -> None:
    assert resolve_state_dir(tmp_path / "a", env={"PCF_LOCAL_DIR": str(tmp_path / "b")}) == tmp_path / "a"
    assert resolve_state_dir(None, env={"PCF_LOCAL_DIR": str(tmp_path / "b")}) == tmp_path / "b"
    assert resolve_state_dir(None, env={}) == Path("~/.pcf/local").expanduser()


def test_the_state_file_round_trips_and_rejects_other_contents(tmp_path: Path) -> None:
    written = info(tmp_path, 1234)
    write_state(written)
    assert read_state(tmp_path) == written
    data = json.loads(state_file(tmp_path).read_text())
    assert data["format"] == 1 and data["endpoint"] == "http://127.0.0.1:1" and "state_dir" not in data
    assert [p.name for p in tmp_path.iterdir()] == ["server.json"]  # no temporary file left
    state_file(tmp_path).write_text(json.dumps({**data, "format": 99}))
    assert read_state(tmp_path) is None
    state_file(tmp_path).write_text('{"format": 1, "pid": 3}')
    assert read_state(tmp_path) is None
    state_file(tmp_path).write_text("{half")
    assert read_state(tmp_path) is None


def test_liveness_sees_dead_zombie_and_foreign_processes() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not pid_alive(zombie.pid)  # an ended child that nobody waited for
    assert not is_server_process(os.getpid())  # alive, but not a server: a reused pid


def test_a_stale_state_file_is_no_server_and_stop_removes_it(tmp_path: Path) -> None:
    write_state(info(tmp_path, dead_pid()))
    assert server_client.find_server(tmp_path) is None
    assert server_client.stop_server(tmp_path) is None
    assert not state_file(tmp_path).exists()


def test_a_state_file_naming_a_live_process_that_is_no_server_is_stale(tmp_path: Path) -> None:
    write_state(info(tmp_path, os.getpid()))
    assert server_client.find_server(tmp_path) is None
    assert server_client.stop_server(tmp_path) is None
    assert not state_file(tmp_path).exists()


def test_stop_kills_a_server_that_ignores_sigterm(tmp_path: Path) -> None:
    hung = fake_server()
    try:
        write_state(info(tmp_path, hung.pid))
        assert server_client.find_server(tmp_path) == info(tmp_path, hung.pid)
        started = time.monotonic()
        stopped = server_client.stop_server(tmp_path, timeout_s=0.3)
        assert stopped is not None and stopped.pid == hung.pid
        assert time.monotonic() - started < 5
        assert not pid_alive(hung.pid)  # SIGKILLed (and reaped by the liveness check)
        assert not state_file(tmp_path).exists()
    finally:
        hung.kill()
        hung.wait()


def test_the_client_factory_calls_the_endpoint_with_fake_credentials_whatever_the_shell_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere.invalid")
    factory = info(tmp_path, 1, endpoint="http://127.0.0.1:4567").client_factory()
    ec2 = factory.client("ec2")
    assert ec2.meta.endpoint_url == "http://127.0.0.1:4567"
    assert ec2.meta.region_name == "us-east-1"
    assert factory.client("ec2", "eu-west-1").meta.region_name == "eu-west-1"
    credentials = factory.session.get_credentials()
    assert (credentials.access_key, credentials.secret_key) == ("testing", "testing")
    assert factory.client("ec2") is ec2


def test_the_deployment_of_a_state_file_knows_its_state_machines_but_runs_no_handlers(tmp_path: Path) -> None:
    deployment = info(tmp_path, 1).deployment()
    assert deployment.execution_arn("apply", "x") == "arn:aws:states:us-east-1:123456789012:execution:a:x"
    assert deployment.cloud.client("stepfunctions").meta.endpoint_url == "http://127.0.0.1:1"
    with pytest.raises(RuntimeError, match="inside the local-cloud server process"):
        deployment.cloud.register_handler("f", lambda event, context: None)


def test_start_refuses_negative_durations_and_an_unusable_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pending_seconds must not be negative"):
        server_client.start_server(tmp_path, -1)
    with pytest.raises(ValueError, match="volume_pending_seconds"):
        server_client.start_server(tmp_path, 0, volume_pending_seconds=float("nan"))
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(server_client.StateDirError, match="cannot use"):
        server_client.start_server(a_file / "sub", 0)
    assert list(tmp_path.iterdir()) == [a_file]  # nothing was spawned, no log written
