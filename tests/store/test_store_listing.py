"""Listing a deployment and reading many particles on DynamoDB: paging, shards, batch chunks and retries."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pcf_control_plane.store import DynamoDBStateStore, StoreError
from pcf_control_plane.store.dynamodb_io import BATCH_GET_MAX_KEYS
from tests.store.conftest import TABLE
from tests.store.store_support import CallCounter, FakeClock, populate


def test_small_query_pages_split_particles_without_losing_any(
    dynamodb_client: Any, fake_clock: FakeClock
) -> None:
    store = DynamoDBStateStore(dynamodb_client, TABLE, clock=fake_clock, query_limit=7)  # odd: pairs split
    ids = populate(store, 60)
    with CallCounter(dynamodb_client) as counter:
        listed = [record for batch in store.list_particles("demo", page_size=8) for record in batch]
    assert [record.pcf_id for record in listed] == ids
    assert all(record.spec and record.observation for record in listed)
    assert counter.calls["Query"] == math.ceil(2 * 60 / 7)


@pytest.mark.parametrize("shards", [1, 4])
def test_sharded_listing_returns_every_particle(dynamodb_client: Any, fake_clock: FakeClock, shards: int) -> None:
    store = DynamoDBStateStore(dynamodb_client, TABLE, clock=fake_clock, shards=shards)
    ids = populate(store, 200)
    with CallCounter(dynamodb_client) as counter:
        listed = [record for batch in store.list_particles("demo", page_size=64) for record in batch]
    assert sorted(record.pcf_id for record in listed) == ids
    assert all(record.observation is not None for record in listed)
    assert counter.calls["Query"] == shards
    keys = {params["ExpressionAttributeValues"][":dk"]["S"] for _, params in counter.params}
    assert keys == {f"demo#{shard}" for shard in range(shards)}


def test_get_many_chunks_batch_gets_by_100_keys(dynamodb_client: Any, dynamo_store: DynamoDBStateStore) -> None:
    ids = populate(dynamo_store, 260)
    with CallCounter(dynamodb_client) as counter:
        found = dynamo_store.get_many(ids)
    assert list(found) == ids
    assert all(record.spec and record.observation for record in found.values())
    sizes = [len(params["RequestItems"][TABLE]["Keys"]) for _, params in counter.params]
    assert set(counter.calls) == {"BatchGetItem"}
    assert sizes == [BATCH_GET_MAX_KEYS] * 5 + [20]  # a spec and an observation key per particle
    assert all(params["RequestItems"][TABLE]["ConsistentRead"] for _, params in counter.params)


class FlakyBatchClient:
    """A client whose BatchGetItem leaves half the keys unprocessed, ``failures`` times."""

    def __init__(self, client: Any, failures: int) -> None:
        self._client = client
        self.failures = failures
        self.batch_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.batch_calls += 1
        if self.failures <= 0:
            return self._client.batch_get_item(RequestItems=RequestItems)
        self.failures -= 1
        request = RequestItems[TABLE]
        half = len(request["Keys"]) // 2
        answer = self._client.batch_get_item(RequestItems={TABLE: {**request, "Keys": request["Keys"][:half]}})
        answer["UnprocessedKeys"] = {TABLE: {**request, "Keys": request["Keys"][half:]}}
        return answer


def test_unprocessed_keys_are_retried_with_backoff(
    dynamodb_client: Any, dynamo_store: DynamoDBStateStore, fake_clock: FakeClock
) -> None:
    ids = populate(dynamo_store, 40)
    flaky = FlakyBatchClient(dynamodb_client, failures=3)
    store = DynamoDBStateStore(flaky, TABLE, clock=fake_clock, sleep=fake_clock.sleep)
    found = store.get_many(ids)
    assert list(found) == ids
    assert flaky.batch_calls == 4
    assert fake_clock.slept == [0.05, 0.1, 0.2]


def test_keys_left_unprocessed_too_often_raise_store_error(
    dynamodb_client: Any, dynamo_store: DynamoDBStateStore, fake_clock: FakeClock
) -> None:
    ids = populate(dynamo_store, 4)
    flaky = FlakyBatchClient(dynamodb_client, failures=100)
    store = DynamoDBStateStore(flaky, TABLE, clock=fake_clock, sleep=fake_clock.sleep, max_attempts=3)
    with pytest.raises(StoreError, match="unprocessed"):
        store.get_many(ids)
