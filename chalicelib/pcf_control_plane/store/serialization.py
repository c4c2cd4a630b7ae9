"""Python values <-> DynamoDB attribute values, with boto3's Type(De)Serializer.

DynamoDB numbers are decimals: a float goes in as ``Decimal(repr(f))`` (the shortest decimal that reads
back as the same float, and order-preserving), and a number comes out as ``int`` when it has no fraction
digits, else ``float``. DynamoDB may normalise ``1.0`` to ``1``; ``1 == 1.0`` in Python, so JSON-able
dicts compare equal after a round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def to_dynamo(value: Any) -> Any:
    """Floats (at any depth) to ``Decimal``; everything else as is."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {key: to_dynamo(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(item) for item in value]
    return value


def from_dynamo(value: Any) -> Any:
    """``Decimal`` (at any depth) to ``int`` or ``float``; everything else as is."""
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, dict):
        return {key: from_dynamo(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_dynamo(item) for item in value]
    return value


def serialize(value: Any) -> dict[str, Any]:
    """One attribute value in the low-level client's format (``{"S": ...}``, ``{"M": ...}``, ...)."""
    return _SERIALIZER.serialize(to_dynamo(value))


def serialize_item(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A whole item (``None`` attributes are left out: absent, not NULL)."""
    return {name: serialize(value) for name, value in item.items() if value is not None}


def deserialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item from the low-level client back to plain Python values."""
    return {name: from_dynamo(_DESERIALIZER.deserialize(value)) for name, value in item.items()}
