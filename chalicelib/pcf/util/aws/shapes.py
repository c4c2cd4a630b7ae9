"""What AWS's own API models say about a definition, read offline from botocore's data: parameter names,
types, enums and ranges of a call (``RunInstances``), the fields of what a describe call returns (an
``Instance``), and the regions a service is offered in. No AWS call, no credentials.

Values that are ``$inherit$``/``$lookup$`` references are skipped: they are only known while applying.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape

REFERENCE_PREFIXES = ("$inherit$", "$lookup$")
_NUMBER_TYPES = ("integer", "long")
_MAX_ENUM_SHOWN = 8
OPEN_ENUM_SIZE = 100
"""Enums at least this long (instance types) grow with every AWS release: a value outside them is let through,
so a type newer than botocore's data still works."""


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def _service_model(service: str) -> Any:
    return _session().get_service_model(service)


def operation_input(service: str, operation: str) -> StructureShape:
    """The input shape of ``service``'s ``operation`` (``"ec2"``, ``"RunInstances"``)."""
    shape = _service_model(service).operation_model(operation).input_shape
    assert isinstance(shape, StructureShape)
    return shape


def shape_named(service: str, name: str) -> Shape:
    """The shape ``name`` of ``service``'s model (``"Instance"``)."""
    return _service_model(service).shape_for(name)


@functools.cache
def known_regions(service: str) -> frozenset[str]:
    """Every region of every partition botocore knows ``service`` in."""
    session = _session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions(service, partition_name=partition)
    )


def is_reference(value: Any) -> bool:
    """A ``$inherit$`` or ``$lookup$`` string."""
    return isinstance(value, str) and value.startswith(REFERENCE_PREFIXES)


def parameter_problem(shape: Shape, value: Any, path: str = "") -> tuple[str, str] | None:
    """``(dotted path, reason)`` of the first value that ``shape`` refuses (unknown member, wrong type,
    value outside the enum or range), or ``None``. Missing required members are not reported: the flavor
    says what it needs to act."""
    if is_reference(value):
        return None
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        if not isinstance(value, Mapping):
            return path, f"must be a mapping, not {_kind_of(value)}"
        for key, item in value.items():
            if key not in shape.members:
                close = difflib.get_close_matches(str(key), list(shape.members), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                return _join(path, str(key)), f"is not a field of {shape.name}{hint}"
            found = parameter_problem(shape.members[key], item, _join(path, str(key)))
            if found:
                return found
        return None
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return path, f"must be a list, not {_kind_of(value)}"
        for index, item in enumerate(value):
            found = parameter_problem(shape.member, item, _join(path, str(index)))
            if found:
                return found
        return _length_problem(shape, value, path)
    if isinstance(shape, MapShape):
        if not isinstance(value, Mapping):
            return path, f"must be a mapping, not {_kind_of(value)}"
        for key, item in value.items():
            found = parameter_problem(shape.value, item, _join(path, str(key)))
            if found:
                return found
        return None
    return _scalar_problem(shape, kind, value, path)


def _scalar_problem(shape: Shape, kind: str, value: Any, path: str) -> tuple[str, str] | None:
    if kind == "string":
        if not isinstance(value, str):
            return path, f"must be a string, not {_kind_of(value)}"
        enum = list(getattr(shape, "enum", None) or [])
        if enum and value not in enum and len(enum) < OPEN_ENUM_SIZE:
            close = difflib.get_close_matches(value, enum, n=1)
            hint = f"did you mean {close[0]!r}?" if close else _listed(enum)
            return path, f"{value!r} is not a value AWS accepts here; {hint}"
        return _length_problem(shape, value, path)
    if kind in _NUMBER_TYPES:
        if not isinstance(value, int) or isinstance(value, bool):
            return path, f"must be a whole number, not {_kind_of(value)}"
        return _range_problem(shape, value, path)
    if kind in ("double", "float"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return path, f"must be a number, not {_kind_of(value)}"
        return _range_problem(shape, value, path)
    if kind == "boolean" and not isinstance(value, bool):
        return path, f"must be true or false, not {_kind_of(value)}"
    if kind == "blob" and not isinstance(value, str | bytes):
        return path, f"must be a string, not {_kind_of(value)}"
    if kind == "timestamp" and not isinstance(value, str | int | float):
        return path, f"must be a timestamp, not {_kind_of(value)}"
    return None


def _range_problem(shape: Shape, value: float, path: str) -> tuple[str, str] | None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        return path, f"{value} is below the least value AWS accepts, {low}"
    if high is not None and value > high:
        return path, f"{value} is above the greatest value AWS accepts, {high}"
    return None


def _length_problem(shape: Shape, value: str | list[Any], path: str) -> tuple[str, str] | None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        return path, f"is shorter than the {low} AWS requires"
    if high is not None and len(value) > high:
        return path, f"is longer than the {high} AWS accepts"
    return None


def field_path_problem(shape: Shape, key_path: str, extra_fields: frozenset[str] = frozenset()) -> str | None:
    """Why ``key_path`` (``Placement.AvailabilityZone``, ``NetworkInterfaces.0.PrivateIpAddress``) names no
    field of ``shape``, or ``None`` when it does. ``extra_fields`` are top-level keys the flavor adds."""
    parts = key_path.split(".")
    if parts[0] in extra_fields:
        return None
    current: Shape = shape
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or shape.name
        if isinstance(current, StructureShape):
            if part not in current.members and not (depth == 0 and part in extra_fields):
                close = difflib.get_close_matches(part, list(current.members), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                return f"{where} has no field {part!r}{hint}"
            current = current.members[part]
        elif isinstance(current, ListShape):
            if not part.isdigit():
                return f"{where} is a list: expected an index, not {part!r}"
            current = current.member
        elif isinstance(current, MapShape):
            current = current.value
        else:
            return f"{where} is a {current.type_name}, with no field {part!r}"
    return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind_of(value: Any) -> str:
    text = repr(value)
    shown = text if len(text) <= 30 else f"{text[:27]}..."
    return f"{type(value).__name__} {shown}"


def _listed(values: list[str]) -> str:
    shown = ", ".join(values[:_MAX_ENUM_SHOWN])
    more = f", … ({len(values)} in all)" if len(values) > _MAX_ENUM_SHOWN else ""
    return f"one of {shown}{more}"
