"""The table's two outputs agree: what ``create_table`` builds is what the CloudFormation resource declares."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pcf_control_plane.store import StoreError
from pcf_control_plane.store.table import PURGE_AT, cloudformation_resource, create_table, key_schema
from tests.store.conftest import TABLE


def _index_shape(index: dict[str, Any]) -> dict[str, Any]:
    projection = dict(index["Projection"])
    if "NonKeyAttributes" in projection:
        projection["NonKeyAttributes"] = sorted(projection["NonKeyAttributes"])
    return {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"], "Projection": projection}


def _shape(properties: dict[str, Any]) -> dict[str, Any]:
    """The comparable part of a table: attributes, keys, and indexes (by name)."""
    return {
        "AttributeDefinitions": sorted(properties["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        "KeySchema": properties["KeySchema"],
        "GlobalSecondaryIndexes": sorted(
            (_index_shape(index) for index in properties["GlobalSecondaryIndexes"]), key=lambda i: i["IndexName"]
        ),
    }


def test_created_table_matches_the_cloudformation_resource(dynamodb_client: Any) -> None:
    described = dynamodb_client.describe_table(TableName=TABLE)["Table"]
    resource = cloudformation_resource(TABLE)
    properties = resource["Properties"]

    assert _shape(described) == _shape(properties)
    assert {index["IndexName"] for index in described["GlobalSecondaryIndexes"]} == {
        "by_deployment", "by_resource", "by_resource2", "by_quasiparticle"
    }
    assert described["BillingModeSummary"]["BillingMode"] == properties["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb_client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", PURGE_AT)
    assert properties["TimeToLiveSpecification"] == {"AttributeName": PURGE_AT, "Enabled": True}


def test_by_resource2_is_by_resource_plus_the_wait() -> None:
    indexes = {index["IndexName"]: index for index in key_schema()["GlobalSecondaryIndexes"]}
    old, new = indexes["by_resource"], indexes["by_resource2"]
    assert old["KeySchema"] == new["KeySchema"]
    old_attributes = set(old["Projection"]["NonKeyAttributes"])
    new_attributes = set(new["Projection"]["NonKeyAttributes"])
    assert new_attributes - old_attributes == {"wait_token", "wait_for", "wait_owner", "wait_generation"}
    assert old_attributes < new_attributes


def test_cloudformation_resource_is_durable() -> None:
    resource = cloudformation_resource()
    assert resource["Type"] == "AWS::DynamoDB::Table"
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
    assert resource["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "TableName" not in resource["Properties"]  # CloudFormation names it unless told
    assert cloudformation_resource("pcf-state")["Properties"]["TableName"] == "pcf-state"


def test_every_key_attribute_is_defined_and_used() -> None:
    schema = key_schema()
    defined = {attribute["AttributeName"] for attribute in schema["AttributeDefinitions"]}
    used = {key["AttributeName"] for key in schema["KeySchema"]}
    for index in schema["GlobalSecondaryIndexes"]:
        used |= {key["AttributeName"] for key in index["KeySchema"]}
    assert defined == used  # DynamoDB refuses definitions of attributes no key uses
    schema["GlobalSecondaryIndexes"].clear()
    assert key_schema()["GlobalSecondaryIndexes"], "key_schema() hands out copies"


def test_create_table_twice(dynamodb_client: Any) -> None:
    create_table(dynamodb_client, TABLE, exist_ok=True)
    with pytest.raises(StoreError, match="ResourceInUseException") as caught:
        create_table(dynamodb_client, TABLE)
    assert caught.value.__cause__ is not None


def test_create_table_waits_with_the_injected_sleep() -> None:
    statuses = iter(["CREATING", "CREATING", "ACTIVE"])
    slept: list[float] = []

    class SlowClient:
        def create_table(self, **_: Any) -> None:
            return None

        def describe_table(self, **_: Any) -> dict[str, Any]:
            return {"Table": {"TableStatus": next(statuses)}}

        def update_time_to_live(self, **kwargs: Any) -> None:
            assert kwargs["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": PURGE_AT}

    create_table(SlowClient(), TABLE, sleep=slept.append, poll_seconds=2.0)
    assert slept == [2.0, 2.0]


@pytest.mark.skipif(shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) is None, reason="no cfn-lint")
def test_cfn_lint_accepts_the_resource(tmp_path: Path) -> None:
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"StateTable": cloudformation_resource()}}
    path = tmp_path / "table.json"
    path.write_text(json.dumps(template))
    linter = str(Path(sys.executable).parent / "cfn-lint")
    result = subprocess.run([linter, str(path), "--regions", "us-east-1"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
