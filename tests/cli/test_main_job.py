"""The main job, ``examples/cluster_lifecycle.py``: run -> stop -> run -> terminate of the example cluster."""

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
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud

REPO = Path(__file__).resolve().parents[2]
JOB = REPO / "examples" / "cluster_lifecycle.py"
INSTANCES = ["ec2_instance:master", "ec2_instance:worker-0", "ec2_instance:worker-1", "ec2_instance:worker-2"]
VOLUMES = ["ebs_volume:volume-0", "ebs_volume:volume-1", "ebs_volume:volume-2"]


@pytest.fixture(scope="module")
def job() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cluster_lifecycle", JOB)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def rows(report: Any) -> dict[str, tuple[str, str]]:
    """pcf_id -> (state, resource id) from a phase's summary rows."""
    return {row[0]: (row[1], row[2]) for row in report.rows}


def shared(cloud: LocalCloud) -> Any:
    """A local-cloud maker that hands the job the test's cloud (left running for inspection)."""

    @contextmanager
    def make(region: str, pending: float) -> Iterator[LocalCloud]:
        yield cloud

    return make


def test_the_job_runs_stops_reruns_and_terminates_the_cluster(job: ModuleType, slow_cloud: LocalCloud) -> None:
    out = io.StringIO()

    results = job.run_lifecycle(out, clock=slow_cloud.clock, local_cloud=shared(slow_cloud))

    assert [r.state for r in results] == ["running", "stopped", "running", "terminated"]
    assert all(r.report.ok for r in results)
    first, stopped, again, gone = (rows(r.report) for r in results)
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
    states = {
        i["State"]["Name"]
        for r in slow_cloud.client("ec2").describe_instances()["Reservations"]
        for i in r["Instances"]
    }
    assert states == {"terminated"}
    text = out.getvalue()
    assert "ec2_instance:worker-1 pending -> running" in text
    assert "== phase 4/4: pcf terminate -> terminated ==" in text
    assert slow_cloud.clock.now() > 5 * 4, "the pending phases passed on the virtual clock"


def test_each_worker_gets_its_volume_and_the_master_ip(job: ModuleType, slow_cloud: LocalCloud) -> None:
    results = job.run_lifecycle(
        io.StringIO(), quiet=True, clock=slow_cloud.clock, local_cloud=shared(slow_cloud), phases=("running",)
    )

    ec2 = slow_cloud.client("ec2")
    ids = rows(results[0].report)
    instances = {
        i["InstanceId"]: i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
    }
    master_ip = instances[ids["ec2_instance:master"][1]]["PrivateIpAddress"]
    for index in range(3):
        worker_id = ids[f"ec2_instance:worker-{index}"][1]
        volume = ec2.describe_volumes(VolumeIds=[ids[f"ebs_volume:volume-{index}"][1]])["Volumes"][0]
        assert [(a["InstanceId"], a["Device"]) for a in volume["Attachments"]] == [(worker_id, "/dev/sdf")]
        assert volume["AvailabilityZone"] == instances[worker_id]["Placement"]["AvailabilityZone"]
        user_data = ec2.describe_instance_attribute(InstanceId=worker_id, Attribute="userData")["UserData"]["Value"]
        assert f"PCF_MASTER_IP={master_ip}\n" in base64.b64decode(user_data).decode()


def test_main_prints_progress_and_phase_tables_and_exits_0(job: ModuleType) -> None:
    out = io.StringIO()

    code = job.main(["--pending-seconds", "3"], out=out, clock=VirtualClock())

    text = out.getvalue()
    assert code == 0
    assert text.count("pcf_id                 state") == 4
    assert re.search(r"^ec2_instance:master\s+stopped\s+i-\w+\s+stop$", text, re.M)
    assert text.splitlines()[-1].startswith("lifecycle done: running -> stopped -> running -> terminated in ")


def test_the_script_runs_standalone_from_any_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, str(JOB), "--pending-seconds", "0", "--quiet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "[" not in done.stdout, "--quiet prints no progress lines"
    assert "lifecycle done: running -> stopped -> running -> terminated" in done.stdout
