"""EventBridge targets: Step Functions executions, moto's own SQS delivery, and the input a target gets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from tests.local_cloud.fixtures.event_recorder import (
    EC2_STATE_CHANGE,
    EPOCH,
    create_function,
    function_arn,
    recording_function,
    rule_to,
    run_instance,
)

PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


@pytest.fixture
def lc(clock: VirtualClock) -> Iterator[LocalCloud]:
    with LocalCloud(clock=clock, epoch=EPOCH) as cloud:
        yield cloud


def role_arn(cloud: LocalCloud) -> str:
    create_function(cloud, "unused")  # makes the shared test role
    return str(cloud.client("iam").get_role(RoleName="events-test")["Role"]["Arn"])


def test_a_state_machine_target_starts_an_execution_with_the_event(lc: LocalCloud) -> None:
    sfn = lc.client("stepfunctions")
    machine = sfn.create_state_machine(name="on-stop", definition=PASS_MACHINE, roleArn=role_arn(lc))
    machine_arn = machine["stateMachineArn"]
    rule_to(lc, "to-sfn", machine_arn, pattern={**EC2_STATE_CHANGE, "detail": {"state": ["stopped"]}})
    instance_id = run_instance(lc)
    assert sfn.list_executions(stateMachineArn=machine_arn)["executions"] == []
    lc.client("ec2").stop_instances(InstanceIds=[instance_id])
    [execution] = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
    started = sfn.describe_execution(executionArn=execution["executionArn"])
    event = json.loads(started["input"])
    assert event["detail"] == {"instance-id": instance_id, "state": "stopped"}
    assert event["detail-type"] == "EC2 Instance State-change Notification"
    [delivery] = lc.deliveries
    assert delivery.ok and delivery.result == execution["executionArn"]
    assert execution["name"] != "None" and len(execution["name"]) == 36  # a fresh uuid


def test_a_missing_state_machine_is_a_failed_delivery(lc: LocalCloud) -> None:
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:nowhere"
    rule_to(lc, "to-nowhere", missing, pattern=EC2_STATE_CHANGE)
    run_instance(lc)
    assert [f.target_arn for f in lc.delivery_failures] == [missing, missing]  # pending, running


def test_sqs_targets_still_get_motos_message(lc: LocalCloud) -> None:
    sqs = lc.client("sqs")
    queue_url = sqs.create_queue(QueueName="ec2-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_to(lc, "to-sqs", queue_arn, pattern={**EC2_STATE_CHANGE, "detail": {"state": ["running"]}})
    instance_id = run_instance(lc)
    [message] = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(message["Body"])
    assert body["detail"] == {"instance-id": instance_id, "state": "running"}
    assert body["time"] == "2026-11-22T00:00:00Z"
    assert body["source"] == "aws.ec2"
    assert [d.ok for d in lc.deliveries] == [True]


def test_put_events_from_a_client_reaches_lambda_targets(lc: LocalCloud) -> None:
    recorder = recording_function(lc, "custom")
    rule_to(lc, "custom-rule", function_arn(lc, "custom"), pattern={"source": ["my.app"]})
    answer = lc.client("events").put_events(
        Entries=[{"Source": "my.app", "DetailType": "Thing", "Detail": json.dumps({"n": 1})}]
    )
    assert answer["FailedEntryCount"] == 0
    [event] = recorder.events
    assert event["detail"] == {"n": 1}
    assert event["id"] == answer["Entries"][0]["EventId"]
    assert isinstance(event["time"], str) and event["time"].endswith("Z")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"Input": json.dumps({"constant": True})}, lambda iid: {"constant": True}),
        ({"InputPath": "$.detail"}, lambda iid: {"instance-id": iid, "state": "pending"}),
        (
            {
                "InputTransformer": {
                    "InputPathsMap": {"id": "$.detail.instance-id", "state": "$.detail.state"},
                    "InputTemplate": '{"instance": "<id>", "now": "<state>"}',
                }
            },
            lambda iid: {"instance": iid, "now": "pending"},
        ),
    ],
    ids=["Input", "InputPath", "InputTransformer"],
)
def test_the_target_input_is_chosen_as_configured(lc: LocalCloud, target: dict[str, Any], expected: Any) -> None:
    recorder = recording_function(lc, "shaped")
    rule_to(
        lc,
        "shaped-rule",
        function_arn(lc, "shaped"),
        pattern={**EC2_STATE_CHANGE, "detail": {"state": ["pending"]}},
        **target,
    )
    instance_id = run_instance(lc)
    assert recorder.events == [expected(instance_id)]
