"""Global secondary indexes added and dropped by UpdateTable, with raw boto3 calls against the local cloud (moto
alone takes any number of changes at once and makes a new index readable at once)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.state import DEFAULT_INDEX_BACKFILL_SECONDS

TABLE = "indexed"
BACKFILL = 120.0
LIMIT = "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"
ATTRIBUTES = [{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "a", "b", "c")]


def index(name: str, key: str) -> dict[str, Any]:
    return {"IndexName": name, "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}


def create(name: str, key: str) -> dict[str, Any]:
    return {"Create": index(name, key)}


def delete(name: str) -> dict[str, Any]:
    return {"Delete": {"IndexName": name}}


def make_table(client: Any) -> None:
    client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=ATTRIBUTES[:2],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        GlobalSecondaryIndexes=[index("by_a", "a")])


@pytest.fixture
def cloud(vclock: VirtualClock) -> Iterator[LocalCloud]:
    with LocalCloud(clock=vclock, index_backfill_seconds=BACKFILL) as local:
        yield local


@pytest.fixture
def dynamodb(cloud: LocalCloud) -> Any:
    client = cloud.client("dynamodb")
    make_table(client)
    return client


def update(client: Any, *changes: dict[str, Any]) -> dict[str, Any]:
    answer = client.update_table(TableName=TABLE, AttributeDefinitions=ATTRIBUTES,
                                 GlobalSecondaryIndexUpdates=list(changes))
    return answer["TableDescription"]


def indexes(description: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {gsi["IndexName"]: gsi for gsi in description.get("GlobalSecondaryIndexes", [])}


def described(client: Any) -> dict[str, dict[str, Any]]:
    return indexes(client.describe_table(TableName=TABLE)["Table"])


def query(client: Any, name: str, key: str, value: str) -> list[str]:
    answer = client.query(TableName=TABLE, IndexName=name, KeyConditionExpression="#k = :v",
                          ExpressionAttributeNames={"#k": key}, ExpressionAttributeValues={":v": {"S": value}})
    return sorted(item["pk"]["S"] for item in answer["Items"])


def refusal(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = error.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_an_index_made_by_create_table_is_active_and_shows_no_backfill(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "1"}, "a": {"S": "x"}})

    assert described(dynamodb)["by_a"]["IndexStatus"] == "ACTIVE"
    assert "Backfilling" not in described(dynamodb)["by_a"]
    assert query(dynamodb, "by_a", "a", "x") == ["1"]


def test_an_added_index_refuses_reads_while_it_backfills_on_the_cloud_clock(
    dynamodb: Any, vclock: VirtualClock
) -> None:
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "before"}, "b": {"S": "x"}})

    answer = indexes(update(dynamodb, create("by_b", "b")))["by_b"]
    assert (answer["IndexStatus"], answer["Backfilling"]) == ("CREATING", True)
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "during"}, "b": {"S": "x"}})
    vclock.advance(BACKFILL - 1)
    assert (described(dynamodb)["by_b"]["IndexStatus"], described(dynamodb)["by_b"]["Backfilling"]) == (
        "CREATING", True)
    with pytest.raises(ClientError) as refused:
        query(dynamodb, "by_b", "b", "x")
    assert refusal(refused) == ("ValidationException", "Cannot read from backfilling global secondary index", 400)
    with pytest.raises(ClientError) as scanned:
        dynamodb.scan(TableName=TABLE, IndexName="by_b")
    assert refusal(scanned)[1] == "Cannot read from backfilling global secondary index"
    assert query(dynamodb, "by_a", "a", "nothing") == []  # the other index still answers

    vclock.advance(1)
    assert (described(dynamodb)["by_b"]["IndexStatus"], described(dynamodb)["by_b"]["Backfilling"]) == (
        "ACTIVE", False)
    assert query(dynamodb, "by_b", "b", "x") == ["before", "during"]


def test_a_read_of_an_index_the_table_does_not_have_is_a_validation_error(dynamodb: Any) -> None:
    for read in (lambda: query(dynamodb, "by_z", "z", "x"), lambda: dynamodb.scan(TableName=TABLE, IndexName="by_z")):
        with pytest.raises(ClientError) as refused:
            read()
        assert refusal(refused) == ("ValidationException", "The table does not have the specified index: by_z", 400)


@pytest.mark.parametrize("changes", [
    (create("by_b", "b"), create("by_c", "c")),
    (create("by_b", "b"), delete("by_a")),
    (delete("by_a"), create("by_b", "b")),
])
def test_one_update_table_creates_or_deletes_one_index(dynamodb: Any, changes: tuple[dict[str, Any], ...]) -> None:
    with pytest.raises(ClientError) as refused:
        update(dynamodb, *changes)

    assert refusal(refused) == ("LimitExceededException", LIMIT, 400)
    assert list(described(dynamodb)) == ["by_a"]


def test_no_other_index_changes_while_one_is_being_created(dynamodb: Any, vclock: VirtualClock) -> None:
    update(dynamodb, create("by_b", "b"))
    for change in (create("by_c", "c"), delete("by_a")):
        with pytest.raises(ClientError) as refused:
            update(dynamodb, change)
        assert refusal(refused)[0] == "LimitExceededException"
    assert sorted(described(dynamodb)) == ["by_a", "by_b"]

    vclock.advance(BACKFILL)
    update(dynamodb, delete("by_a"))
    assert sorted(described(dynamodb)) == ["by_b"]


def test_an_index_may_be_deleted_while_it_backfills_and_created_again(dynamodb: Any, vclock: VirtualClock) -> None:
    update(dynamodb, create("by_b", "b"))
    vclock.advance(BACKFILL / 2)
    update(dynamodb, delete("by_b"))
    assert list(described(dynamodb)) == ["by_a"]

    update(dynamodb, create("by_b", "b"))  # a new build: a full backfill from now
    vclock.advance(BACKFILL / 2)
    assert described(dynamodb)["by_b"]["IndexStatus"] == "CREATING"
    vclock.advance(BACKFILL / 2)
    assert described(dynamodb)["by_b"]["IndexStatus"] == "ACTIVE"


def test_by_default_a_new_index_is_not_readable_at_once() -> None:
    with LocalCloud() as local:  # the real clock: the backfill lasts minutes
        client = local.client("dynamodb")
        make_table(client)
        update(client, create("by_b", "b"))
        with pytest.raises(ClientError) as refused:
            query(client, "by_b", "b", "x")

    assert local.index_backfill_seconds == DEFAULT_INDEX_BACKFILL_SECONDS >= 60
    assert refusal(refused)[0] == "ValidationException"
