"""The plain-JSON item answers parse, in botocore, to exactly what moto's own serializer's answers parse to."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser
from moto.core.responses import BaseResponse
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.responses import DynamoHandler, DynamoResult

from pcf_local_cloud.dynamodb_answers import ITEM_READS, ItemAnswers
from pcf_local_cloud.patchset import PatchSet

SERVICE = botocore.session.get_session().get_service_model("dynamodb")

RICH = {
    "pk": {"S": "particle#1"}, "n": {"N": "-12.5"}, "b": {"B": b"\x00\xffbinary"}, "yes": {"BOOL": True},
    "no": {"BOOL": False}, "nothing": {"NULL": True}, "strings": {"SS": ["a", "b"]}, "numbers": {"NS": ["1", "2.5"]},
    "blobs": {"BS": [b"\x01", b"\x02\x03"]}, "empty": {"S": ""},
    "list": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"deep": {"L": [{"B": b"\x04"}, {"NULL": True}]}}}]},
    "map": {"M": {"spec": {"M": {"desired": {"S": "running"}, "tags": {"M": {}}}}, "none": {"L": []}}},
}


def item() -> dict[str, DynamoType]:
    """``RICH`` as moto holds it: binary values base64-encoded inside DynamoType, as moto stores them."""
    return {name: DynamoType(_stored(value)) for name, value in RICH.items()}


def _stored(value: Any) -> Any:
    import base64

    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: _stored(member) for key, member in value.items()}
    if isinstance(value, list):
        return [_stored(member) for member in value]
    return value


RESULTS: dict[str, dict[str, Any]] = {
    "GetItem": {"Item": item()},
    "BatchGetItem": {"Responses": {"state": [item(), item()]}, "UnprocessedKeys": {}, "ConsumedCapacity": []},
    "Query": {"Count": 1, "ScannedCount": 3, "Items": [item()], "LastEvaluatedKey": {"pk": DynamoType({"S": "k"})}},
    "Scan": {"Count": 0, "ScannedCount": 0, "Items": []},
}


@pytest.fixture
def patched() -> Iterator[None]:
    patches = PatchSet()
    ItemAnswers().install(patches)
    try:
        yield
    finally:
        patches.restore()


def handler_for(operation: str) -> DynamoHandler:
    handler = DynamoHandler()
    handler.headers = {"X-Amz-Target": f"DynamoDB_20120810.{operation}"}
    handler.querystring = {}
    handler.response_headers = {"server": "amazon.com"}
    return handler


def parsed(operation: str, answer: tuple[int, dict[str, str], str]) -> dict[str, Any]:
    status, headers, body = answer
    found = create_parser("json").parse({"status_code": status, "headers": headers, "body": body.encode()},
                                        SERVICE.operation_model(operation).output_shape)
    found.pop("ResponseMetadata", None)
    return dict(found)


@pytest.mark.parametrize("operation", sorted(ITEM_READS))
def test_an_item_answer_parses_as_moto_serializes_it(patched: None, operation: str) -> None:
    fast = DynamoHandler.serialized(handler_for(operation), DynamoResult(RESULTS[operation]))
    moto = BaseResponse.serialized(handler_for(operation), DynamoResult(RESULTS[operation]))
    assert DynamoHandler.serialized is not BaseResponse.serialized
    assert fast[0] == moto[0] == 200
    assert fast[1]["Content-Type"] == moto[1]["Content-Type"]
    assert parsed(operation, fast) == parsed(operation, moto)


def test_binary_comes_back_as_the_bytes_written(patched: None) -> None:
    answer = parsed("GetItem", DynamoHandler.serialized(handler_for("GetItem"), DynamoResult(RESULTS["GetItem"])))
    assert answer["Item"]["b"] == {"B": b"\x00\xffbinary"}
    assert answer["Item"]["blobs"] == {"BS": [b"\x01", b"\x02\x03"]}


def test_other_operations_keep_moto_s_serializer(patched: None) -> None:
    answer = DynamoHandler.serialized(handler_for("DescribeLimits"), DynamoResult({
        "AccountMaxReadCapacityUnits": 1, "AccountMaxWriteCapacityUnits": 2,
        "TableMaxReadCapacityUnits": 3, "TableMaxWriteCapacityUnits": 4, "NotAMember": "dropped"}))
    assert "NotAMember" not in answer[2]  # moto's serializer keeps only the output shape's members
