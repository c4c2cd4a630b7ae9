"""The CLI end to end on the real flavors (EC2 instances, EBS volumes) and the local cloud."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from pcf_local_cloud.cloud import LocalCloud
from tests.cli.cli_support import CliRunner

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def single() -> dict[str, Any]:
    return json.loads((EXAMPLES / "single_instance.json").read_text())


def example_cluster() -> dict[str, Any]:
    """The example cluster, its template's text inline (the copy is written elsewhere than examples/)."""
    definition = yaml.safe_load((EXAMPLES / "cluster.yml").read_text())
    for member in definition["particles"]:
        custom = member["aws_resource"]["custom_config"]
        if "userdata_template_file" in custom:
            custom["userdata_template"] = (EXAMPLES / custom["userdata_template_file"]).read_text()
    return definition


def instances(cloud: LocalCloud) -> dict[str, str]:
    """PCFName tag -> state name of every instance in the cloud."""
    found = {}
    for reservation in cloud.client("ec2").describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            found[tags.get("PCFName", instance["InstanceId"])] = instance["State"]["Name"]
    return found


def nothing_created(cloud: LocalCloud) -> bool:
    ec2 = cloud.client("ec2")
    return not ec2.describe_instances()["Reservations"] and not ec2.describe_volumes()["Volumes"]


@contextmanager
def in_cloud(cloud: LocalCloud) -> Iterator[LocalCloud]:
    yield cloud


def test_run_plan_and_stop_a_single_instance(pcf_cli: CliRunner, cloud: LocalCloud) -> None:
    pcf_cli.write("pcf.json", single())

    ran = pcf_cli("run", cloud=cloud)
    observed = pcf_cli("plan", "--observe", cloud=cloud)
    stopped = pcf_cli("stop", cloud=cloud)

    assert ran.code == 0, ran.err
    assert ran.out.splitlines()[1].split()[:4] == ["ec2_instance:web", "running", ran.out.split()[6], "start"]
    assert ran.out.split()[6].startswith("i-")
    assert observed.out.splitlines()[2].split()[:6] == [
        "start", "1", "ec2_instance:web", ran.out.split()[6], "running", "running"
    ]
    assert "done (running as desired)" in observed.out
    assert stopped.code == 0
    assert instances(cloud) == {"pcf-example-web": "stopped"}


def with_member(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    definition = example_cluster()
    change(definition)
    return definition


def members(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["pcf_name"]: m for m in definition["particles"]}


BAD = {
    "unknown flavor": (
        {**single(), "flavor": "ec2_instanse"},
        "flavor: unknown flavor 'ec2_instanse'; did you mean 'ec2_instance'?",
    ),
    "missing instance_name": (
        {**single(), "aws_resource": {"ImageId": "ami-1", "custom_config": {}}},
        "aws_resource.custom_config.instance_name: is required by flavor 'ec2_instance' (its UNIQUE_KEYS)",
    ),
    "bad state": (
        {**single(), "desired_state": "started"},
        "desired_state: 'started' is not allowed: 'running', 'stopped' or 'terminated'",
    ),
    "unknown parent": (
        with_member(lambda d: members(d)["volume"].update(parents=["ec2_instance:wroker"])),
        "particles[2].parents[0]: 'ec2_instance:wroker' names no particle of cluster; "
        "did you mean 'ec2_instance:worker'?",
    ),
    "cycle through the master": (
        with_member(lambda d: members(d)["master"].update(parents=["ebs_volume:volume-1"])),
        "parents: dependency cycle: ebs_volume:volume-1 -> ec2_instance:master -> ec2_instance:worker-1 "
        "-> ebs_volume:volume-1",
    ),
    "inherit from a non-parent": (
        with_member(lambda d: members(d)["volume"]["aws_resource"].update(
            AvailabilityZone="$inherit$ec2_instance:master$Placement.AvailabilityZone"
        )),
        "ebs_volume:volume-0.aws_resource.AvailabilityZone: $inherit$ names ec2_instance:master, which is not a "
        "parent of ebs_volume:volume-0 (parents: ec2_instance:worker-0)",
    ),
}


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_the_field_and_creates_nothing(
    pcf_cli: CliRunner, cloud: LocalCloud, case: str, command: str
) -> None:
    definition, expected = BAD[case]
    pcf_cli.write("pcf.yml", definition)

    result = pcf_cli(command, cloud=cloud)

    assert result.code == 2, result.err
    assert result.err_lines == [f"pcf: error: {expected}"]
    assert "Traceback" not in result.err
    assert nothing_created(cloud)


def test_validate_the_example_cluster(pcf_cli: CliRunner) -> None:
    result = pcf_cli("validate", "-f", str(EXAMPLES / "cluster.yml"))

    assert result.code == 0
    assert result.out == "valid: cluster (distributed_master_worker): 7 particles, start order in 3 levels\n"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("running", ["start level 1: ec2_instance:master", "start level 2: ec2_instance:worker-0, "
                     "ec2_instance:worker-1, ec2_instance:worker-2", "start level 3: ebs_volume:volume-0, "
                     "ebs_volume:volume-1, ebs_volume:volume-2"]),
        ("terminated", ["stop level 1: ebs_volume:volume-0, ebs_volume:volume-1, ebs_volume:volume-2",
                        "stop level 2: ec2_instance:worker-0, ec2_instance:worker-1, ec2_instance:worker-2",
                        "stop level 3: ec2_instance:master"]),
    ],
)
def test_plan_the_example_cluster(pcf_cli: CliRunner, state: str, expected: list[str]) -> None:
    pcf_cli.write("pcf.yml", example_cluster())

    result = pcf_cli("plan", "--state", state)

    assert [line.strip() for line in result.out.splitlines()[1:]] == expected


def test_a_particle_that_stays_pending_too_long_fails_with_exit_1(pcf_cli: CliRunner, slow_cloud: LocalCloud) -> None:
    pcf_cli.write("pcf.yml", example_cluster())

    result = pcf_cli("run", "--timeout", "2", cloud=slow_cloud)

    assert result.code == 1
    assert "pcf: error: ec2_instance:master: ParticleTimeoutError: still pending after 2s" in result.err_lines
    assert "ec2_instance:master   FAILED: ParticleTimeoutError" in result.err
    assert instances(slow_cloud) == {"pcf-cluster-master": "pending"}, "workers were never started"


def test_run_one_worker_brings_its_master_only(pcf_cli: CliRunner, cloud: LocalCloud) -> None:
    pcf_cli.write("pcf.yml", example_cluster())

    result = pcf_cli("run", "volume-2", "--quiet", cloud=cloud)

    assert result.code == 0, result.err
    assert instances(cloud) == {"pcf-cluster-master": "running", "pcf-cluster-worker-2": "running"}
    volumes = cloud.client("ec2").describe_volumes(Filters=[{"Name": "tag:PCFName", "Values": ["pcf-cluster-data-2"]}])
    assert volumes["Volumes"][0]["State"] == "in-use"


def run_module(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "chalicelib")}
    return subprocess.run(
        [sys.executable, "-m", "pcf_cli", *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )


def test_python_m_pcf_cli_runs_a_definition_on_the_local_cloud() -> None:
    done = run_module("--target", "local", "run", "-f", "examples/single_instance.json")  # never a real account

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split()[:2] == ["ec2_instance:web", "running"]
    assert done.stderr.splitlines()[0].startswith("target: local (requested): in-process local cloud")
    assert done.stderr.splitlines()[-1] == "local cloud: resources exist only for this command; see README"


def test_python_m_pcf_cli_reports_bad_input_in_one_line() -> None:
    done = run_module("validate", "-f", "examples/missing.yml")

    assert done.returncode == 2
    assert done.stderr == "pcf: error: file: examples/missing.yml does not exist\n"
    assert done.stdout == ""


def test_plan_observe_does_not_attach_volumes(pcf_cli: CliRunner, cloud: LocalCloud) -> None:
    unattached = example_cluster()
    members(unattached)["volume"]["aws_resource"]["custom_config"]["attach"] = False
    pcf_cli.write("unattached.yml", unattached)
    pcf_cli.write("pcf.yml", example_cluster())
    assert pcf_cli("run", "-f", "unattached.yml", "--quiet", cloud=cloud).code == 0

    result = pcf_cli("plan", "--state", "running", "--observe", cloud=cloud)

    assert result.code == 0, result.err
    volumes = cloud.client("ec2").describe_volumes(Filters=[{"Name": "tag-key", "Values": ["PCFName"]}])["Volumes"]
    assert len(volumes) == 3
    assert all(v["State"] == "available" and not v["Attachments"] for v in volumes)
    assert result.out.count("done (running as desired)") == 7


def test_an_original_style_definition_runs_through_the_state_machine(pcf_cli: CliRunner, cloud: LocalCloud) -> None:
    ami = single()["aws_resource"]["ImageId"]
    pcf_cli.write("pcf.json", f"""{{
  // written for the original PCF: JSON with comments, instance tags in aws_resource
  "pcf_name": "legacy", "flavor": "ec2_instance",
  "aws_resource": {{"ImageId": "{ami}", "InstanceType": "t3.micro",  # a comment
                   "tags": {{"Test": "Tag"}}, "custom_config": {{"instance_name": "pcf-legacy"}}}}
}}""")

    ran = pcf_cli("run", cloud=cloud)
    [reservation] = cloud.client("ec2").describe_instances()["Reservations"]
    terminated = pcf_cli("terminate", cloud=cloud)

    assert ran.code == 0, ran.err
    assert {"Key": "Test", "Value": "Tag"} in reservation["Instances"][0]["Tags"]
    assert terminated.code == 0, terminated.err
    assert instances(cloud) == {"pcf-legacy": "terminated"}
