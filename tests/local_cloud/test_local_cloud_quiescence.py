"""Waiting until a local cloud is quiet: no event delivery in flight, no execution running."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.deployment import EMPTY_ZIP
from pcf_local_cloud.quiescence import NotQuiet, wait_until_quiet

ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def blocked_function(cloud: LocalCloud, release: threading.Event, entered: threading.Event) -> str:
    iam = cloud.client("iam")
    role = iam.create_role(RoleName="quiet", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    iam.put_role_policy(RoleName="quiet", PolicyName="all", PolicyDocument=ALLOW_ALL)
    arn = cloud.client("lambda").create_function(FunctionName="blocked", Runtime="python3.11", Role=role,
                                                 Handler="app.h", Code={"ZipFile": EMPTY_ZIP})["FunctionArn"]

    def handler(event: Any, context: Any) -> dict[str, Any]:
        entered.set()
        assert release.wait(timeout=30)
        return {}

    cloud.register_handler("blocked", handler)
    assert arn
    return role


def releasing_once_it_saw_the_execution(release: threading.Event) -> Any:
    """A clock for ``wait_until_quiet`` that stands still and lets the handler go on its third reading: the one
    taken after the running execution was listed, before waiting for its end."""
    readings = iter(range(1_000_000))

    def now() -> float:
        if next(readings) == 2:
            release.set()
        return 0.0

    return now


def test_a_running_execution_keeps_the_cloud_busy_until_it_ends(instant_lc: LocalCloud) -> None:
    release, entered = threading.Event(), threading.Event()
    role = blocked_function(instant_lc, release, entered)
    sfn = instant_lc.client("stepfunctions")
    definition = {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:blocked", "End": True}}}
    machine = sfn.create_state_machine(name="m", roleArn=role, definition=json.dumps(definition))["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="one")["executionArn"]
    assert entered.wait(timeout=30)

    with pytest.raises(NotQuiet, match="executions still running"):
        wait_until_quiet(instant_lc.patches, sfn, 0)
    quiet = wait_until_quiet(instant_lc.patches, sfn, 30, now=releasing_once_it_saw_the_execution(release))

    assert quiet.executions_waited_for == 1
    assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"
    assert wait_until_quiet(instant_lc.patches, sfn, 0).executions_waited_for == 0
