"""DynamoDB's item-bearing answers written as plain JSON instead of through moto's model-driven serializer.

moto 5 serializes every answer by walking the operation's output shape value by value; for the answers that
carry items (``GetItem``, ``BatchGetItem``, ``Query``, ``Scan``) that walk was a fifth of the local cloud's CPU in
the 100-particle makespan case (one ``BatchGetItem`` per visit). Their results reach the serializer as plain
Python (``DynamoResult`` converts moto's item objects: attribute values as ``{type: value}``, binary as raw
bytes), which is the wire format already: JSON with binary in base64, as DynamoDB sends it. The answer botocore
parses from it equals the one it parses from moto's serializer (``tests/local_cloud/test_dynamodb_answers.py``);
errors and every other operation keep moto's serializer.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from moto.core.responses import ActionResult
from moto.dynamodb.responses import DynamoHandler

from pcf_local_cloud.patchset import PatchSet

ITEM_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})
CONTENT_TYPE = "application/x-amz-json-1.0"
"""DynamoDB's JSON protocol, version 1.0 (its service model's ``jsonVersion``)."""


def _binary(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not part of a DynamoDB item answer")


def item_answer_body(result: Any) -> str:
    """The JSON body of an item-bearing answer: ``result`` as is, binary values in base64, no ``null`` members."""
    return json.dumps(_without_none(result), default=_binary, separators=(",", ":"))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_none(member) for key, member in value.items() if member is not None}
    if isinstance(value, list):
        return [_without_none(member) for member in value]
    return value


class ItemAnswers:
    """Installs the plain-JSON answers of :data:`ITEM_READS` on moto's DynamoDB handler."""

    def install(self, patches: PatchSet) -> None:
        original = DynamoHandler.serialized

        def serialized(handler: DynamoHandler, action_result: ActionResult) -> Any:
            result = action_result.result
            if isinstance(result, Exception) or handler.get_endpoint_name(handler.headers) not in ITEM_READS:
                return original(handler, action_result)
            headers = {"Content-Type": CONTENT_TYPE}
            headers.update(handler.response_headers)
            return 200, headers, item_answer_body(result)

        serialized.__doc__ = original.__doc__
        patches.replace(DynamoHandler, "serialized", serialized)
