"""Separate ``pcf`` commands share one cloud through the local server (``pcf local start``)."""

from __future__ import annotations

import json

from tests.cli.cli_support import CliRunner


def test_run_status_history_and_terminate_are_separate_commands_on_one_cloud(
    on_server: CliRunner, known_ami_id: str
) -> None:
    on_server.write("pcf.json", json.dumps({"pcf_name": "shared", "flavor": "ec2_instance", "aws_resource": {
        "ImageId": known_ami_id, "InstanceType": "t3.micro", "custom_config": {"instance_name": "shared"}}}))

    run = on_server("run", "--target", "local")
    assert run.code == 0, run.err
    assert "local server" in run.err

    status = on_server("status", "--target", "local")
    assert status.code == 0, status.err
    [row] = [line for line in status.out.splitlines() if "ec2_instance:shared" in line]
    assert "running" in row and "i-" in row

    history = on_server("history", "ec2_instance:shared", "--target", "local")
    assert history.code == 0, history.err
    assert "transition" in history.out and "start" in history.out

    gone = on_server("terminate", "--target", "local")
    assert gone.code == 0, gone.err
    status = on_server("status", "--target", "local")
    [row] = [line for line in status.out.splitlines() if "ec2_instance:shared" in line]
    assert "terminated" in row


def test_the_server_fixes_the_pending_phase(on_server: CliRunner) -> None:
    result = on_server("status", "--target", "local", "--pending-seconds", "3")
    assert result.code == 2
    assert "--pending-seconds" in result.err and "pcf local start" in result.err
