"""Nothing lost when an asynchronous invocation fails: the deployed ``on_ec2_event`` is retried twice, then its
event lands in the stage's failed-events queue as Lambda's documented invocation record, sent with the function's
own role (which the local cloud holds to its policy)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from deploy.lambda_policies import failed_events_queue_name
from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.replay import replay
from pcf_cli.stages import read_stage
from tests.support.deployments import deployed

STAGE = "dev"
EVENTS_ROLE = f"pcf-serverless-{STAGE}-events"


@pytest.fixture
def deployment(cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from deployed(cloud, monkeypatch.setenv, "failed")


def queue_url(cloud: Any) -> str:
    return str(cloud.client("sqs").get_queue_url(QueueName=failed_events_queue_name(STAGE))["QueueUrl"])


def records(cloud: Any) -> list[dict[str, Any]]:
    """Every record in the failed-events queue (received once, then visible again)."""
    sqs, url = cloud.client("sqs"), queue_url(cloud)
    received: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages"):
        received += messages
    for message in received:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return [json.loads(message["Body"]) for message in received]


def break_the_table(cloud: Any) -> None:
    """The state table gone: every event the handler reads fails with ResourceNotFoundException."""
    cloud.client("dynamodb").delete_table(TableName="pcf-failed-test")


def run_instance(cloud: Any) -> str:
    """An instance launched then stopped: two events the rule delivers (``running``, ``stopped``; the transitional
    ``pending`` and ``stopping`` are filtered out by the rule)."""
    ec2 = cloud.client("ec2")
    instance_id = str(ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"])
    ec2.stop_instances(InstanceIds=[instance_id])
    return instance_id


def test_the_event_functions_are_configured_as_the_template_says(cloud: Any, deployment: Any) -> None:
    config = cloud.client("lambda").get_function_event_invoke_config(
        FunctionName=deployment.function_names["on_ec2_event"])
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == 3600
    assert config["DestinationConfig"]["OnFailure"]["Destination"].endswith(f":{failed_events_queue_name(STAGE)}")


def test_a_failed_event_is_retried_then_kept_as_lambdas_record(cloud: Any, deployment: Any) -> None:
    break_the_table(cloud)
    instance_id = run_instance(cloud)  # running then stopped: two events, both fail

    kept = records(cloud)
    assert [record["requestPayload"]["detail"] for record in kept] == [
        {"instance-id": instance_id, "state": "running"}, {"instance-id": instance_id, "state": "stopped"}]
    record = kept[0]
    assert record["version"] == "1.0"
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == f"{deployment.function_arns['on_ec2_event']}:$LATEST"
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                         "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "StoreError"
    assert "ResourceNotFoundException" in record["responsePayload"]["errorMessage"]
    assert record["timestamp"].endswith("Z")
    failures = cloud.delivery_failures
    assert len(failures) == 2
    assert all("after 3 attempts; record sent to arn:aws:sqs:" in failure.error for failure in failures)


def test_a_role_that_may_not_send_to_the_queue_loses_the_event_as_on_aws(cloud: Any, deployment: Any) -> None:
    iam = cloud.client("iam")
    policy = iam.get_role_policy(RoleName=EVENTS_ROLE, PolicyName="pcf-local")["PolicyDocument"]
    policy["Statement"] = [st for st in policy["Statement"] if st.get("Sid") != "FailedEvents"]
    iam.put_role_policy(RoleName=EVENTS_ROLE, PolicyName="pcf-local", PolicyDocument=json.dumps(policy))
    break_the_table(cloud)

    run_instance(cloud)

    assert records(cloud) == []
    errors = [failure.error for failure in cloud.delivery_failures]
    assert len(errors) == 2
    assert all("AccessDenied" in error and "sqs:SendMessage" in error for error in errors), errors
    assert cloud.patches.iam.refusals, "the refusal is counted"


# -- pcf replay ----------------------------------------------------------------------------------------------


def restore_the_table(cloud: Any) -> None:
    from pcf_control_plane.store.table import create_table

    create_table(cloud.client("dynamodb"), "pcf-failed-test", sleep=cloud.clock.sleep)


def test_replay_lists_without_changing_then_replays_and_deletes(cloud: Any, deployment: Any) -> None:
    break_the_table(cloud)
    run_instance(cloud)
    stage = read_stage(STAGE)
    sqs, lambda_client = cloud.client("sqs"), cloud.client("lambda")

    listed = replay(sqs, lambda_client, stage, dry_run=True, limit=100)
    assert [(item.function, item.outcome, item.ok) for item in listed] == [
        (deployment.function_names["on_ec2_event"], "would replay", True)] * 2
    assert "StoreError" in listed[0].failure
    assert listed[0].event.startswith("EC2 Instance State-change Notification ")
    assert len(records(cloud)) == 2, "a dry run deletes nothing"

    again = replay(sqs, lambda_client, stage, dry_run=False, limit=1)
    assert [(item.ok, item.outcome.split(":")[0]) for item in again] == [(False, "failed again, kept")]
    assert len(records(cloud)) == 2, "still failing: kept"

    restore_the_table(cloud)
    done = replay(sqs, lambda_client, stage, dry_run=False, limit=100)
    assert [(item.ok, item.outcome) for item in done] == [(True, "replayed, deleted")] * 2
    assert records(cloud) == []


def test_replay_leaves_what_is_not_this_stages(cloud: Any, deployment: Any) -> None:
    sqs = cloud.client("sqs")
    other = {"version": "1.0", "timestamp": "2026-12-03T00:00:00.000Z", "requestPayload": {"id": "e"},
             "requestContext": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:someone-else:$LATEST",
                                "condition": "RetriesExhausted", "approximateInvokeCount": 3}}
    sqs.send_message(QueueUrl=queue_url(cloud), MessageBody=json.dumps(other))
    sqs.send_message(QueueUrl=queue_url(cloud), MessageBody="not a record")  # records() parses: checked by count

    done = replay(sqs, cloud.client("lambda"), read_stage(STAGE), dry_run=False, limit=100)

    assert sorted(item.outcome for item in done) == ["left: not a Lambda invocation record",
                                                     "left: not a function of stage dev"]
    left = sqs.receive_message(QueueUrl=queue_url(cloud), MaxNumberOfMessages=10).get("Messages", [])
    assert len(left) == 2, "both stay queued, visible again"


def test_replay_without_a_deployed_queue_names_the_stage(cloud: Any) -> None:
    with pytest.raises(DefinitionError, match="--stage: no queue pcf-serverless-dev-failed-events"):
        replay(cloud.client("sqs"), cloud.client("lambda"), read_stage(STAGE), dry_run=True, limit=1)
