"""DynamoDB calls of the issue-13 store operations (counted with ``ApiCallCounter``), the index fallback while
``by_resource2`` backfills (injected refusals, and the local cloud's own backfilling index after ``UpdateTable``),
batch-write retries, and the in-memory token window."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from benchmarks.counting import ApiCallCounter
from pcf_control_plane.store import (
    DynamoDBStateStore,
    HistoryKind,
    IdempotencyMismatchError,
    InMemoryStateStore,
    LevelPages,
    Observation,
    RunFailure,
    RunMeta,
    RunPage,
    StoreError,
)
from pcf_control_plane.store.table import BY_RESOURCE, BY_RESOURCE2, key_schema
from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from tests.store.conftest import TABLE
from tests.store.store_support import FakeClock, spec
from tests.store.test_store_converge import CHILD, DAD, MOM, RUN, WAIT, _armed, _commit

EVENT = Observation(state="running", observed_at=11.0, resource_id="i-child", cause="event:e-1")


def _calls(client: Any) -> ApiCallCounter:
    counter = ApiCallCounter()
    counter.hook("dynamodb", client)
    return counter


def _by_operation(counter: ApiCallCounter) -> dict[str, int]:
    return {op: sum(phases.values()) for op, phases in counter.snapshot().by_operation("dynamodb").items()}


def test_each_converge_operation_is_one_call(dynamodb_client: Any, dynamo_store: DynamoDBStateStore) -> None:
    _armed(dynamo_store)
    counter = _calls(dynamodb_client)

    dynamo_store.read_family(CHILD, [MOM, DAD])
    assert _by_operation(counter) == {"BatchGetItem": 1}
    counter.reset()
    view = dynamo_store.view_by_resource_id("i-child")
    assert view is not None and view.wait == WAIT and _by_operation(counter) == {"Query": 1}
    counter.reset()
    assert dynamo_store.resolve_wait(CHILD, EVENT, WAIT, {}).status == "recorded"
    assert _by_operation(counter) == {"TransactWriteItems": 1}
    counter.reset()
    dynamo_store.commit_converge(_commit(20.0, created=True, converged=True, release_lease=True))
    assert _by_operation(counter) == {"TransactWriteItems": 1}
    counter.reset()
    assert not dynamo_store.arm_wait(CHILD, WAIT.model_copy(update={"token": "token-2"}), "i-child")  # not pending
    assert _by_operation(counter) == {"UpdateItem": 1}


def test_a_refused_part_of_a_commit_costs_one_more_transaction(
    dynamodb_client: Any, dynamo_store: DynamoDBStateStore
) -> None:
    _armed(dynamo_store)
    dynamo_store.release_lease(CHILD, RUN)
    dynamo_store.acquire_lease(CHILD, "someone-else", 600)
    counter = _calls(dynamodb_client)
    sent: list[str] = []
    dynamodb_client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems",
                                         lambda params, **_: sent.append(params["ClientRequestToken"]))

    result = dynamo_store.commit_converge(_commit(5.0, release_lease=True))

    assert (result.observation, result.lease_released) == ("stale", False)
    assert _by_operation(counter) == {"TransactWriteItems": 2}
    assert sent[0] == _commit(5.0).token and len(set(sent)) == 2 and all(len(token) <= 36 for token in sent)


def test_a_run_of_many_pages_is_written_25_items_a_call(
    dynamodb_client: Any, dynamo_store: DynamoDBStateStore
) -> None:
    meta = RunMeta(execution=RUN, pcf_id="distributed_master_worker:big", particles=2000,
                   levels=(LevelPages(phase="start", level=0, pages=50),))
    pages = [RunPage(phase="start", level=0, page=n, ids=(f"ec2_instance:p{n}",), specs=(spec(f"ec2_instance:p{n}"),))
             for n in range(50)]
    counter = _calls(dynamodb_client)

    dynamo_store.put_run(meta, pages)
    assert _by_operation(counter) == {"BatchWriteItem": 3}  # 51 items
    counter.reset()
    listing = dynamo_store.list_pages(RUN, limit=50)
    assert len(listing.pages) == 50 and _by_operation(counter) == {"Query": 1}
    counter.reset()
    dynamo_store.get_page(RUN, "start", 0, 7)
    dynamo_store.set_page_generations(RUN, "start", 0, 7, {"ec2_instance:p7": 1})
    assert _by_operation(counter) == {"GetItem": 1, "UpdateItem": 1}
    counter.reset()
    for n in range(8):
        dynamo_store.record_failure(RUN, RunFailure(pcf_id=f"ec2_instance:p{n}", phase="start", level=0,
                                                    error="Boom", at=1.0))
    assert _by_operation(counter) == {"TransactWriteItems": 8}
    counter.reset()
    assert dynamo_store.level_failures(RUN, "start", 0, first=5).count == 8
    assert _by_operation(counter) == {"Query": 2}  # the first five, then the count
    counter.reset()
    assert dynamo_store.created_marks(RUN, [page.ids[0] for page in pages]) == set()
    assert _by_operation(counter) == {"BatchGetItem": 1}


def test_unprocessed_batch_writes_are_sent_again(dynamodb_client: Any, fake_clock: FakeClock) -> None:
    class Unprocessing:
        """Leaves the last item of the first two batch writes unprocessed, as a throttled table would."""

        def __init__(self) -> None:
            self.refusals = 2

        def __getattr__(self, name: str) -> Any:
            call = getattr(dynamodb_client, name)
            if name != "batch_write_item":
                return call

            def partial(RequestItems: dict[str, Any]) -> dict[str, Any]:
                requests = RequestItems[TABLE]
                if self.refusals and len(requests) > 1:
                    self.refusals -= 1
                    call(RequestItems={TABLE: requests[:-1]})
                    return {"UnprocessedItems": {TABLE: requests[-1:]}}
                return call(RequestItems=RequestItems)

            return partial

    store = DynamoDBStateStore(Unprocessing(), TABLE, clock=fake_clock, sleep=fake_clock.sleep)
    meta = RunMeta(execution=RUN, pcf_id="x:y", particles=3, levels=(LevelPages(phase="start", level=0, pages=3),))
    pages = [RunPage(phase="start", level=0, page=n, ids=(f"ec2_instance:p{n}",)) for n in range(3)]
    store.put_run(meta, pages)

    assert len(fake_clock.slept) == 1  # the retried single item is not refused again (one item is not "> 1")
    assert [page.page for page in store.list_pages(RUN).pages] == [0, 1, 2]
    assert store.get_run(RUN) == meta


def _refusing_new_index(client: Any, message: str) -> Any:
    class Backfilling:
        def __init__(self) -> None:
            self.queried: list[str] = []

        def __getattr__(self, name: str) -> Any:
            call = getattr(client, name)
            if name != "query":
                return call

            def query(**kwargs: Any) -> Any:
                self.queried.append(kwargs.get("IndexName", "table"))
                if kwargs.get("IndexName") == "by_resource2":
                    raise ClientError({"Error": {"Code": "ValidationException", "Message": message}}, "Query")
                return call(**kwargs)

            return query

    return Backfilling()


@pytest.mark.parametrize("message", [
    "Cannot read from backfilling global secondary index: by_resource2",
    "The table does not have the specified index: by_resource2",
])
def test_events_read_the_old_index_while_the_new_one_is_not_ready(
    dynamodb_client: Any, fake_clock: FakeClock, message: str
) -> None:
    _armed(DynamoDBStateStore(dynamodb_client, TABLE, clock=fake_clock))
    backfilling = _refusing_new_index(dynamodb_client, message)
    store = DynamoDBStateStore(backfilling, TABLE, clock=fake_clock)

    view = store.view_by_resource_id("i-child")

    assert view is not None and view.wait == WAIT and view.spec is not None
    assert store.find_by_resource_id("i-child") == CHILD
    assert backfilling.queried == ["by_resource2", "by_resource", "by_resource2", "by_resource"]


def test_events_read_the_old_index_until_the_deployed_new_one_has_backfilled(fake_clock: FakeClock) -> None:
    """The rollout of docs/deploying.md on the local cloud: a table made without ``by_resource2``, then one
    ``UpdateTable`` adding it, which backfills for ``backfill`` seconds of the cloud's clock."""
    backfill, clock = 300.0, VirtualClock()
    with LocalCloud(clock=clock, index_backfill_seconds=backfill) as cloud:
        client = cloud.client("dynamodb")
        schema = key_schema()
        new_index = next(gsi for gsi in schema["GlobalSecondaryIndexes"] if gsi["IndexName"] == BY_RESOURCE2)
        schema["GlobalSecondaryIndexes"].remove(new_index)
        client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", **schema)
        store = DynamoDBStateStore(client, TABLE, clock=fake_clock)
        queried: list[str] = []
        client.meta.events.register("before-parameter-build.dynamodb.Query",
                                    lambda params, **_: queried.append(params.get("IndexName", "table")))
        _armed(store)

        def event_view() -> Any:
            queried.clear()
            view = store.view_by_resource_id("i-child")
            assert view is not None and view.wait == WAIT and view.spec is not None
            return list(queried)

        assert event_view() == [BY_RESOURCE2, BY_RESOURCE]  # not created yet
        client.update_table(TableName=TABLE, AttributeDefinitions=schema["AttributeDefinitions"],
                            GlobalSecondaryIndexUpdates=[{"Create": new_index}])
        assert event_view() == [BY_RESOURCE2, BY_RESOURCE]  # backfilling
        clock.advance(backfill - 1)
        assert event_view() == [BY_RESOURCE2, BY_RESOURCE]
        clock.advance(1)
        assert event_view() == [BY_RESOURCE2]  # readable: the view and the wait in one query
        assert store.find_by_resource_id("i-child") == CHILD


def test_other_query_errors_are_not_taken_for_a_backfill(dynamodb_client: Any, fake_clock: FakeClock) -> None:
    store = DynamoDBStateStore(_refusing_new_index(dynamodb_client, "Query condition missed key schema element"),
                               TABLE, clock=fake_clock)
    with pytest.raises(StoreError, match="missed key schema"):
        store.view_by_resource_id("i-child")


def test_the_memory_token_window_is_ten_minutes(fake_clock: FakeClock) -> None:
    store = InMemoryStateStore(clock=fake_clock)
    store.commit_converge(_commit(20.0))
    fake_clock.advance(599)
    with pytest.raises(IdempotencyMismatchError):
        store.commit_converge(_commit(30.0))
    fake_clock.advance(1)  # 10 minutes after the first request completed: a new request
    assert store.commit_converge(_commit(30.0)).observation == "recorded"
    assert [h.kind for h in store.list_history(CHILD)].count(HistoryKind.lease) == 2


def test_a_page_of_specs_is_planned_in_one_read_and_one_write_per_particle(
    dynamodb_client: Any, dynamo_store: DynamoDBStateStore
) -> None:
    specs = [spec(f"ec2_instance:p{n}") for n in range(40)]
    counter = _calls(dynamodb_client)
    assert dynamo_store.plan_specs(specs, RUN) == {s.pcf_id: 1 for s in specs}
    assert _by_operation(counter) == {"BatchGetItem": 1, "TransactWriteItems": 40}
    counter.reset()
    changed = [specs[0].model_copy(update={"desired_state": "stopped"}), *specs[1:]]
    assert dynamo_store.plan_specs(changed, RUN)[specs[0].pcf_id] == 2
    assert _by_operation(counter) == {"BatchGetItem": 1, "TransactWriteItems": 1, "PutItem": 39}, (
        "an unchanged spec writes its plan item alone")
    plans = [i.detail for i in dynamo_store.list_history(specs[0].pcf_id, newest_first=False) if i.kind == "plan"]
    assert plans == [{"desired_state": "running", "generation": 1}, {"desired_state": "stopped", "generation": 2}]
    assert dynamo_store.get_spec(specs[0].pcf_id).desired_state == "stopped"


def test_a_spec_another_writer_changed_after_the_read_is_written_again(
    dynamodb_client: Any, dynamo_store: DynamoDBStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = spec("ec2_instance:raced")
    assert dynamo_store.plan_specs([first], RUN) == {first.pcf_id: 1}
    real_batch_get = dynamo_store._io.batch_get
    raced: list[bool] = []

    def then_another_writer(*args: Any, **kwargs: Any) -> Any:
        read = real_batch_get(*args, **kwargs)
        if not raced:  # once, right after plan_specs' own read
            raced.append(True)
            dynamo_store.put_spec(first.model_copy(update={"desired_state": "terminated"}))  # generation 2
        return read

    monkeypatch.setattr(dynamo_store._io, "batch_get", then_another_writer)
    stopped = first.model_copy(update={"desired_state": "stopped"})
    assert dynamo_store.plan_specs([stopped], RUN) == {first.pcf_id: 3}, "read again, written after the other"
    assert dynamo_store.get_spec(first.pcf_id).desired_state == "stopped"
