"""A failure of every particle of a level still rolls back and names its causes: the level's Map results carry
only each particle's id and error name, never its cause, so they stay as small as a level that succeeds.

Scaled: Step Functions' 256 KiB state quota is lowered to 12 KiB for this test, and 30 particles fail with
AWS's own refusal (``UnauthorizedOperation``, about 330 characters). With causes in the results (as before) the
level's output would pass the quota and fail the execution with the uncatchable ``States.DataLimitExceeded``,
skipping the rollback; the same ratio holds for about 700 failures against the real quota."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pcf_control_plane import wiring
from pcf_control_plane.outcome import NAMED_FAILURES
from tests.support.definitions import anchored_workers
from tests.support.deployments import deployed

SCALED_QUOTA = 12 * 1024
WORKERS = 30
STEPS_ROLE = "pcf-serverless-dev-steps"


@pytest.fixture
def deployment(cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr("moto.stepfunctions.parser.quotas.MAX_STATE_SIZE_UTF8_BYTES", SCALED_QUOTA)
    yield from deployed(cloud, monkeypatch.setenv, "mass", rules_off=True)


def deny_run_instances(cloud: Any) -> None:
    """An explicit deny on the steps role, as a service control policy would impose it."""
    iam = cloud.client("iam")
    policy = iam.get_role_policy(RoleName=STEPS_ROLE, PolicyName="pcf-local")["PolicyDocument"]
    policy["Statement"].append({"Sid": "NoLaunch", "Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*"})
    iam.put_role_policy(RoleName=STEPS_ROLE, PolicyName="pcf-local", PolicyDocument=json.dumps(policy))


def definition(ami_id: str) -> dict[str, Any]:
    return anchored_workers("mass", ami_id, WORKERS)


def test_a_level_that_fails_entirely_rolls_back_and_names_its_causes(deployment: Any, cloud: Any,
                                                                      ami_id: str) -> None:
    deny_run_instances(cloud)

    result = deployment.run_execution("apply", {"definition": definition(ami_id), "desired_state": "running",
                                                "wait_seconds": 0, "max_polls": 20, "rollback": True},
                                      name="mass-up", timeout_s=120)

    assert result.status == "FAILED"
    assert result.output["error"] == "TransitionError"
    cause = result.output["cause"]
    assert f"{WORKERS} of {WORKERS} particle(s) failed" in cause
    assert "UnauthorizedOperation: User: arn:aws:sts::" in cause, "the causes are read back from the history"
    assert f"and {WORKERS - NAMED_FAILURES} more" in cause
    assert not [e for e in result.history if "DataLimitExceeded" in json.dumps(e, default=str)]
    store = wiring.control_plane().store
    anchor = store.get_spec("ebs_volume:anchor")
    assert anchor is not None and anchor.desired_state == "terminated", "the rollback ran"
    assert [v["State"] for v in cloud.client("ec2").describe_volumes()["Volumes"]] in ([], ["deleting"], ["deleted"])
    recorded = [item for item in store.list_history("ec2_instance:worker-07") if item.kind == "error"]
    assert len(recorded[0].detail["message"]) > 300, "the whole cause is kept in the history"
    exits = [e for e in result.history if e["type"] == "MapStateExited"
             and e["stateExitedEventDetails"]["name"] == "Pages"]
    assert exits, "the level's Map state exited: its output was within the quota"
    assert all(len(e["stateExitedEventDetails"]["output"].encode()) < SCALED_QUOTA for e in exits)
