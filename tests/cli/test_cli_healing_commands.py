"""``pcf drift``, ``pcf reconcile`` and ``pcf heal`` against a real local server (``pcf local start``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pcf_local_cloud.server_client import ServerInfo, find_server, settle
from tests.cli.cli_support import CliRunner

PCF_ID = "ec2_instance:lonely"


def settled_state(info: ServerInfo, ec2: Any, instance_id: str) -> str:
    """The instance's state once the server is quiet: transitions due settled, events delivered, executions ended."""
    settle(info)
    return str(ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"])


def test_drift_reconcile_and_heal_of_a_particle_that_does_not_heal_itself(
    on_server: CliRunner, server_dir: Path, known_ami_id: str
) -> None:
    on_server.write("pcf.json", json.dumps({"pcf_name": "lonely", "flavor": "ec2_instance", "heal": False,
                                            "aws_resource": {"ImageId": known_ami_id, "InstanceType": "t3.micro",
                                                             "custom_config": {"instance_name": "lonely"}}}))
    assert on_server("run", "--target", "local").code == 0
    clean = on_server("drift", "--target", "local")
    assert clean.code == 0, clean.err
    assert "no drift" in clean.out and "dry run" in clean.out

    info = find_server(server_dir)
    assert info is not None
    ec2 = info.client_factory().client("ec2")
    [reservation] = [r for r in ec2.describe_instances()["Reservations"]
                     if {"Key": "PCFName", "Value": "lonely"} in r["Instances"][0].get("Tags", [])]
    instance_id = reservation["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[instance_id])
    assert settled_state(info, ec2, instance_id) == "stopped"

    drifted = on_server("drift", "--target", "local")
    assert drifted.code == 3, drifted.err
    [row] = [line for line in drifted.out.splitlines() if line.startswith(PCF_ID)]
    assert "stopped -> running" in row and "start" in row
    assert "1 drifted; dry run, nothing recorded or started" in drifted.out
    history = on_server("history", PCF_ID, "--target", "local")
    assert "drift" not in history.out, "a dry run records nothing"

    reconciled = on_server("reconcile", "--target", "local")
    assert reconciled.code == 0, reconciled.err
    [row] = [line for line in reconciled.out.splitlines() if line.startswith(PCF_ID)]
    assert "stopped -> running" in row
    assert "heal-" not in row, "heal: false: reported, never reverted"
    assert "drift" in on_server("history", PCF_ID, "--target", "local").out
    assert settled_state(info, ec2, instance_id) == "stopped", "heal: false: nothing started it"

    healed = on_server("heal", PCF_ID, "--target", "local")
    assert healed.code == 0, healed.err
    assert "execution: heal-manual-" in healed.err
    assert re.search(rf"^\[\s+[\d.]+s\] {PCF_ID}\s+start: stopped -> running", healed.err, re.M), healed.err
    [row] = [line for line in healed.out.splitlines() if line.startswith(PCF_ID)]
    assert row.split()[1:4] == ["running", instance_id, "start"]
    assert settled_state(info, ec2, instance_id) == "running"

    gone = on_server("terminate", "--target", "local")
    assert gone.code == 0, gone.err


def test_heal_of_an_unknown_particle_starts_nothing(on_server: CliRunner) -> None:
    result = on_server("heal", "ec2_instance:nobody", "--target", "local")

    assert result.code == 2
    assert "PCF_ID: no particle 'ec2_instance:nobody' is stored" in result.err
    assert "execution:" not in result.err


def test_drift_reconcile_and_heal_need_a_target_that_keeps_state(
    pcf_cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PCF_LOCAL_DIR", str(tmp_path))  # no server there
    for line in (["drift"], ["reconcile"], ["heal", "ec2_instance:a"]):
        result = pcf_cli(*line, "--target", "local")
        assert result.code == 2, line
        assert "--target" in result.err and "pcf local start" in result.err, line
        assert "Traceback" not in result.err


def test_heal_refuses_a_bad_wait(on_server: CliRunner) -> None:
    result = on_server("heal", PCF_ID, "--target", "local", "--wait-seconds", "99999")

    assert result.code == 2
    assert "--wait-seconds" in result.err


def test_the_servers_healing_executions_poll_as_the_local_cloud_does_not_as_aws(
    on_server: CliRunner, server_dir: Path, known_ami_id: str
) -> None:
    """docs/cli.md: healing executions on a local cloud wait 1 s between polls, 0 without pending phases (the
    module's server has none); 5 s is AWS's default."""
    on_server.write("pcf.json", json.dumps({"pcf_name": "healed", "flavor": "ec2_instance",
                                            "aws_resource": {"ImageId": known_ami_id, "InstanceType": "t3.micro",
                                                             "custom_config": {"instance_name": "healed"}}}))
    assert on_server("run", "--target", "local").code == 0
    info = find_server(server_dir)
    assert info is not None
    ec2 = info.client_factory().client("ec2")
    [reservation] = [r for r in ec2.describe_instances()["Reservations"]
                     if {"Key": "PCFName", "Value": "healed"} in r["Instances"][0].get("Tags", [])]
    instance_id = reservation["Instances"][0]["InstanceId"]
    [stopping] = ec2.stop_instances(InstanceIds=[instance_id])["StoppingInstances"]
    assert (stopping["PreviousState"]["Name"], stopping["CurrentState"]["Name"]) == ("running", "stopping")
    assert on_server("reconcile", "--target", "local").code == 0  # heals, if the stop's events did not already
    quiet = settle(info)  # every event the stop caused delivered, every execution it or reconcile started ended

    sfn = info.client_factory().client("stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=info.state_machine_arns["apply"])
    executions = [e for page in pages for e in page["executions"]]
    inputs = [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in executions]
    heals = [i for i in inputs if i.get("heal") == "ec2_instance:healed"]  # heal-<event> or drift-<reconcile run>
    assert heals and [i["wait_seconds"] for i in heals] == [0] * len(heals), (inputs, quiet)
    assert ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"][
        "Name"] == "running"


def test_a_local_clouds_healing_executions_wait_1s_with_pending_phases() -> None:
    from pcf_local_cloud.control_plane import local_heal_wait_seconds

    assert (local_heal_wait_seconds(2.0), local_heal_wait_seconds(0.0)) == (1, 0)


def test_replay_on_a_server_with_nothing_failed_replays_nothing(on_server: CliRunner) -> None:
    listed = on_server("replay", "--dry-run", "--target", "local")
    assert listed.code == 0, listed.err
    assert listed.out == ("pcf-serverless-dev-failed-events: 0 record(s), 0 listed; "
                          "dry run, nothing invoked or deleted\n")
    replayed = on_server("replay", "--target", "local")
    assert (replayed.code, replayed.out) == (0, "pcf-serverless-dev-failed-events: 0 record(s), 0 replayed\n")
