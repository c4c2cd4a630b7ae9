"""The control plane deployed into a test's local cloud, and the EC2 events tests deliver to it by hand."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from pcf_control_plane import wiring
from pcf_local_cloud.control_plane import deploy_control_plane
from pcf_local_cloud.ec2_events import ec2_arn
from pcf_local_cloud.event_bus import aws_event, envelope

ACCOUNT = "123456789012"
REGION = "us-east-1"


def deployed(cloud: Any, setenv: Callable[[str, str], None], name: str, *, max_polls: int = 30,
             rules_off: bool = False) -> Iterator[Any]:
    """Deploy the control plane (table ``pcf-<name>-test``, deployment ``name``, heals that poll without
    waiting); with ``rules_off`` the EventBridge rules are disabled, so the test delivers events and runs the
    schedule itself. Yields the deployment and resets the wiring after."""
    deployment = deploy_control_plane(cloud, environment={
        "PCF_TABLE_NAME": f"pcf-{name}-test", "PCF_DEPLOYMENT": name, "PCF_HEAL_WAIT_SECONDS": "0",
        "PCF_HEAL_MAX_POLLS": str(max_polls)}, setenv=setenv)
    if rules_off:
        events = cloud.client("events")
        for rule in events.list_rules()["Rules"]:
            events.disable_rule(Name=rule["Name"])
    try:
        yield deployment
    finally:
        wiring.reset()


def instance_event(instance_id: str, state: str, *, seconds_ahead: float = 60) -> dict[str, Any]:
    """An EC2 instance state-change event as AWS sends it, ``seconds_ahead`` of now (newer than any
    observation the test made)."""
    return aws_event(envelope(account=ACCOUNT, region=REGION, source="aws.ec2",
                              detail_type="EC2 Instance State-change Notification",
                              detail={"instance-id": instance_id, "state": state},
                              resources=[ec2_arn(REGION, ACCOUNT, f"instance/{instance_id}")],
                              time=time.time() + seconds_ahead))


def invoke_function(deployment: Any, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Invoke the deployed function ``name`` (as the app names it, e.g. ``on_ec2_event``) with ``payload`` and
    return what it returned; a function error fails the test with the error payload."""
    response = deployment.cloud.client("lambda").invoke(FunctionName=deployment.function_names[name],
                                                         Payload=json.dumps(payload).encode())
    result = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, f"{name} failed ({response['FunctionError']}): {result}"
    return result


def reconcile_run(deployment: Any, *, act: bool = True) -> dict[str, Any]:
    """Run the schedule's ``reconcile`` function as EventBridge would (a fresh event), wait for the ``reconcile``
    execution it starts to succeed, and return the run's report (``ReconcileReport``) read from the store."""
    from pcf_control_plane.aws_events import reconcile_request
    from tests.support.executions import finished

    started = invoke_function(deployment, "reconcile", reconcile_request(ACCOUNT, REGION, act=act))
    assert started["status"] == "started", started
    sfn = deployment.cloud.client("stepfunctions")
    status = finished(sfn, started["execution"], attempts=3000)
    assert status == "SUCCEEDED", sfn.describe_execution(executionArn=started["execution"])
    return wiring.reconciler().report(started["execution"]).model_dump(mode="json")
