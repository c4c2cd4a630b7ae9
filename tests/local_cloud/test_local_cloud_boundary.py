"""The local cloud's HTTP boundary: a request answered with a throttle is not carried out (AWS does not carry out
a request it throttles), and a request nothing in the local cloud answers is refused instead of leaving for the
network."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.moto_private import RequestLeftLocalCloud

NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})


def table(cloud: LocalCloud) -> Any:
    dynamodb = cloud.client("dynamodb")
    dynamodb.create_table(TableName="boundary", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    return dynamodb


def test_a_throttled_dynamodb_write_writes_nothing(instant_lc: LocalCloud) -> None:
    dynamodb = table(instant_lc)
    faults = instant_lc.inject_throttling(1.0, services=("dynamodb",))
    with pytest.raises(ClientError, match="ThrottlingException"):
        dynamodb.put_item(TableName="boundary", Item={"k": {"S": "x"}})
    assert faults.injected["dynamodb"] >= 1
    instant_lc.inject_throttling(0.0, services=("dynamodb",))
    assert "Item" not in dynamodb.get_item(TableName="boundary", Key={"k": {"S": "x"}})


def test_a_throttled_run_instances_launches_nothing(instant_lc: LocalCloud) -> None:
    ec2 = instant_lc.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instant_lc.inject_throttling(1.0, services=("ec2",))
    with pytest.raises(ClientError, match="RequestLimitExceeded"):
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    instant_lc.inject_throttling(0.0, services=("ec2",))
    assert ec2.describe_instances()["Reservations"] == []


def test_a_request_half_throttled_is_carried_out_once_by_its_retry(instant_lc: LocalCloud) -> None:
    dynamodb = table(instant_lc)
    faults = instant_lc.inject_throttling(0.5, services=("dynamodb",), seed=3)
    for _ in range(20):
        dynamodb.update_item(TableName="boundary", Key={"k": {"S": "counter"}},
                             UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}})
    throttled = faults.injected["dynamodb"]
    instant_lc.inject_throttling(0.0, services=("dynamodb",))
    item = dynamodb.get_item(TableName="boundary", Key={"k": {"S": "counter"}})["Item"]
    assert throttled > 0
    assert item["n"] == {"N": "20"}  # each throttled attempt added nothing


def test_a_request_nothing_answers_is_refused_not_sent(instant_lc: LocalCloud) -> None:
    stray = instant_lc.session.client("dynamodb", endpoint_url="https://pcf-boundary.invalid", config=NO_RETRY)
    with pytest.raises(RequestLeftLocalCloud, match=r"pcf-boundary\.invalid"):
        stray.list_tables()
