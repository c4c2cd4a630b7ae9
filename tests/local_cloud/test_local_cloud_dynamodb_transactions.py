"""The local cloud's TransactWriteItems keeps an undo journal instead of copying tables, and answers as moto does.

The property test runs the same random tables and random transactions (puts, updates, deletes and condition
checks; conditions that fail, with and without ``ReturnValuesOnConditionCheckFailure``; two actions on one item;
an update refused mid-transaction; a missing table) in two Regions of one local cloud: journaled in one, with
moto's whole-table copies (``moto_copies()``) in the other. Every answer, and after every transaction the tables'
items, their global and local index answers and their stream records, must be equal.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from pcf_local_cloud.cloud import LocalCloud

JOURNALED, COPYING = "us-east-1", "us-west-2"
PROPERTY_SETTINGS = settings(max_examples=100, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])
_names = itertools.count()

PKS, SKS, VALUES = ["a", "b", "c"], ["1", "2"], ["x", "y"]
CONDITIONS = st.sampled_from([None, "exists", "not_exists", "n_is"])
KEYS = st.tuples(st.sampled_from(PKS), st.sampled_from(SKS))
ITEMS = st.fixed_dictionaries({"key": KEYS, "g": st.one_of(st.none(), st.sampled_from(VALUES)),
                               "r": st.one_of(st.none(), st.sampled_from(SKS)), "n": st.one_of(st.none(),
                                                                                            st.integers(0, 3))})
GUARD = {"condition": CONDITIONS, "value": st.integers(0, 3), "return_old": st.booleans()}
PUT = st.tuples(st.just("Put"), st.fixed_dictionaries({"item": ITEMS, **GUARD}))
UPDATE = st.tuples(st.just("Update"), st.fixed_dictionaries(
    {"key": KEYS, "change": st.sampled_from(["set_g", "remove_g", "add_n", "increment_n", "set_r"]),
     "g": st.sampled_from(VALUES), **GUARD}))
DELETE = st.tuples(st.just("Delete"), st.fixed_dictionaries({"key": KEYS, **GUARD}))
CHECK = st.tuples(st.just("ConditionCheck"), st.fixed_dictionaries(
    {"key": KEYS, **GUARD, "condition": st.sampled_from(["exists", "not_exists", "n_is"]),
     "missing_table": st.integers(0, 9).map(lambda pick: pick == 0)}))
TRANSACTIONS = st.lists(st.lists(st.one_of(PUT, UPDATE, DELETE, CHECK), min_size=1, max_size=6),
                        min_size=1, max_size=5)
TABLES = st.fixed_dictionaries({"sort_key": st.booleans(), "stream": st.booleans(),
                                "items": st.lists(ITEMS, max_size=8)})


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as local:
        yield local


def _schema(hash_name: str, range_name: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_name, "KeyType": "HASH"}]
    return schema + ([{"AttributeName": range_name, "KeyType": "RANGE"}] if range_name else [])


def create_table(client: Any, name: str, shape: dict[str, Any]) -> None:
    """A table keyed ``pk`` (and ``sk``) with a global index on ``g``/``r`` (and a local index on ``r``)."""
    range_name = "sk" if shape["sort_key"] else None
    request: dict[str, Any] = {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST", "KeySchema": _schema("pk", range_name),
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"}
                                 for a in ("pk", "g", "r", *(("sk",) if range_name else ()))],
        "GlobalSecondaryIndexes": [{"IndexName": "by_g", "KeySchema": _schema("g", "r"),
                                    "Projection": {"ProjectionType": "ALL"}}],
    }
    if range_name:
        request["LocalSecondaryIndexes"] = [{"IndexName": "local_r", "KeySchema": _schema("pk", "r"),
                                             "Projection": {"ProjectionType": "ALL"}}]
    if shape["stream"]:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    client.create_table(**request)


def key(shape: dict[str, Any], pk_sk: tuple[str, str]) -> dict[str, Any]:
    found = {"pk": {"S": pk_sk[0]}}
    return found | ({"sk": {"S": pk_sk[1]}} if shape["sort_key"] else {})


def item(shape: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    found = key(shape, spec["key"])
    found.update({name: {"S": spec[name]} for name in ("g", "r") if spec[name] is not None})
    return found | ({"n": {"N": str(spec["n"])}} if spec["n"] is not None else {})


def _guard(request: dict[str, Any], spec: dict[str, Any], values: dict[str, Any]) -> None:
    condition = spec["condition"]
    if condition is not None:
        request["ConditionExpression"] = {"exists": "attribute_exists(pk)", "not_exists": "attribute_not_exists(pk)",
                                          "n_is": "n = :v"}[condition]
        if condition == "n_is":
            values[":v"] = {"N": str(spec["value"])}
    if spec["return_old"]:
        request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if values:
        request["ExpressionAttributeValues"] = values


_CHANGES = {"set_g": ("SET g = :g", ":g"), "remove_g": ("REMOVE g", None), "add_n": ("ADD n :one", ":one"),
            "increment_n": ("SET n = n + :one", ":one"), "set_r": ("SET r = :r", ":r")}


def action(table: str, shape: dict[str, Any], kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One action of a transaction, as the API takes it."""
    values: dict[str, Any] = {}
    if kind == "Put":
        request: dict[str, Any] = {"TableName": table, "Item": item(shape, spec["item"])}
    else:
        request = {"TableName": f"{table}-missing" if spec.get("missing_table") else table,
                   "Key": key(shape, spec["key"])}
    if kind == "Update":
        expression, placeholder = _CHANGES[spec["change"]]
        request["UpdateExpression"] = expression
        if placeholder is not None:
            values[placeholder] = {":g": {"S": spec["g"]}, ":one": {"N": "1"}, ":r": {"S": "2"}}[placeholder]
    _guard(request, spec, values)
    return {kind: request}


def answer(client: Any, actions: list[dict[str, Any]]) -> dict[str, Any]:
    """What the API answered: the response, or the error's code, message and cancellation reasons."""
    try:
        response = client.transact_write_items(TransactItems=actions)
    except ClientError as error:
        return {"Error": error.response["Error"], "CancellationReasons": error.response.get("CancellationReasons")}
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def contents(cloud: LocalCloud, region: str, table: str, shape: dict[str, Any]) -> dict[str, Any]:
    """Everything the API shows of ``table`` in ``region``: its items, its index answers, its stream records."""
    client = cloud.client("dynamodb", region)
    found: dict[str, Any] = {"items": client.scan(TableName=table, ConsistentRead=True)["Items"]}
    for value in VALUES:
        found[f"by_g {value}"] = client.query(TableName=table, IndexName="by_g", KeyConditionExpression="g = :g",
                                              ExpressionAttributeValues={":g": {"S": value}})["Items"]
    if shape["sort_key"]:
        for pk in PKS:
            found[f"local_r {pk}"] = client.query(
                TableName=table, IndexName="local_r", KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": pk}}, ConsistentRead=True)["Items"]
    if shape["stream"]:
        found["stream"] = stream_records(cloud, region, table)
    found["count"] = client.describe_table(TableName=table)["Table"]["ItemCount"]
    return found


def stream_records(cloud: LocalCloud, region: str, table: str) -> list[tuple[Any, ...]]:
    """The table's stream records from its start: (event, keys, new image, old image) each. Read from moto's
    backend: moto 5.2.5 answers DynamoDB Streams' DescribeStream with 404 "Not yet implemented" to this botocore."""
    shard = dynamodb_backends[cloud.account_id][region].get_table(table).stream_shard
    return [(change["eventName"], change["dynamodb"]["Keys"], change["dynamodb"].get("NewImage"),
             change["dynamodb"].get("OldImage")) for change in (record.to_json() for record in shard.items)]


@PROPERTY_SETTINGS
@given(shape=TABLES, transactions=TRANSACTIONS)
def test_transactions_answer_and_write_as_moto_with_its_table_copies(
    cloud: LocalCloud, shape: dict[str, Any], transactions: list[list[tuple[str, dict[str, Any]]]]
) -> None:
    table = f"txn-{next(_names)}"
    clients = {region: cloud.client("dynamodb", region) for region in (JOURNALED, COPYING)}
    for client in clients.values():
        create_table(client, table, shape)
        for spec in shape["items"]:
            client.put_item(TableName=table, Item=item(shape, spec))

    for transaction in transactions:
        actions = [action(table, shape, kind, spec) for kind, spec in transaction]
        journaled = answer(clients[JOURNALED], actions)
        with cloud.patches.dynamodb_transactions.moto_copies():
            copied = answer(clients[COPYING], actions)

        assert journaled == copied, actions
        event(_outcome(journaled))
        assert contents(cloud, JOURNALED, table, shape) == contents(cloud, COPYING, table, shape), actions


def _outcome(found: dict[str, Any]) -> str:
    """How a transaction ended, for hypothesis' statistics (``--hypothesis-show-statistics``)."""
    if "Error" not in found:
        return "committed"
    reasons = {reason["Code"] for reason in found["CancellationReasons"] or []} - {"None"}
    returned = any("Item" in reason for reason in found["CancellationReasons"] or [])
    return " ".join([found["Error"]["Code"], *sorted(reasons), *(["with Item"] if returned else [])])


# -- cancellations --------------------------------------------------------------------------------------------
SHAPE = {"sort_key": True, "stream": True}


def _seeded(cloud: LocalCloud) -> tuple[Any, str]:
    client = cloud.client("dynamodb")
    table = f"txn-{next(_names)}"
    create_table(client, table, SHAPE)
    for spec in ({"key": ("a", "1"), "g": "x", "r": "1", "n": 1}, {"key": ("a", "2"), "g": "y", "r": "2", "n": 2},
                 {"key": ("b", "1"), "g": "x", "r": "2", "n": None}, {"key": ("c", "2"), "g": None, "r": "1", "n": 2},
                 {"key": ("d", "1"), "g": "y", "r": "1", "n": 0}):
        client.put_item(TableName=table, Item=item(SHAPE, spec))
    return client, table


def _touching_everything(table: str, last_condition_holds: bool) -> list[dict[str, Any]]:
    """A new item, an overwrite, index keys moved and removed, a delete, an update that creates its item, then a
    check that may fail; the item ``d1`` is not touched."""
    return [
        action(table, SHAPE, "Put", {"item": {"key": ("c", "1"), "g": "y", "r": "1", "n": 0}, "condition": None,
                                     "value": 0, "return_old": False}),
        action(table, SHAPE, "Put", {"item": {"key": ("a", "1"), "g": "y", "r": "2", "n": 3}, "condition": "exists",
                                     "value": 0, "return_old": False}),
        action(table, SHAPE, "Update", {"key": ("a", "2"), "change": "remove_g", "g": "x", "condition": "n_is",
                                        "value": 2, "return_old": False}),
        action(table, SHAPE, "Delete", {"key": ("b", "1"), "condition": "exists", "value": 0, "return_old": False}),
        action(table, SHAPE, "Update", {"key": ("b", "2"), "change": "set_g", "g": "x", "condition": None,
                                        "value": 0, "return_old": False}),
        action(table, SHAPE, "ConditionCheck", {"key": ("c", "2"), "condition": "n_is",
                                                "value": 2 if last_condition_holds else 0, "return_old": True}),
    ]


def test_a_cancelled_transaction_leaves_every_touched_item_and_index_answer_as_it_was(cloud: LocalCloud) -> None:
    client, table = _seeded(cloud)
    before = contents(cloud, JOURNALED, table, SHAPE)
    moto_table = dynamodb_backends[cloud.account_id][cloud.region].get_table(table)
    untouched = moto_table.items[DynamoType({"S": "d"})][DynamoType({"S": "1"})]

    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(TransactItems=_touching_everything(table, last_condition_holds=False))

    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = cancelled.value.response["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None"] * 5 + ["ConditionalCheckFailed"]
    assert reasons[-1]["Item"]["n"] == {"N": "2"}  # ReturnValuesOnConditionCheckFailure: the item as it is
    assert contents(cloud, JOURNALED, table, SHAPE) == before
    assert dynamodb_backends[cloud.account_id][cloud.region].get_table(table) is moto_table  # no copy put back
    assert moto_table.items[DynamoType({"S": "d"})][DynamoType({"S": "1"})] is untouched


def test_the_same_transaction_commits_every_action_once_its_condition_holds(cloud: LocalCloud) -> None:
    client, table = _seeded(cloud)
    before = contents(cloud, JOURNALED, table, SHAPE)

    client.transact_write_items(TransactItems=_touching_everything(table, last_condition_holds=True))

    after = contents(cloud, JOURNALED, table, SHAPE)
    assert [entry["pk"]["S"] + entry["sk"]["S"] for entry in after["items"]] == ["a1", "a2", "b2", "c1", "c2", "d1"]
    assert after["by_g x"] == []  # a1 moved to y, b1 deleted; b2 has g but no r: not in the index
    assert sorted(entry["pk"]["S"] + entry["sk"]["S"] for entry in after["by_g y"]) == ["a1", "c1", "d1"]
    assert len(after["stream"]) > len(before["stream"])


def test_a_refusal_in_the_middle_of_a_transaction_undoes_the_actions_before_it(cloud: LocalCloud) -> None:
    client, table = _seeded(cloud)
    before = contents(cloud, JOURNALED, table, SHAPE)
    actions = _touching_everything(table, last_condition_holds=True)[:4]
    actions.append(action(table, SHAPE, "Update", {"key": ("b", "1"), "change": "set_g", "g": "x",
                                                   "condition": None, "value": 0, "return_old": False}))

    with pytest.raises(ClientError, match="multiple operations on one item"):
        client.transact_write_items(TransactItems=actions)

    assert contents(cloud, JOURNALED, table, SHAPE) == before


def test_a_cancelled_transaction_naming_its_table_by_arn_writes_nothing(cloud: LocalCloud) -> None:
    client, table = _seeded(cloud)
    arn = client.describe_table(TableName=table)["Table"]["TableArn"]
    before = client.scan(TableName=table, ConsistentRead=True)["Items"]
    actions = _touching_everything(arn, last_condition_holds=False)

    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(TransactItems=actions)

    assert client.scan(TableName=table, ConsistentRead=True)["Items"] == before


def test_more_than_100_actions_are_refused_and_write_nothing(cloud: LocalCloud) -> None:
    client, table = _seeded(cloud)
    before = client.scan(TableName=table, ConsistentRead=True)["Items"]
    actions = [{"Put": {"TableName": table, "Item": {"pk": {"S": f"p{i}"}, "sk": {"S": "1"}}}} for i in range(101)]

    with pytest.raises(ClientError) as refused:
        client.transact_write_items(TransactItems=actions)

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "100" in refused.value.response["Error"]["Message"]
    assert client.scan(TableName=table, ConsistentRead=True)["Items"] == before
