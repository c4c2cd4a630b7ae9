"""A real local-cloud server process: separate processes share one cloud, with the control plane in it.

Servers run with pending 0 unless a test needs more; every server started here is stopped (or killed) when
its fixture ends, whatever the test did.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from pcf_cli.environment import CliEnvironment
from pcf_cli.main import run_cli
from pcf_control_plane.store import DynamoDBStateStore
from pcf_local_cloud import server_client
from pcf_local_cloud.server_client import (
    ServerAlreadyRunning,
    ServerStartError,
    find_server,
    start_server,
    stop_server,
)
from pcf_local_cloud.server_state import ServerInfo, pid_alive, read_state, state_file, write_state

START_TIMEOUT_S = 90.0  # generous: other suites may share the two cores


def kill_leftovers(*state_dirs: Path) -> None:
    """SIGKILL every server this process spawned or that a state dir names, if still alive."""
    pids = set(server_client._children)
    pids |= {info.pid for info in map(read_state, state_dirs) if info is not None}
    for pid in pids:
        if pid != os.getpid() and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    server_client._children.clear()


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty state dir; its server, if any, is stopped afterwards."""
    directory = tmp_path / "local"
    yield directory
    stop_server(directory, timeout_s=5)
    kill_leftovers(directory)


class Shared(NamedTuple):
    info: ServerInfo
    stale_pid: int
    start_seconds: float


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """One server (pending 0) for the module, started over a stale state file left by a dead server."""
    directory = tmp_path_factory.mktemp("shared") / "local"
    directory.mkdir()
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    stale = ServerInfo(pid=process.pid, endpoint="http://127.0.0.1:9", region="us-east-1",
                       account_id="123456789012", table_name="t", stage="dev", app_name="a", role_arn="r",
                       started_at="2026-01-01T00:00:00Z", pending_seconds=0.0, volume_pending_seconds=0.0,
                       state_dir=directory)
    write_state(stale)
    try:
        started = time.monotonic()
        info = start_server(directory, 0, timeout_s=START_TIMEOUT_S)
        yield Shared(info, process.pid, time.monotonic() - started)
    finally:
        stop_server(directory, timeout_s=5)
        kill_leftovers(directory)


@pytest.fixture(scope="module")
def ami(shared: Shared) -> str:
    return shared.info.client_factory().client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]


def instances_named(ec2: Any, name: str) -> list[dict[str, Any]]:
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:PCFName", "Values": [name]}])["Reservations"]
    return [instance for reservation in reservations for instance in reservation["Instances"]]


def test_an_apply_execution_runs_in_the_server_and_other_clients_see_the_instance(shared: Shared, ami: str) -> None:
    definition = {"pcf_name": "solo", "flavor": "ec2_instance", "aws_resource": {
        "ImageId": ami, "InstanceType": "t3.micro", "custom_config": {"instance_name": "solo"}}}
    result = shared.info.deployment().run_execution(
        "apply", {"definition": definition, "desired_state": "running", "wait_seconds": 0, "max_polls": 20},
        name=f"solo-{uuid.uuid4().hex[:8]}", timeout_s=60)
    assert result.status == "SUCCEEDED", result.output
    assert result.output["pcf_id"] == "ec2_instance:solo"

    found = find_server(shared.info.state_dir)  # a second client, built from the state file alone
    assert found is not None
    [instance] = instances_named(found.client_factory().client("ec2"), "solo")
    assert instance["State"]["Name"] == "running"
    store = DynamoDBStateStore(found.client_factory().client("dynamodb"), found.table_name)
    assert store.get_observation("ec2_instance:solo").state == "running"

    script = (  # and another process, as a second pcf command would be
        "import json, sys\n"
        "from pcf_local_cloud.server_client import find_server\n"
        "info = find_server(sys.argv[1])\n"
        "ec2 = info.client_factory().client('ec2')\n"
        "reservations = ec2.describe_instances(Filters=[{'Name': 'tag:PCFName', 'Values': ['solo']}])\n"
        "print(json.dumps([i['InstanceId'] + ' ' + i['State']['Name']"
        " for r in reservations['Reservations'] for i in r['Instances']]))\n"
    )
    seen = subprocess.run([sys.executable, "-c", script, str(shared.info.state_dir)],
                          capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(seen.stdout) == [f"{instance['InstanceId']} running"]


def test_the_state_file_describes_the_server_and_replaced_a_stale_one(shared: Shared) -> None:
    info = shared.info
    assert find_server(info.state_dir) == info
    assert info.pid != shared.stale_pid and pid_alive(info.pid)
    assert info.endpoint.startswith("http://127.0.0.1:")
    assert server_client.endpoint_answers(info.endpoint)
    assert set(info.state_machine_arns) == {"page", "apply", "reconcile"}
    assert info.table_name == "pcf-serverless-dev-state"
    assert (info.region, info.account_id, info.pending_seconds) == ("us-east-1", "123456789012", 0.0)
    log = info.log_file.read_text()
    assert f"replacing the stale state file of pid {shared.stale_pid}" in log
    assert "ready in" in log
    sfn = info.client_factory().client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=info.state_machine_arns["apply"])
    assert "${" not in machine["definition"]


def test_a_second_server_for_the_same_directory_refuses(shared: Shared) -> None:
    with pytest.raises(ServerAlreadyRunning, match=f"pid {shared.info.pid}"):
        start_server(shared.info.state_dir, 0)
    log_before = shared.info.log_file.read_text()
    # the server itself refuses too, even when started around the client's check
    refused = subprocess.run(
        [sys.executable, "-m", "pcf_local_cloud.server", "--state-dir", str(shared.info.state_dir)],
        capture_output=True, text=True, timeout=60)
    assert refused.returncode == 3
    assert f"already runs in {shared.info.state_dir} at {shared.info.endpoint}" in refused.stderr
    assert shared.info.log_file.read_text().startswith(log_before)  # the running server's log is kept
    assert find_server(shared.info.state_dir) == shared.info
    assert server_client.endpoint_answers(shared.info.endpoint)


def test_settle_answers_once_what_a_client_started_has_ended(shared: Shared, ami: str) -> None:
    info = shared.info
    assert info.control_endpoint.startswith("http://127.0.0.1:") and info.control_endpoint != info.endpoint
    sfn = info.client_factory().client("stepfunctions")
    definition = {"pcf_name": "settled", "flavor": "ec2_instance", "aws_resource": {
        "ImageId": ami, "InstanceType": "t3.micro", "custom_config": {"instance_name": "settled"}}}
    arn = sfn.start_execution(stateMachineArn=info.state_machine_arns["apply"], name=f"settle-{uuid.uuid4().hex[:8]}",
                              input=json.dumps({"definition": definition, "desired_state": "running",
                                                "wait_seconds": 0, "max_polls": 20}))["executionArn"]

    answer = server_client.settle(info, timeout_s=60)

    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    assert set(answer) == {"settled", "executions_waited_for"}
    [instance] = instances_named(info.client_factory().client("ec2"), "settled")
    assert instance["State"]["Name"] == "running"


def test_settle_refuses_a_server_without_a_control_endpoint(shared: Shared) -> None:
    older = dataclasses.replace(shared.info, control_endpoint="")
    with pytest.raises(server_client.ServerError, match="no control endpoint"):
        server_client.settle(older)


def cli(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_cli(argv, CliEnvironment(stdout=out, stderr=err, cwd=cwd))
    return code, out.getvalue(), err.getvalue()


def test_pcf_local_start_status_stop(state_dir: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    code, out, err = cli(["local", "start", "--state-dir", "local"], tmp_path)  # pending: 2 s by default
    assert (code, err) == (0, "")
    info = find_server(state_dir)
    assert info is not None
    assert out == (f"local cloud listening at {info.endpoint} (pid {info.pid}, pending 2s, state "
                   f"{state_dir / 'server.json'}); stop it with: pcf local stop --state-dir {state_dir}\n")
    print(f"server start via the CLI: {time.monotonic() - started:.2f} s")

    # the patches run in the server, with its pending time (on the real clock)
    ec2 = info.client_factory().client("ec2")
    launched = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]
    assert ec2.describe_instances(InstanceIds=[launched["InstanceId"]])["Reservations"][0]["Instances"][0][
        "State"]["Name"] == "pending"
    deadline = time.monotonic() + 10
    while ec2.describe_instances(InstanceIds=[launched["InstanceId"]])["Reservations"][0]["Instances"][0][
            "State"]["Name"] != "running":
        assert time.monotonic() < deadline, "never became running"
        time.sleep(0.1)

    assert cli(["local", "status", "--state-dir", str(state_dir)], tmp_path)[:2] == (
        0, f"local cloud listening at {info.endpoint} (pid {info.pid}, since {info.started_at}, region us-east-1, "
           f"pending 2s, log {state_dir / 'server.log'})\n")
    code, out, err = cli(["local", "start", "--state-dir", str(state_dir)], tmp_path)
    assert code == 1 and out == ""
    assert err == (f"pcf: error: a local-cloud server already runs in {state_dir} at {info.endpoint} "
                   f"(pid {info.pid}); stop it first: pcf local stop --state-dir {state_dir}\n")

    assert cli(["local", "stop", "--state-dir", str(state_dir)], tmp_path) == (
        0, f"local cloud at {info.endpoint} (pid {info.pid}) stopped\n", "")
    assert not state_file(state_dir).exists()
    assert not pid_alive(info.pid)
    assert not server_client.endpoint_answers(info.endpoint)
    assert cli(["local", "stop", "--state-dir", str(state_dir)], tmp_path) == (
        0, f"no local cloud server runs in {state_dir}\n", "")
    assert cli(["local", "status", "--state-dir", str(state_dir)], tmp_path) == (
        1, f"no local cloud server runs in {state_dir}; start one with: pcf local start\n", "")


def test_the_state_dir_may_come_from_pcf_local_dir(
    state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PCF_LOCAL_DIR", str(state_dir))
    assert cli(["local", "status"], tmp_path) == (
        1, f"no local cloud server runs in {state_dir}; start one with: pcf local start\n", "")


@pytest.mark.parametrize(("argv", "message"), [
    (["local", "start", "--pending-seconds", "-1"], "pcf: error: --pending-seconds: -1 must not be negative\n"),
    (["local", "start", "--pending-seconds", "soon"], "pcf: error: --pending-seconds: 'soon' is not a number\n"),
    (["local", "start", "--state-dir", "a-file"], "pcf: error: --state-dir: a-file is not a directory\n"),
    (["local", "stop", "--state-dir", "a-file"], "pcf: error: --state-dir: a-file is not a directory\n"),
    (["--target", "aws", "local", "status", "--state-dir", "x"],
     "pcf: error: --target: pcf local manages the local cloud; aws does not apply\n"),
    (["local"], "pcf: error: the following arguments are required: ACTION\n"),
    (["local", "restart"], "pcf: error: ACTION: invalid choice: 'restart' (choose from 'start', 'stop', 'status')\n"),
])
def test_bad_input_exits_2_naming_the_option(tmp_path: Path, argv: list[str], message: str) -> None:
    (tmp_path / "a-file").write_text("")
    assert cli(argv, tmp_path) == (2, "", message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # no server, no directory


def test_a_bad_pcf_local_dir_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("PCF_LOCAL_DIR", str(tmp_path / "a-file"))
    expected = f"pcf: error: PCF_LOCAL_DIR: {tmp_path}/a-file is not a directory\n"
    assert cli(["local", "status"], tmp_path) == (2, "", expected)


def test_a_server_that_dies_while_starting_is_reported_with_its_log(state_dir: Path) -> None:
    with pytest.raises(ServerStartError) as failure:
        start_server(state_dir, 0, stage="nosuch", timeout_s=START_TIMEOUT_S)
    assert str(failure.value).startswith("the local-cloud server exited with code 1 while starting\n")
    assert "'nosuch' is not a stage of config.json" in failure.value.log_tail
    assert not pid_alive(failure.value.pid)
    assert not state_file(state_dir).exists()


def test_a_server_not_ready_in_time_is_stopped(state_dir: Path) -> None:
    with pytest.raises(ServerStartError, match=r"not ready after 0\.2 s \(stopped it\)") as failure:
        start_server(state_dir, 0, timeout_s=0.2)
    assert not pid_alive(failure.value.pid)
    assert find_server(state_dir) is None


def test_status_says_when_a_live_server_does_not_answer(state_dir: Path, tmp_path: Path) -> None:
    hung = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "pcf_local_cloud.server"])
    try:
        state_dir.mkdir()
        write_state(ServerInfo(pid=hung.pid, endpoint="http://127.0.0.1:9", region="us-east-1",
                               account_id="123456789012", table_name="t", stage="dev", app_name="a", role_arn="r",
                               started_at="2026-01-01T00:00:00Z", pending_seconds=2.0, volume_pending_seconds=2.0,
                               state_dir=state_dir))
        code, out, err = cli(["local", "status", "--state-dir", str(state_dir)], tmp_path)
        assert (code, err) == (1, "")
        assert out.startswith(f"local cloud listening at http://127.0.0.1:9 NOT ANSWERING (see the log) "
                              f"(pid {hung.pid}, since 2026-01-01T00:00:00Z,")
    finally:
        hung.kill()
        hung.wait()

