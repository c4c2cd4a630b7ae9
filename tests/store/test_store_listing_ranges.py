"""A deployment's listing cut into ranges (keys only) and read range by range, and generic run items: the same on
both stores; on DynamoDB, keys-only Queries and bounded reads whatever the query page size or the shards."""

from __future__ import annotations

from typing import Any

import pytest

from pcf_control_plane.store import DynamoDBStateStore, ListingRange, StateStore
from tests.store.conftest import TABLE, StoreFactory
from tests.store.store_support import CallCounter, FakeClock, populate


def test_ranges_cover_every_particle_once_and_each_range_reads_just_its_own(store: StateStore) -> None:
    ids = populate(store, 23)
    ranges = list(store.listing_ranges("demo", page_size=5))

    assert [r.count for r in ranges] == [5, 5, 5, 5, 3]
    read = [[record.pcf_id for record in store.list_range("demo", r)] for r in ranges]
    assert [pcf_id for page in read for pcf_id in page] == ids
    assert all(page[0] == r.first and page[-1] == r.last for page, r in zip(read, ranges, strict=True))
    assert list(store.listing_ranges("nobody")) == []


def test_a_range_reads_nothing_of_another_deployment(store: StateStore) -> None:
    populate(store, 4)
    wide = ListingRange(shard=0, first="a", last="z", count=1)
    assert [r.pcf_id for r in store.list_range("demo", wide)] and store.list_range("elsewhere", wide) == []


@pytest.mark.parametrize("shards", [1, 3])
def test_ranges_read_keys_only_and_pair_split_items_on_dynamodb(dynamodb_client: Any, fake_clock: FakeClock,
                                                                shards: int) -> None:
    store = DynamoDBStateStore(dynamodb_client, TABLE, clock=fake_clock, shards=shards, query_limit=7)
    ids = populate(store, 40)
    with CallCounter(dynamodb_client) as counter:
        ranges = list(store.listing_ranges("demo", page_size=6))
    assert all(params["ProjectionExpression"] == "#pid" for _, params in counter.params)
    assert sorted(pcf_id for r in ranges for pcf_id in
                  (record.pcf_id for record in store.list_range("demo", r))) == ids
    assert sum(r.count for r in ranges) == 40 and {r.shard for r in ranges} == set(range(shards))


def test_run_items_round_trip_in_key_order_with_a_cursor(make_store: StoreFactory) -> None:
    store = make_store()
    store.put_run_items("run-1", {f"RC#D#{n:03d}": {"n": n, "tags": ["a", n]} for n in range(7)})
    store.put_run_items("run-2", {"RC#D#000": {"other": True}})

    first, cursor = store.query_run_items("run-1", "RC#D#", limit=4)
    rest, end = store.query_run_items("run-1", "RC#D#", cursor, limit=4)
    assert [doc["n"] for _, doc in first + rest] == list(range(7)) and end is None
    assert store.get_run_items("run-1", ["RC#D#002", "RC#D#999"]) == {"RC#D#002": {"n": 2, "tags": ["a", 2]}}
    store.put_run_items("run-1", {"RC#D#002": {"n": -2}})
    assert store.get_run_items("run-1", ["RC#D#002"])["RC#D#002"] == {"n": -2}
    assert store.query_run_items("run-2", "RC#D#")[0] == [("RC#D#000", {"other": True})]


def test_a_run_item_outside_its_prefix_is_refused_before_any_write(store: StateStore) -> None:
    with pytest.raises(ValueError, match="starts with 'RC#'"):
        store.put_run_items("run", {"RC#ok": {}, "PG#start#000#00000": {}})
    assert store.get_run_items("run", ["RC#ok"]) == {}
