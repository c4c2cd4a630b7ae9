"""``pcf run`` superseded by a ``terminate`` of the same definition started meanwhile: the run exits non-zero
naming ``SupersededError``, instead of printing ``done`` over particles another execution terminated."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import pytest

from pcf_cli.local_control_plane import function_environment
from pcf_control_plane import wiring
from pcf_control_plane.store import DynamoDBStateStore, StoreError
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.control_plane import stage_environment
from tests.cli.cli_support import CliRunner
from tests.support.executions import finished
from tests.support.tags import named

TABLE = "pcf-serverless-dev-state"
A = "ec2_instance:a"


def instance(ami_id: str) -> dict[str, Any]:
    return {"pcf_name": "a", "flavor": "ec2_instance",
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                             "custom_config": {"instance_name": "cli-sup-a"}}}


def terminate_once_the_run_visited(cloud: LocalCloud, definition: dict[str, Any], started: list[str],
                                   ran: threading.Event) -> None:
    """Start a ``terminate`` execution of ``definition`` as soon as the run's first visit recorded ``A`` (it found
    its instance pending, and waits for the event that ends its launch: a visit takes the lease only to act), then
    let time pass on the cloud's clock until the run has ended (no event comes: its wait ends with its heartbeat,
    and its next visit finds its plan replaced)."""
    sfn = cloud.client("stepfunctions")
    for _ in range(3000):
        machines = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                    if m["name"].endswith("-apply")]
        try:
            seen = DynamoDBStateStore(cloud.client("dynamodb"), TABLE).get_observation(A) if machines else None
        except StoreError:  # the CLI is still creating the table
            seen = None
        if seen is not None:
            request = {"definition": definition, "desired_state": "terminated", "wait_seconds": 1, "max_polls": 60}
            started.append(sfn.start_execution(stateMachineArn=machines[0], name="terminate-meanwhile",
                                               input=json.dumps(request))["executionArn"])
            while not ran.wait(0.05):
                cloud.clock.advance(10)
            return
        time.sleep(0.01)


def test_a_superseded_run_exits_non_zero_and_says_why(
    sfn_cli: CliRunner, cloud: LocalCloud, ami_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**stage_environment(), **function_environment(0)}.items():
        monkeypatch.setenv(name, value)  # the terminate goes on after the CLI has put its environment back
    ec2 = cloud.client("ec2")
    held = ec2.run_instances(ImageId=ami_id, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": named("cli-sup-a", stage="dev")}])["Instances"][0]["InstanceId"]
    cloud.hold_pending(held)  # the run visits its particle again and again while its instance is pending
    sfn_cli.write("pcf.json", instance(ami_id))
    started: list[str] = []
    run_ended = threading.Event()
    meanwhile = threading.Thread(target=terminate_once_the_run_visited,
                                 args=(cloud, instance(ami_id), started, run_ended))
    meanwhile.start()

    ran = sfn_cli("run", "--wait-seconds", "1", "--timeout", "60", cloud=cloud)

    run_ended.set()
    meanwhile.join()
    cloud.release_pending(held)
    assert started and finished(cloud.client("stepfunctions"), started[0], attempts=1500) == "SUCCEEDED"
    assert ran.code == 1, ran.out + ran.err
    assert re.search(r"pcf: error: SupersededError: .*replaced it, planned by terminate-meanwhile", ran.err), ran.err
    assert not re.search(r"^done in ", ran.out, re.M), "the run does not say done"
    wiring.reset()
