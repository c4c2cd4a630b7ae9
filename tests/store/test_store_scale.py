"""Reconciliation at scale: 1,000 particles listed and read back, on both stores.

On DynamoDB the calls are counted (a botocore ``before-call`` hook) against the budget of 12 calls per
1,000 particles for listing, and BatchGetItem is checked to send 100 keys a call. 1,000 particles cross every
page and batch boundary more than once; more only costs time here, since moto looks an item up by scanning its
table (2,500 took about 3 minutes of one test worker). The 10,000-particle figures are the benchmarks'
(``benchmarks/events_bench.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from pcf_control_plane.store import DynamoDBStateStore, InMemoryStateStore, StateStore
from pcf_control_plane.store.dynamodb_io import BATCH_GET_MAX_KEYS
from pcf_control_plane.store.table import create_table
from pcf_local_cloud.cloud import LocalCloud
from tests.store.conftest import AWS_TEST_ENV, TABLE
from tests.store.store_support import CallCounter, FakeClock, observation, populate

PARTICLES = 1000
CALLS_PER_1000 = 12

Populated = tuple[StateStore, Any, list[str]]


@pytest.fixture(scope="module", params=["memory", "dynamodb"])
def populated(request: pytest.FixtureRequest) -> Iterator[Populated]:
    """1,000 particles written once per module, then only read."""
    if request.param == "memory":
        memory = InMemoryStateStore(clock=FakeClock())
        yield memory, None, populate(memory, PARTICLES)
        return
    with pytest.MonkeyPatch.context() as patch, LocalCloud():
        for name, value in AWS_TEST_ENV.items():
            patch.setenv(name, value)
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        dynamo = DynamoDBStateStore(client, TABLE, clock=FakeClock())
        yield dynamo, client, populate(dynamo, PARTICLES)


def test_listing_particles_in_batches(populated: Populated) -> None:
    store, _, ids = populated
    batches = list(store.list_particles("demo", page_size=400))
    assert [len(batch) for batch in batches] == [400] * (PARTICLES // 400) + [PARTICLES % 400]
    listed = [record for batch in batches for record in batch]
    assert [record.pcf_id for record in listed] == ids
    assert all(record.spec is not None and record.spec.generation == 1 for record in listed)
    assert [record.observation.resource_id for record in listed if record.observation] == [
        f"i-{n:017x}" for n in range(PARTICLES)
    ]
    assert len(store.members_of("distributed_master_worker:big")) == PARTICLES


@pytest.mark.parametrize("populated", ["dynamodb"], indirect=True)
def test_listing_queries_stay_within_budget(populated: Populated) -> None:
    store, client, ids = populated
    with CallCounter(client) as counter:
        listed = [record for batch in store.list_particles("demo", page_size=100) for record in batch]
    assert [record.pcf_id for record in listed] == ids
    assert set(counter.calls) == {"Query"}
    per_1000 = counter.calls["Query"] * 1000 / PARTICLES
    print(f"listing {PARTICLES} particles: {counter.calls['Query']} Query calls ({per_1000:.1f} per 1,000)")
    assert per_1000 <= CALLS_PER_1000
    assert all(params.get("IndexName") == "by_deployment" for _, params in counter.params)


def test_get_many_of_every_particle(populated: Populated) -> None:
    store, client, ids = populated
    wanted = [*ids[::-1], "ec2_instance:missing"]
    if client is None:
        found = store.get_many(wanted)
    else:
        with CallCounter(client) as counter:
            found = store.get_many(wanted)
    assert list(found) == ids[::-1]
    assert found[ids[7]].observation == observation(1007.0, resource_id=f"i-{7:017x}")
    if client is not None:
        sizes = [len(params["RequestItems"][TABLE]["Keys"]) for _, params in counter.params]
        keys = 2 * (PARTICLES + 1)  # a spec and an observation item per particle, the missing one included
        assert sizes == [BATCH_GET_MAX_KEYS] * (keys // BATCH_GET_MAX_KEYS) + [keys % BATCH_GET_MAX_KEYS]
        assert counter.calls["BatchGetItem"] == keys // BATCH_GET_MAX_KEYS + 1


