"""What only the DynamoDB store has: its items, its error mapping, and recovery from an interrupted write."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from pcf_control_plane.store import ConflictError, DynamoDBStateStore, HistoryKind, StoreError
from tests.store.conftest import TABLE
from tests.store.store_support import FakeClock, observation, spec

A = "ec2_instance:alpha"


def raw(client: Any, pcf_id: str, sort_key: str) -> dict[str, Any]:
    return client.get_item(TableName=TABLE, Key={"pk": {"S": f"P#{pcf_id}"}, "sk": {"S": sort_key}}).get("Item", {})


class FailingClient:
    """Delegates to a real client, but ``operation`` raises ``error_code`` (``times`` times, then works)."""

    def __init__(self, client: Any, operation: str, error_code: str, times: int = 1_000) -> None:
        self._client, self._operation, self._code, self.times = client, operation, error_code, times

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name != self._operation:
            return call

        def failing(**kwargs: Any) -> Any:
            if self.times <= 0:
                return call(**kwargs)
            self.times -= 1
            raise ClientError({"Error": {"Code": self._code, "Message": "injected"}}, name)

        return failing


# items -----------------------------------------------------------------------------------------


def test_the_definition_is_stored_once(dynamodb_client: Any, dynamo_store: DynamoDBStateStore) -> None:
    written = spec(A, quasiparticle="distributed_master_worker:c")
    dynamo_store.put_spec(written)
    dynamo_store.record_observation(A, observation(1.5, resource_id="i-1"))
    dynamo_store.add_history(A, HistoryKind.observation, {"state": "running"}, "event-1")
    dynamo_store.acquire_lease(A, "exec-1", 60)

    spec_item = raw(dynamodb_client, A, "SPEC")
    assert json.loads(spec_item["definition"]["S"]) == written.definition
    assert spec_item["deployment_key"] == {"S": "demo#0"} and spec_item["generation"] == {"N": "1"}
    assert spec_item["quasiparticle"] == {"S": "distributed_master_worker:c"}

    obs_item = raw(dynamodb_client, A, "OBS")
    assert "definition" not in obs_item and obs_item["deployment_key"] == {"S": "demo#0"}
    assert obs_item["observed_at"] == {"N": "1.5"} and obs_item["resource_id"] == {"S": "i-1"}
    assert len(json.dumps(obs_item)) < 1024  # an observation write stays a 1 KB write

    items = dynamodb_client.query(TableName=TABLE, KeyConditionExpression="pk = :pk",
                                  ExpressionAttributeValues={":pk": {"S": f"P#{A}"}})["Items"]
    assert sorted(item["sk"]["S"][:2] for item in items) == ["H#", "LE", "OB", "SP"]
    assert sum("definition" in item for item in items) == 1
    lease = next(item for item in items if item["sk"]["S"] == "LEASE")
    assert "purge_at" in lease  # TTL cleans expired leases up eventually
    assert all("purge_at" not in item for item in items if item["sk"]["S"].startswith("H#"))


def test_history_ttl_sets_the_purge_attribute(dynamodb_client: Any, fake_clock: FakeClock) -> None:
    store = DynamoDBStateStore(dynamodb_client, TABLE, clock=fake_clock, history_ttl_seconds=3600)
    item = store.add_history(A, HistoryKind.heal, {"to": "running"}, "schedule:1")
    stored = raw(dynamodb_client, A, item.item_id)
    assert stored["purge_at"] == {"N": str(int(fake_clock.now) + 3600)}


def test_a_spec_without_observation_lists_with_none(dynamodb_client: Any, dynamo_store: DynamoDBStateStore) -> None:
    dynamo_store.put_spec(spec(A))
    assert set(raw(dynamodb_client, A, "OBS")) == {"pk", "sk", "pcf_id", "deployment_key", "spec_summary"}  # stub
    (batch,) = list(dynamo_store.list_particles("demo"))
    assert batch[0].observation is None and batch[0].spec is not None


class CountingClient:
    """Delegates to a real client, recording the name of every operation called."""

    def __init__(self, client: Any) -> None:
        self._client, self.calls = client, []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self._client, name)


def test_an_event_finds_its_particle_in_one_query(dynamodb_client: Any, fake_clock: FakeClock) -> None:
    counting = CountingClient(dynamodb_client)
    store = DynamoDBStateStore(counting, TABLE, clock=fake_clock)
    store.put_spec(spec(A, desired_state="stopped"))
    store.record_observation(A, observation(1.0, "running", resource_id="i-1"))
    counting.calls.clear()

    view = store.view_by_resource_id("i-1")

    assert counting.calls == ["query"]
    assert view is not None and view.spec is not None and view.observation is not None
    assert (view.pcf_id, view.spec.desired_state, view.observation.state) == (A, "stopped", "running")


def test_an_item_from_before_summaries_is_read_whole_and_repaired_by_the_next_put(
    dynamodb_client: Any, fake_clock: FakeClock
) -> None:
    counting = CountingClient(dynamodb_client)
    store = DynamoDBStateStore(counting, TABLE, clock=fake_clock)
    store.put_spec(spec(A))
    store.record_observation(A, observation(1.0, "running", resource_id="i-1"))
    dynamodb_client.update_item(TableName=TABLE, Key={"pk": {"S": f"P#{A}"}, "sk": {"S": "OBS"}},
                                UpdateExpression="REMOVE spec_summary")
    counting.calls.clear()

    view = store.view_by_resource_id("i-1")
    assert view is not None and view.spec is not None and view.spec.desired_state == "running"
    assert counting.calls == ["query", "batch_get_item"], "the particle's own items complete it"

    assert store.put_spec(spec(A)) == 1, "an identical put"
    assert raw(dynamodb_client, A, "OBS")["spec_summary"]["M"]["desired_state"] == {"S": "running"}


# errors ----------------------------------------------------------------------------------------


def test_a_missing_table_is_a_store_error(dynamodb_client: Any, fake_clock: FakeClock) -> None:
    store = DynamoDBStateStore(dynamodb_client, "no-such-table", clock=fake_clock)
    for action in (
        lambda: store.get_spec(A),
        lambda: store.put_spec(spec(A)),
        lambda: store.record_observation(A, observation(1.0)),
        lambda: store.acquire_lease(A, "exec-1", 60),
        lambda: store.release_lease(A, "exec-1"),
        lambda: list(store.list_particles("demo")),
        lambda: store.get_many([A]),
        lambda: store.add_history(A, "plan", {}, "x"),
    ):
        with pytest.raises(StoreError, match="ResourceNotFoundException") as caught:
            action()
        assert isinstance(caught.value.__cause__, ClientError)


def test_throttling_is_a_store_error_not_a_refusal(dynamodb_client: Any, fake_clock: FakeClock) -> None:
    throttled = FailingClient(dynamodb_client, "update_item", "ProvisionedThroughputExceededException")
    store = DynamoDBStateStore(throttled, TABLE, clock=fake_clock)
    with pytest.raises(StoreError, match="ProvisionedThroughputExceeded"):
        store.record_observation(A, observation(1.0))


def test_connection_errors_are_store_errors(fake_clock: FakeClock) -> None:
    class Unreachable:
        def get_item(self, **_: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    with pytest.raises(StoreError, match="Could not connect"):
        DynamoDBStateStore(Unreachable(), TABLE, clock=fake_clock).get_spec(A)


def test_a_spec_that_keeps_losing_races_raises_conflict(dynamodb_client: Any, fake_clock: FakeClock) -> None:
    racing = FailingClient(dynamodb_client, "put_item", "ConditionalCheckFailedException")
    store = DynamoDBStateStore(racing, TABLE, clock=fake_clock, max_attempts=3)
    with pytest.raises(ConflictError):
        store.put_spec(spec(A))
    assert racing.times == 1_000 - 3


class ConflictingTransactions:
    """Delegates to a real client; its first ``times`` TransactWriteItems are cancelled as AWS cancels a
    transaction that met another one writing the same item (nothing written)."""

    def __init__(self, client: Any, times: int) -> None:
        self._client, self.times, self.sent = client, times, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.sent += 1
        if self.times > 0:
            self.times -= 1
            reasons = [{"Code": "TransactionConflict", "Message": "in progress"}] + [
                {"Code": "None"} for _ in kwargs["TransactItems"][1:]]
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                               "CancellationReasons": reasons}, "TransactWriteItems")
        return self._client.transact_write_items(**kwargs)


def test_an_event_that_meets_another_transaction_is_written_on_a_retry(
    dynamodb_client: Any, fake_clock: FakeClock
) -> None:
    conflicting = ConflictingTransactions(dynamodb_client, times=2)
    store = DynamoDBStateStore(conflicting, TABLE, clock=fake_clock, max_attempts=3)
    store.put_spec(spec(A))
    event = observation(5.0, "stopped", resource_id="i-1", cause="event:9")

    assert store.record_observed(A, event, HistoryKind.observation, {}).status == "recorded"
    assert conflicting.sent == 3 and store.get_observation(A).state == "stopped"
    assert [item.cause for item in store.list_history(A)] == ["event:9"], "written once"

    always = DynamoDBStateStore(ConflictingTransactions(dynamodb_client, times=99), TABLE, clock=fake_clock,
                                max_attempts=3)
    with pytest.raises(ConflictError, match="conflicting transactions"):
        always.record_observed(A, observation(6.0, "running", resource_id="i-1"), HistoryKind.observation, {})


# an interrupted put_spec, retried --------------------------------------------------------------


def test_a_retried_put_repairs_an_interrupted_move(dynamodb_client: Any, fake_clock: FakeClock) -> None:
    store = DynamoDBStateStore(dynamodb_client, TABLE, clock=fake_clock)
    store.put_spec(spec(A))
    store.record_observation(A, observation(1.0))
    crashing = DynamoDBStateStore(FailingClient(dynamodb_client, "put_item", "InternalServerError", times=1), TABLE,
                                  clock=fake_clock)
    with pytest.raises(StoreError):
        crashing.put_spec(spec(A, deployment="blue"))  # the observation moved, the spec did not
    assert crashing.put_spec(spec(A, deployment="blue")) == 2  # the step is retried
    assert list(store.list_particles("demo")) == []
    (batch,) = list(store.list_particles("blue"))
    assert batch[0].spec is not None and batch[0].spec.deployment == "blue"
    assert batch[0].observation == observation(1.0)
