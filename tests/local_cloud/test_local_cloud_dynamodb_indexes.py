"""The local cloud's Query indexes give exactly moto's answers, and follow every write path (issue 13, E8).

Each example writes random items through every DynamoDB write path (PutItem, UpdateItem moving or removing an
index key, DeleteItem, BatchWriteItem, TransactWriteItems committed and cancelled, conditional failures) and,
after every write, compares Queries of the table, a local index and the global indexes (key conditions, filters,
projection, order, Limit and paging) with moto's own scan of the same table (``unindexed()``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from pcf_local_cloud.cloud import LocalCloud

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])
_names = itertools.count()

PKS, SKS, VALUES, RANGES = ["a", "b", "c"], ["1", "2", "3"], ["x", "y"], ["10", "2", "33"]
OPTIONAL_VALUE = st.one_of(st.none(), st.sampled_from(VALUES))
OPTIONAL_RANGE = st.one_of(st.none(), st.sampled_from(RANGES))
KEYS = st.tuples(st.sampled_from(PKS), st.sampled_from(SKS))
ITEMS = st.fixed_dictionaries({"key": KEYS, "g": OPTIONAL_VALUE, "h": OPTIONAL_VALUE, "r": OPTIONAL_RANGE,
                               "n": st.integers(0, 3)})
PUT = st.tuples(st.just("put"), ITEMS)
UPDATE = st.tuples(st.just("update"), st.fixed_dictionaries(
    {"key": KEYS, "g": OPTIONAL_VALUE, "r": OPTIONAL_RANGE, "condition_holds": st.booleans()}))
DELETE = st.tuples(st.just("delete"), KEYS)
BATCH = st.tuples(st.just("batch"), st.lists(st.one_of(PUT, DELETE), min_size=1, max_size=4))
TRANSACT = st.tuples(st.just("transact"), st.fixed_dictionaries(
    {"writes": st.lists(st.one_of(PUT, UPDATE, DELETE), min_size=1, max_size=4), "cancel": st.booleans()}))
OPERATIONS = st.lists(st.one_of(PUT, UPDATE, DELETE, BATCH, TRANSACT), min_size=1, max_size=10)
QUERIES = st.fixed_dictionaries({
    "index": st.sampled_from([None, "by_g", "by_g_only", "by_h", "local_r"]),
    "value_pick": st.integers(0, 2),
    "range": st.sampled_from([None, ("=", "2"), ("<", "3"), ("begins_with", "1"), ("between", ("10", "33"))]),
    "filter": st.booleans(),
    "project": st.booleans(),
    "forward": st.booleans(),
    "limit": st.one_of(st.none(), st.integers(1, 3)),
})


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as local:
        yield local


def _key_schema(hash_name: str, range_name: str | None = None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_name, "KeyType": "HASH"}]
    return schema + ([{"AttributeName": range_name, "KeyType": "RANGE"}] if range_name else [])


def create_table(client: Any) -> str:
    """A table keyed (pk, sk) with three GSIs (two sharing a partition key) and a local index."""
    name = f"indexed-{next(_names)}"
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=_key_schema("pk", "sk"),
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g", "h", "r")],
        GlobalSecondaryIndexes=[
            {"IndexName": "by_g", "KeySchema": _key_schema("g", "r"), "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "by_g_only", "KeySchema": _key_schema("g"), "Projection": {"ProjectionType": "KEYS_ONLY"}},
            {"IndexName": "by_h", "KeySchema": _key_schema("h", "sk"),
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["n"]}},
        ],
        LocalSecondaryIndexes=[
            {"IndexName": "local_r", "KeySchema": _key_schema("pk", "r"), "Projection": {"ProjectionType": "ALL"}},
        ],
    )
    return name


def _item(spec: dict[str, Any]) -> dict[str, Any]:
    pk, sk = spec["key"]
    item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}, "n": {"N": str(spec["n"])}}
    item.update({name: {"S": spec[name]} for name in ("g", "h", "r") if spec[name] is not None})
    return item


def _key(key: tuple[str, str]) -> dict[str, Any]:
    return {"pk": {"S": key[0]}, "sk": {"S": key[1]}}


def _update(table: str, spec: dict[str, Any]) -> dict[str, Any]:
    """An UpdateItem that sets or removes the GSI keys ``g`` and ``r`` (moving the item between index values)."""
    sets, removes, values = [], [], {":one": {"N": "1"}}
    for name in ("g", "r"):
        if spec[name] is None:
            removes.append(name)
        else:
            sets.append(f"{name} = :{name}")
            values[f":{name}"] = {"S": spec[name]}
    expression = "SET " + ", ".join([*sets, "n = if_not_exists(n, :one)"])
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    condition = "attribute_exists(pk) OR attribute_not_exists(pk)" if spec["condition_holds"] else "n = :never"
    if not spec["condition_holds"]:
        values[":never"] = {"N": "99"}
    return {"TableName": table, "Key": _key(spec["key"]), "UpdateExpression": expression,
            "ConditionExpression": condition, "ExpressionAttributeValues": values}


def apply(client: Any, table: str, operation: tuple[str, Any]) -> None:
    """One write through the API; refusals (a failed condition, a cancelled transaction) are part of the test."""
    kind, spec = operation
    try:
        if kind == "put":
            client.put_item(TableName=table, Item=_item(spec))
        elif kind == "update":
            client.update_item(**_update(table, spec))
        elif kind == "delete":
            client.delete_item(TableName=table, Key=_key(spec))
        elif kind == "batch":
            requests = {}  # BatchWriteItem refuses two requests for one key: the last one wins here
            for sub_kind, sub in spec:
                key = sub["key"] if sub_kind == "put" else sub
                requests[key] = ({"PutRequest": {"Item": _item(sub)}} if sub_kind == "put"
                                 else {"DeleteRequest": {"Key": _key(key)}})
            client.batch_write_item(RequestItems={table: list(requests.values())})
        else:
            client.transact_write_items(TransactItems=_transaction(table, spec))
    except ClientError as error:
        assert error.response["Error"]["Code"] in {"ConditionalCheckFailedException",
                                                   "TransactionCanceledException", "ValidationException"}


def _transaction(table: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    writes, seen = [], set()
    for kind, sub in spec["writes"]:
        key = sub if kind == "delete" else sub["key"]
        if key in seen:
            continue
        seen.add(key)
        if kind == "put":
            writes.append({"Put": {"TableName": table, "Item": _item(sub)}})
        elif kind == "update":
            update = _update(table, {**sub, "condition_holds": True})
            writes.append({"Update": update})
        else:
            writes.append({"Delete": {"TableName": table, "Key": _key(key)}})
    if spec["cancel"]:  # the last write's condition fails: the whole transaction is cancelled
        (kind, request), = writes[-1].items()
        writes[-1] = {kind: {**request, "ConditionExpression": "attribute_exists(nope)"}}
    return writes


def query_request(table: str, spec: dict[str, Any]) -> dict[str, Any]:
    index = spec["index"]
    hash_name, range_name = {None: ("pk", "sk"), "by_g": ("g", "r"), "by_g_only": ("g", None),
                             "by_h": ("h", "sk"), "local_r": ("pk", "r")}[index]
    values = PKS if hash_name == "pk" else [*VALUES, "absent"]
    condition = "#h = :h"
    names = {"#h": hash_name}
    attribute_values: dict[str, Any] = {":h": {"S": values[spec["value_pick"] % len(values)]}}
    if spec["range"] is not None and range_name is not None:
        names["#r"] = range_name
        operator, operand = spec["range"]
        if operator == "between":
            condition += " AND #r BETWEEN :lo AND :hi"
            attribute_values.update({":lo": {"S": operand[0]}, ":hi": {"S": operand[1]}})
        elif operator == "begins_with":
            condition += " AND begins_with(#r, :r)"
            attribute_values[":r"] = {"S": operand}
        else:
            condition += f" AND #r {operator} :r"
            attribute_values[":r"] = {"S": operand}
    request: dict[str, Any] = {"TableName": table, "KeyConditionExpression": condition,
                               "ExpressionAttributeNames": names, "ExpressionAttributeValues": attribute_values,
                               "ScanIndexForward": spec["forward"]}
    if index is not None:
        request["IndexName"] = index
    if spec["filter"]:
        request["FilterExpression"] = "n >= :low"
        attribute_values[":low"] = {"N": "1"}
    if spec["project"]:
        request["ProjectionExpression"] = "pk, sk, #h"
    if spec["limit"] is not None:
        request["Limit"] = spec["limit"]
    return request


def pages(client: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of a Query (Items, Count, ScannedCount, LastEvaluatedKey), following the keys."""
    found, start = [], None
    for _ in range(50):
        page = client.query(**request, **({"ExclusiveStartKey": start} if start else {}))
        found.append({k: page.get(k) for k in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
        start = page.get("LastEvaluatedKey")
        if not start:
            return found
    raise AssertionError("a Query that never ends")


def assert_same_answers(cloud: LocalCloud, table: str, queries: list[dict[str, Any]]) -> None:
    client = cloud.client("dynamodb")
    for spec in queries:
        request = query_request(table, spec)
        indexed = pages(client, request)
        with cloud.patches.dynamodb_indexes.unindexed():
            scanned = pages(client, request)
        assert indexed == scanned, request


@PROPERTY_SETTINGS
@given(operations=OPERATIONS, queries=st.lists(QUERIES, min_size=1, max_size=4))
def test_every_query_answers_as_moto_scan_after_every_write(
    cloud: LocalCloud, operations: list[tuple[str, Any]], queries: list[dict[str, Any]]
) -> None:
    client = cloud.client("dynamodb")
    table = create_table(client)
    assert_same_answers(cloud, table, queries)  # the indexes exist from the start: each write must keep them
    for operation in operations:
        apply(client, table, operation)
        assert_same_answers(cloud, table, queries)


def _by_g(client: Any, table: str, value: str) -> list[str]:
    answer = client.query(TableName=table, IndexName="by_g", KeyConditionExpression="g = :g",
                          ExpressionAttributeValues={":g": {"S": value}})
    return [item["pk"]["S"] + item["sk"]["S"] for item in answer["Items"]]


def test_an_update_that_moves_an_item_to_another_index_value_moves_it_in_the_index(cloud: LocalCloud) -> None:
    client = cloud.client("dynamodb")
    table = create_table(client)
    client.put_item(TableName=table, Item=_item({"key": ("a", "1"), "g": "x", "h": None, "r": "2", "n": 0}))
    assert _by_g(client, table, "x") == ["a1"]

    client.update_item(TableName=table, Key=_key(("a", "1")), UpdateExpression="SET g = :y",
                       ExpressionAttributeValues={":y": {"S": "y"}})
    assert (_by_g(client, table, "x"), _by_g(client, table, "y")) == ([], ["a1"])

    client.update_item(TableName=table, Key=_key(("a", "1")), UpdateExpression="REMOVE g")
    assert _by_g(client, table, "y") == []

    client.update_item(TableName=table, Key=_key(("a", "1")), UpdateExpression="SET g = :x",
                       ExpressionAttributeValues={":x": {"S": "x"}})
    client.delete_item(TableName=table, Key=_key(("a", "1")))
    assert _by_g(client, table, "x") == []


def test_a_cancelled_transaction_leaves_the_indexed_answers_as_they_were(cloud: LocalCloud) -> None:
    client = cloud.client("dynamodb")
    table = create_table(client)
    client.put_item(TableName=table, Item=_item({"key": ("a", "1"), "g": "x", "h": None, "r": "2", "n": 0}))
    assert _by_g(client, table, "x") == ["a1"]

    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": _key(("a", "1")), "UpdateExpression": "SET g = :y",
                        "ExpressionAttributeValues": {":y": {"S": "y"}}}},
            {"Put": {"TableName": table, "Item": _item({"key": ("b", "1"), "g": "y", "h": None, "r": "2", "n": 0}),
                     "ConditionExpression": "attribute_exists(pk)"}},
        ])

    assert (_by_g(client, table, "x"), _by_g(client, table, "y")) == (["a1"], [])


def test_a_table_deleted_and_created_again_is_not_answered_from_the_old_index(cloud: LocalCloud) -> None:
    client = cloud.client("dynamodb")
    table = create_table(client)
    client.put_item(TableName=table, Item=_item({"key": ("a", "1"), "g": "x", "h": None, "r": "2", "n": 0}))
    assert _by_g(client, table, "x") == ["a1"]
    client.delete_table(TableName=table)

    _recreate(client, table)  # same name, same index, another item
    client.put_item(TableName=table, Item=_item({"key": ("b", "2"), "g": "x", "h": None, "r": "2", "n": 0}))

    assert _by_g(client, table, "x") == ["b2"]


def _recreate(client: Any, name: str) -> None:
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=_key_schema("pk", "sk"),
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g", "r")],
        GlobalSecondaryIndexes=[
            {"IndexName": "by_g", "KeySchema": _key_schema("g", "r"), "Projection": {"ProjectionType": "ALL"}}],
    )


def test_a_gsi_query_is_given_only_the_items_of_its_key_value(cloud: LocalCloud) -> None:
    client = cloud.client("dynamodb")
    table = create_table(client)
    client.batch_write_item(RequestItems={table: [
        {"PutRequest": {"Item": _item({"key": (f"p{i}", "1"), "g": "x" if i == 3 else "y", "h": None, "r": "2",
                                       "n": 1})}} for i in range(20)]})
    moto_table = dynamodb_backends[cloud.account_id][cloud.region].get_table(table)
    indexes = cloud.patches.dynamodb_indexes

    candidates = indexes.candidates(moto_table, "by_g", None, [("g", DynamoType({"S": "x"}))])
    base = indexes.candidates(moto_table, None, DynamoType({"S": "p3"}), [])

    assert [item.hash_key.value for item in candidates or []] == ["p3"]
    assert [item.hash_key.value for item in base or []] == ["p3"]
    assert indexes.indexed_attributes(moto_table) == ["g"]
    with indexes.unindexed():
        assert indexes.candidates(moto_table, "by_g", None, [("g", DynamoType({"S": "x"}))]) is None
