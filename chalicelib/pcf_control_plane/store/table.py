"""The state table's key schema and indexes, in one place, for boto3 and for CloudFormation.

``create_table`` builds it through a client (the local cloud, tests); ``cloudformation_resource`` returns
the same table as an ``AWS::DynamoDB::Table`` resource (on-demand, point-in-time recovery, retained).
See ``docs/state-store.md`` for the items and the access pattern each index serves.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pcf_control_plane.store.errors import StoreError

PK = "pk"
SK = "sk"
PCF_ID = "pcf_id"
DEPLOYMENT_KEY = "deployment_key"
RESOURCE_ID = "resource_id"
QUASIPARTICLE = "quasiparticle"
OBSERVED_AT = "observed_at"
STATE = "state"
CAUSE = "cause"
SPEC_SUMMARY = "spec_summary"
PURGE_AT = "purge_at"
"""The TTL attribute (epoch seconds): set on history items when history expires, on leases, and on every item of
a run partition (``R#<execution>``, 30 days)."""
WAIT_TOKEN = "wait_token"
WAIT_FOR = "wait_for"
WAIT_OWNER = "wait_owner"
WAIT_GENERATION = "wait_generation"
CONVERGED_BY = "converged_by"
"""On the observation item: the task token an execution waits on (written by its ``Await`` task), the state it
waits for, the execution, the generation it converges; and the execution that last converged the particle."""
WAIT_ATTRIBUTES = (WAIT_TOKEN, WAIT_FOR, WAIT_OWNER, WAIT_GENERATION)

BY_DEPLOYMENT = "by_deployment"
BY_RESOURCE = "by_resource"
BY_RESOURCE2 = "by_resource2"
"""``by_resource`` plus the wait (``docs/deploying.md``: added beside ``by_resource``, which a later deploy drops)."""
BY_QUASIPARTICLE = "by_quasiparticle"


def _key(hash_name: str, range_name: str | None = None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_name, "KeyType": "HASH"}]
    if range_name:
        schema.append({"AttributeName": range_name, "KeyType": "RANGE"})
    return schema


_ATTRIBUTES = [PK, SK, PCF_ID, DEPLOYMENT_KEY, RESOURCE_ID, QUASIPARTICLE]

_INDEXES: list[dict[str, Any]] = [
    # reconciliation: every spec + observation of a deployment (shard), sorted by pcf_id
    {
        "IndexName": BY_DEPLOYMENT,
        "KeySchema": _key(DEPLOYMENT_KEY, PCF_ID),
        "Projection": {"ProjectionType": "ALL"},
    },
    # EC2/EBS events: resource id -> the particle, its observation and spec summary, in one query (only
    # observation items carry resource_id; the snapshot is left out)
    {
        "IndexName": BY_RESOURCE,
        "KeySchema": _key(RESOURCE_ID),
        "Projection": {"ProjectionType": "INCLUDE",
                       "NonKeyAttributes": [PCF_ID, OBSERVED_AT, STATE, CAUSE, SPEC_SUMMARY]},
    },
    # the same, with the wait an execution's Await task armed: the event handler's one query returns both.
    # DynamoDB cannot change an index's projection, so this is a new index; by_resource goes in a later deploy.
    {
        "IndexName": BY_RESOURCE2,
        "KeySchema": _key(RESOURCE_ID),
        "Projection": {"ProjectionType": "INCLUDE",
                       "NonKeyAttributes": [PCF_ID, OBSERVED_AT, STATE, CAUSE, SPEC_SUMMARY, *WAIT_ATTRIBUTES]},
    },
    # quasiparticle membership (only spec items carry quasiparticle)
    {
        "IndexName": BY_QUASIPARTICLE,
        "KeySchema": _key(QUASIPARTICLE, PCF_ID),
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    },
]


def key_schema() -> dict[str, Any]:
    """AttributeDefinitions, KeySchema and GlobalSecondaryIndexes: the shape both outputs share."""
    return {
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in _ATTRIBUTES],
        "KeySchema": _key(PK, SK),
        "GlobalSecondaryIndexes": copy.deepcopy(_INDEXES),
    }


def create_table(
    client: Any,
    table_name: str,
    *,
    exist_ok: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 1.0,
    max_polls: int = 120,
) -> None:
    """Create the state table with ``client`` (a boto3 DynamoDB client), wait until active, switch TTL on."""
    try:
        try:
            client.create_table(TableName=table_name, BillingMode="PAY_PER_REQUEST", **key_schema())
        except ClientError as error:
            if exist_ok and error.response.get("Error", {}).get("Code") == "ResourceInUseException":
                return
            raise
        for _ in range(max_polls):
            if client.describe_table(TableName=table_name)["Table"]["TableStatus"] == "ACTIVE":
                break
            sleep(poll_seconds)
        else:
            raise StoreError(f"table {table_name} did not become ACTIVE")
        client.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": PURGE_AT}
        )
    except (ClientError, BotoCoreError) as error:
        raise StoreError(f"creating table {table_name} failed: {error}") from error


def cloudformation_resource(table_name: str | None = None) -> dict[str, Any]:
    """The table as a CloudFormation resource: on-demand, PITR on, TTL on ``purge_at``, kept on delete/replace."""
    properties: dict[str, Any] = {
        "BillingMode": "PAY_PER_REQUEST",
        **key_schema(),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "TimeToLiveSpecification": {"AttributeName": PURGE_AT, "Enabled": True},
    }
    if table_name:
        properties["TableName"] = table_name
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }
