"""Fixtures for the state store tests: a hand-moved wall clock, and each store implementation.

``make_store`` is parametrized over both implementations, so every test that uses it (or ``store``) is
one contract test run twice: in memory, and on DynamoDB in moto.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from pcf_control_plane.store import DynamoDBStateStore, InMemoryStateStore, StateStore
from pcf_control_plane.store.table import create_table
from pcf_local_cloud.cloud import LocalCloud
from tests.store.store_support import FakeClock

TABLE = "pcf-state-test"
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

StoreFactory = Callable[..., StateStore]


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and region, and the local cloud (moto, DynamoDB atomic per request) in place of AWS."""
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    with LocalCloud():
        yield


@pytest.fixture
def dynamodb_client(aws_env: None) -> Any:
    """A DynamoDB client on moto, with the state table created by ``table.create_table``."""
    client = boto3.client(
        "dynamodb", region_name="us-east-1", config=Config(retries={"mode": "standard", "max_attempts": 3})
    )
    create_table(client, TABLE, sleep=lambda _: None)
    return client


@pytest.fixture(params=["memory", "dynamodb"])
def make_store(request: pytest.FixtureRequest, fake_clock: FakeClock) -> StoreFactory:
    """A factory of stores of one implementation, on the fake clock; options go to the constructor."""
    if request.param == "memory":
        return lambda **options: InMemoryStateStore(clock=fake_clock, **options)
    client = request.getfixturevalue("dynamodb_client")
    return lambda **options: DynamoDBStateStore(client, TABLE, clock=fake_clock, sleep=fake_clock.sleep, **options)


@pytest.fixture
def store(make_store: StoreFactory) -> StateStore:
    return make_store()


@pytest.fixture
def dynamo_store(dynamodb_client: Any, fake_clock: FakeClock) -> DynamoDBStateStore:
    return DynamoDBStateStore(dynamodb_client, TABLE, clock=fake_clock, sleep=fake_clock.sleep)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Fresh pcf_ids (``ec2_instance:<prefix>-<n>``) for tests that run many examples on one store."""
    counter = itertools.count()
    return lambda prefix="p": f"ec2_instance:{prefix}-{next(counter)}"
