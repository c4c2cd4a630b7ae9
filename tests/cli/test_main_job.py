"""The main job, ``examples/cluster_lifecycle.py``: run -> stop -> run -> heal -> terminate of the example
cluster, each phase one execution of the ``apply`` state machine on the local cloud, followed by the CLI's
follower; the heal's execution is started by the control plane itself (an EC2 event)."""

from __future__ import annotations

import base64
import importlib.util
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pcf_control_plane.store import DynamoDBStateStore, HistoryItem
from pcf_local_cloud.clock import RealClock
from pcf_local_cloud.cloud import LocalCloud

REPO = Path(__file__).resolve().parents[2]
JOB = REPO / "examples" / "cluster_lifecycle.py"
MASTER = "ec2_instance:master"
WORKERS = [f"ec2_instance:worker-{i}" for i in range(3)]
INSTANCES = [MASTER, *WORKERS]
VOLUMES = [f"ebs_volume:volume-{i}" for i in range(3)]
HEALED, HEALED_VOLUME = "ec2_instance:worker-1", "ebs_volume:volume-1"
TABLE = "pcf-serverless-dev-state"


@pytest.fixture(scope="module")
def job() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cluster_lifecycle", JOB)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def shared(cloud: LocalCloud) -> Any:
    """A local-cloud maker that hands the job the test's cloud (left running for inspection)."""

    @contextmanager
    def make(region: str, pending: float) -> Iterator[LocalCloud]:
        yield cloud

    return make


def ec2_snapshot(cloud: LocalCloud) -> dict[str, dict[str, Any]]:
    """PCFName tag -> what EC2 says of each instance and volume."""
    ec2 = cloud.client("ec2")
    found: dict[str, dict[str, Any]] = {}
    for reservation in ec2.describe_instances()["Reservations"]:
        for item in reservation["Instances"]:
            name = {t["Key"]: t["Value"] for t in item["Tags"]}["PCFName"]
            user_data = ec2.describe_instance_attribute(InstanceId=item["InstanceId"], Attribute="userData")
            found[name] = {"state": item["State"]["Name"], "id": item["InstanceId"],
                           "ip": item.get("PrivateIpAddress"), "zone": item["Placement"]["AvailabilityZone"],
                           "user_data": base64.b64decode(user_data["UserData"].get("Value", "")).decode()}
    for volume in ec2.describe_volumes()["Volumes"]:
        name = {t["Key"]: t["Value"] for t in volume.get("Tags", [])}.get("PCFName")
        if name:
            found.setdefault(name, {"volumes": []})["volumes"].append({
                "state": volume["State"], "id": volume["VolumeId"], "zone": volume["AvailabilityZone"],
                "attachments": [(a["InstanceId"], a["Device"]) for a in volume["Attachments"]]})
    return found


@dataclass
class Lifecycle:
    """What the whole job did: its phases, EC2 after each, the stored history of each particle, its output."""

    results: list[Any]
    ec2: list[dict[str, dict[str, Any]]] = field(default_factory=list)
    history: dict[str, list[HistoryItem]] = field(default_factory=dict)
    output: str = ""
    heal_executions: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def lifecycle(job: ModuleType) -> Lifecycle:
    """The five phases on a real clock with instant transitions (the state machine still waits in real time)."""
    out = io.StringIO()
    snapshots: list[dict[str, dict[str, Any]]] = []
    with LocalCloud(clock=RealClock()) as cloud:
        results = job.run_lifecycle(out, pending_seconds=0, volume_pending_seconds=0, local_cloud=shared(cloud),
                                    after_phase=lambda result, at: snapshots.append(ec2_snapshot(at)))
        store = DynamoDBStateStore(cloud.client("dynamodb"), TABLE)
        history = {pcf_id: store.list_history(pcf_id, limit=200, newest_first=False) for pcf_id in INSTANCES + VOLUMES}
        sfn = cloud.client("stepfunctions")
        [machine] = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                     if m["name"].endswith("-apply")]
        heals = {e["name"]: e["status"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]
                 if e["name"].startswith("heal-")}
    return Lifecycle(results, snapshots, history, out.getvalue(), heals)


def rows(report: Any) -> dict[str, tuple[str, str]]:
    """pcf_id -> (state, resource id) from a phase's summary rows."""
    return {row[0]: (row[1], row[2]) for row in report.rows}


def instance_name(pcf_id: str) -> str:
    return "pcf-cluster-" + pcf_id.split(":")[1]


def test_the_job_runs_stops_reruns_and_terminates_the_cluster(lifecycle: Lifecycle) -> None:
    results = lifecycle.results

    assert [r.state for r in results] == ["running", "stopped", "running", "heal", "terminated"]
    assert all(r.report.ok for r in results), [r.report.error for r in results]
    first, stopped, again, _, gone = (rows(r.report) for r in results)
    assert {first[i][0] for i in INSTANCES + VOLUMES} == {"running"}
    assert {stopped[i][0] for i in INSTANCES} == {"stopped"}
    assert {stopped[v][0] for v in VOLUMES} == {"terminated"}, "an EBS volume has no stopped state"
    assert {again[i][0] for i in INSTANCES + VOLUMES} == {"running"}
    assert [again[i][1] for i in INSTANCES] == [first[i][1] for i in INSTANCES], "the same instances restarted"
    assert not {again[v][1] for v in VOLUMES} & {first[v][1] for v in VOLUMES}, "volumes were created anew"
    assert {gone[i][0] for i in INSTANCES + VOLUMES} == {"terminated"}
    assert [gone[i][1] for i in INSTANCES + VOLUMES] == [again[i][1] for i in INSTANCES + VOLUMES], (
        "a terminated resource is listed with the id it had"
    )


def test_ec2_is_in_each_phases_state(lifecycle: Lifecycle) -> None:
    expected = {"running": "running", "stopped": "stopped", "heal": "running", "terminated": "terminated"}
    for result, ec2 in zip(lifecycle.results, lifecycle.ec2, strict=True):
        states = {ec2[instance_name(i)]["state"] for i in INSTANCES}
        assert states == {expected[result.state]}, result.state
        reported = rows(result.report)
        ids = {ec2[instance_name(i)]["id"] for i in INSTANCES if i in reported}
        assert ids == {reported[i][1] for i in INSTANCES if i in reported}, "one instance each, the one reported"
    volumes = [len(ec2.get(f"pcf-cluster-data-{i}", {"volumes": []})["volumes"])
               for ec2 in lifecycle.ec2 for i in range(3)]
    assert volumes == [1] * 3 + [0] * 3 + [1] * 3 + [1] * 3 + [0] * 3, "deleted when stopped, created anew, deleted"


def test_each_worker_gets_its_volume_and_the_master_ip(lifecycle: Lifecycle) -> None:
    for phase in (0, 2):  # both runs
        ec2 = lifecycle.ec2[phase]
        master_ip = ec2["pcf-cluster-master"]["ip"]
        for index in range(3):
            worker = ec2[f"pcf-cluster-worker-{index}"]
            [volume] = ec2[f"pcf-cluster-data-{index}"]["volumes"]
            assert volume["attachments"] == [(worker["id"], "/dev/sdf")]
            assert volume["state"] == "in-use" and volume["zone"] == worker["zone"]
            assert f"PCF_MASTER_IP={master_ip}\n" in worker["user_data"]


def test_parents_start_first_and_children_stop_first(lifecycle: Lifecycle) -> None:
    def transition_at(pcf_id: str, phase: int) -> float:
        execution = lifecycle.results[phase].execution
        [item] = [i for i in lifecycle.history[pcf_id] if i.kind == "transition" and i.cause.endswith(execution)]
        return item.at

    for phase in (0, 2):
        for index in range(3):
            worker, volume = WORKERS[index], VOLUMES[index]
            assert transition_at(MASTER, phase) < transition_at(worker, phase) < transition_at(volume, phase)
    for phase in (1, 4):
        for index in range(3):
            worker, volume = WORKERS[index], VOLUMES[index]
            assert transition_at(volume, phase) < transition_at(worker, phase) < transition_at(MASTER, phase)


def test_every_phase_is_recorded_in_the_store(lifecycle: Lifecycle) -> None:
    executions = [r.execution for r in lifecycle.results]
    heal = lifecycle.results[3].execution
    for pcf_id, items in lifecycle.history.items():
        healed = pcf_id in (HEALED, HEALED_VOLUME)
        causes = [i.cause.rsplit(":", 1)[-1] for i in items if i.kind == "plan"]
        assert causes == [e for e in executions if healed or e != heal], pcf_id
        observed = [i.detail["state"] for i in items if i.kind == "observation"]
        assert observed[-1] == "terminated", pcf_id
        actions = [i.detail["action"] for i in items if i.kind == "transition"]
        extra = ["start"] if pcf_id == HEALED else []
        assert actions == ["start", "stop", "start", *extra, "terminate"], pcf_id


def test_a_worker_stopped_behind_the_back_heals_itself(lifecycle: Lifecycle) -> None:
    before, heal = lifecycle.results[2], lifecycle.results[3]
    event_id = heal.execution.removeprefix("heal-")

    assert heal.state == "heal" and heal.report.ok, heal.report.error
    assert re.fullmatch(r"heal-[0-9a-f-]{36}", heal.execution), "named after the EC2 event"
    assert lifecycle.heal_executions == {heal.execution: "SUCCEEDED"}, "one heal, started by the event, succeeded"
    worker = lifecycle.ec2[3][instance_name(HEALED)]
    assert worker["state"] == "running" and worker["id"] == rows(before.report)[HEALED][1], "the same instance"
    assert rows(heal.report)[HEALED] == ("running", worker["id"]) and HEALED_VOLUME in rows(heal.report)
    items = heal.history
    [stopped] = [i for i in items if i.kind == "observation" and i.detail["state"] == "stopped"]
    [decision] = [i for i in items if i.kind == "heal"]
    [transition] = [i for i in items if i.kind == "transition"]
    assert stopped.cause == decision.cause == f"event:{event_id}", "recorded from the EC2 event"
    assert decision.detail["status"] == "started" and decision.detail["execution"] == heal.execution
    assert transition.detail["action"] == "start" and transition.cause.endswith(f":{heal.execution}")
    assert stopped.at <= decision.at <= transition.at
    assert [i.detail["state"] for i in items if i.kind == "observation"][-1] == "running"
    text = lifecycle.output
    assert f"execution: {heal.execution} (started by on_ec2_event)" in text
    assert re.search(rf"^\S+ \S+\s+heal\s+event:{event_id}\s+status=started", text, re.M), "the history is shown"


def test_the_output_has_a_progress_line_per_event_and_a_table_per_phase(lifecycle: Lifecycle) -> None:
    text = lifecycle.output

    assert text.count("pcf_id                 state") == 5
    for number, (verb, state) in zip((1, 2, 3, 5), [("run", "running"), ("stop", "stopped"), ("run", "running"),
                                                    ("terminate", "terminated")], strict=True):
        assert f"== phase {number}/5: pcf {verb} -> {state} ==" in text
    assert "== phase 4/5: self-healing ==" in text
    assert re.search(r"^execution: pcf-run-cluster-\d{8}T\d{6}Z-[0-9a-f]{4} \(cluster\)$", text, re.M)
    assert re.search(r"^\[\s+[\d.]+s\] start level 2: 3 particles in 1 page$", text, re.M)
    assert re.search(r"^\[\s+[\d.]+s\] ec2_instance:worker-2\s+done: running as desired$", text, re.M)
    assert re.search(r"^\[\s+[\d.]+s\] ec2_instance:master\s+stop: running -> stopped$", text, re.M)
    assert re.search(r"^ec2_instance:master\s+stopped\s+i-\w+\s+stop$", text, re.M)


def test_pending_phases_show_as_they_happen(job: ModuleType) -> None:
    out = io.StringIO()
    with LocalCloud(clock=RealClock(), pending_seconds=1.5, volume_pending_seconds=0) as cloud:
        [result] = job.run_lifecycle(out, pending_seconds=1.5, local_cloud=shared(cloud), phases=("running",))

    text = out.getvalue()
    assert result.report.ok, result.report.error
    for pcf_id in INSTANCES:
        found = re.search(rf"^\[\s+([\d.]+)s\] {pcf_id}\s+terminated -> pending  (i-\w+)$", text, re.M)
        running = re.search(rf"^\[\s+([\d.]+)s\] {pcf_id}\s+pending -> running  (i-\w+)$", text, re.M)
        assert found and running, pcf_id
        assert found.group(2) == running.group(2) == rows(result.report)[pcf_id][1]
        assert float(running.group(1)) - float(found.group(1)) >= 0.5, "seen pending, then running a poll later"
    assert "particles polled every 1s" in text


def test_the_script_runs_standalone_from_any_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, str(JOB), "--pending-seconds", "0", "--phases", "run,terminate", "--quiet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "[" not in done.stdout, "--quiet prints no progress lines"
    assert done.stdout.count("pcf_id                 state") == 2
    assert re.search(r"^ec2_instance:worker-2\s+running\s+i-\w+\s+start$", done.stdout, re.M), "user data found"
    assert done.stdout.splitlines()[-1].startswith("lifecycle done: running -> terminated in ")
    assert done.stderr == "", "the in-process Lambda functions print nothing over the job's output"


def test_the_script_runs_the_five_phases_unless_told(job: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert job.parse_args([]).phases == ("running", "stopped", "running", "heal", "terminated")
    assert job.parse_args(["--phases", "run, stopped"]).phases == ("running", "stopped")
    with pytest.raises(SystemExit) as bad:
        job.parse_args(["--phases", "run,explode"])

    assert bad.value.code == 2
    assert "--phases: 'run,explode': give a comma-separated list of run, stop, terminate, heal" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit) as early:
        job.parse_args(["--phases", "run,stop,heal"])

    assert early.value.code == 2
    assert "heal needs the cluster running: put it after run" in capsys.readouterr().err
