"""``ClientRequestToken`` on TransactWriteItems, with raw boto3 calls against the local cloud (moto alone runs
every request again)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.dynamodb.models import dynamodb_backends

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.dynamodb_idempotency import TOKEN_WINDOW_SECONDS

TABLE = "tokens"
KEY = {"pk": {"S": "counter"}}


@pytest.fixture
def dynamodb(instant_lc: LocalCloud) -> Iterator[Any]:
    client = instant_lc.client("dynamodb")
    _make_table(client)
    yield client


def _make_table(client: Any) -> None:
    client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])


def add(client: Any, amount: int = 1, **kwargs: Any) -> dict[str, Any]:
    """One transaction adding ``amount`` to the counter (and writing whatever ``extra`` items are given)."""
    extra = kwargs.pop("extra", [])
    items = [{"Update": {"TableName": TABLE, "Key": KEY, "UpdateExpression": "ADD #n :a",
                         "ExpressionAttributeNames": {"#n": "n"},
                         "ExpressionAttributeValues": {":a": {"N": str(amount)}}}}, *extra]
    return client.transact_write_items(TransactItems=items, **kwargs)


def counter(client: Any, region_table: str = TABLE) -> int:
    item = client.get_item(TableName=region_table, Key=KEY, ConsistentRead=True).get("Item")
    return int(item["n"]["N"]) if item else 0


def code_and_status(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = error.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_the_same_request_again_succeeds_with_no_second_effect(dynamodb: Any) -> None:
    add(dynamodb, ClientRequestToken="tok-1")
    again = add(dynamodb, ClientRequestToken="tok-1")

    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert counter(dynamodb) == 1


def test_the_same_token_with_another_request_is_a_mismatch(dynamodb: Any) -> None:
    add(dynamodb, 1, ClientRequestToken="tok-1")

    for other in ({"amount": 2}, {"ReturnConsumedCapacity": "TOTAL"}, {"ReturnItemCollectionMetrics": "SIZE"}):
        with pytest.raises(ClientError) as error:
            add(dynamodb, ClientRequestToken="tok-1", **other)
        assert code_and_status(error) == ("IdempotentParameterMismatchException", 400), other
    assert counter(dynamodb) == 1


def test_after_ten_minutes_on_the_cloud_clock_the_token_names_a_new_request(
    dynamodb: Any, vclock: VirtualClock
) -> None:
    add(dynamodb, 1, ClientRequestToken="tok-1")
    vclock.advance(TOKEN_WINDOW_SECONDS - 1)
    add(dynamodb, 1, ClientRequestToken="tok-1")  # a repeat: the window is not extended by it
    with pytest.raises(ClientError):
        add(dynamodb, 5, ClientRequestToken="tok-1")
    assert counter(dynamodb) == 1

    vclock.advance(1)
    add(dynamodb, 5, ClientRequestToken="tok-1")  # a new request, with other parameters
    add(dynamodb, 5, ClientRequestToken="tok-1")  # and its own repeat
    assert counter(dynamodb) == 6


def test_calls_without_a_token_get_one_from_botocore_and_are_each_new(dynamodb: Any) -> None:
    sent: list[str] = []

    def token_sent(request: Any, **_: Any) -> None:
        sent.append(json.loads(request.body)["ClientRequestToken"])

    dynamodb.meta.events.register("before-send.dynamodb.TransactWriteItems", token_sent)
    for _ in range(3):
        add(dynamodb)

    assert len(set(sent)) == 3
    assert counter(dynamodb) == 3


def test_a_failed_request_records_nothing_so_it_can_run_later(dynamodb: Any) -> None:
    guarded = {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": "gate"}},
                                  "ConditionExpression": "attribute_exists(pk)"}}
    with pytest.raises(ClientError) as error:
        add(dynamodb, ClientRequestToken="tok-1", extra=[guarded])
    assert code_and_status(error)[0] == "TransactionCanceledException"

    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "gate"}})
    add(dynamodb, ClientRequestToken="tok-1", extra=[guarded])
    add(dynamodb, ClientRequestToken="tok-1", extra=[guarded])
    assert counter(dynamodb) == 1


def test_a_repeat_reports_the_read_units_of_its_items_and_no_collection_metrics(dynamodb: Any) -> None:
    big = {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "big"}, "blob": {"S": "x" * 5000}}}}
    add(dynamodb, ClientRequestToken="tok-1", extra=[big], ReturnConsumedCapacity="INDEXES")

    again = add(dynamodb, ClientRequestToken="tok-1", extra=[big], ReturnConsumedCapacity="INDEXES")

    units = 2.0 + 4.0  # transactional reads: 2 units per started 4 KB of the counter (small) and of "big" (5 KB)
    assert again["ConsumedCapacity"] == [{"TableName": TABLE, "CapacityUnits": units, "ReadCapacityUnits": units,
                                          "Table": {"CapacityUnits": units, "ReadCapacityUnits": units}}]
    assert not again.get("ItemCollectionMetrics")
    assert counter(dynamodb) == 1


def test_tokens_are_per_region(instant_lc: LocalCloud, dynamodb: Any) -> None:
    west = instant_lc.client("dynamodb", region_name="us-west-2")
    _make_table(west)
    add(dynamodb, ClientRequestToken="tok-1")
    add(west, 7, ClientRequestToken="tok-1")
    assert (counter(dynamodb), counter(west)) == (1, 7)


def test_a_token_still_in_progress_is_refused_until_its_request_ends(
    instant_lc: LocalCloud, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = dynamodb_backends[instant_lc.account_id][instant_lc.region]
    entered, release = threading.Event(), threading.Event()
    original = backend.transact_write_items

    def held(transact_items: list[dict[str, Any]]) -> None:
        entered.set()
        assert release.wait(10)
        original(transact_items)

    monkeypatch.setattr(backend, "transact_write_items", held)
    no_retries = instant_lc.session.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 1}))
    first = threading.Thread(target=add, args=(dynamodb,), kwargs={"ClientRequestToken": "tok-1"})
    first.start()
    try:
        assert entered.wait(10)
        with pytest.raises(ClientError) as in_progress:
            add(no_retries, ClientRequestToken="tok-1")
        with pytest.raises(ClientError) as other:
            add(no_retries, 2, ClientRequestToken="tok-1")
    finally:
        release.set()
        first.join(10)

    assert code_and_status(in_progress) == ("TransactionInProgressException", 400)
    assert code_and_status(other) == ("IdempotentParameterMismatchException", 400)
    add(no_retries, ClientRequestToken="tok-1")  # the first one ended: a repeat
    assert counter(dynamodb) == 1
