"""``$inherit$`` and ``$lookup$`` references inside definitions: parsing, finding, checking.

- ``$inherit$<flavor>:<pcf_name>$<Key.Nested>``: a value from a parent's current definition.
- ``$lookup$<kind>$<name>[:<name>…]``: an AWS id found by name in the particle's own region.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pcf.core.pcf_exceptions import InvalidValueReplaceException, ResourceLookupNotDefinedException
from pcf.util.pcf_util import walk_strings

INHERIT_PREFIX = "$inherit$"
LOOKUP_PREFIX = "$lookup$"

# lookup kind -> what it finds; aliases map to the original PCF names.
LOOKUP_KINDS: Mapping[str, str] = {
    "ami": "image id by image name",
    "image": "image id by image name",
    "subnet": "subnet id by Name tag",
    "security_groups": "security group ids by group name",
    "snapshot": "snapshot id by Name tag",
    "iam": "ARN of 'instance-profile:NAME' or 'role:NAME'",
    "instance_profile": "instance profile ARN by name",
    "instance_name": "the PCFName tag of an instance by instance id",
}


@dataclass(frozen=True)
class InheritRef:
    """A value taken from a parent's current state definition."""

    parent_pcf_id: str
    key_path: str


@dataclass(frozen=True)
class LookupRef:
    """An AWS id looked up by name."""

    kind: str
    names: tuple[str, ...]


Reference = InheritRef | LookupRef


def parse_reference(value: str, field: str = "") -> Reference | None:
    """The reference a string holds, ``None`` for an ordinary string; malformed references raise."""
    if value.startswith(INHERIT_PREFIX):
        body = value[len(INHERIT_PREFIX) :]
        parent, sep, key_path = body.partition("$")
        if not sep or ":" not in parent or not parent.split(":", 1)[1] or not key_path:
            raise InvalidValueReplaceException(
                field, f"malformed reference {value!r}: expected '$inherit$<flavor>:<pcf_name>$<Key.Path>'"
            )
        return InheritRef(parent_pcf_id=parent, key_path=key_path)
    if value.startswith(LOOKUP_PREFIX):
        body = value[len(LOOKUP_PREFIX) :]
        kind, sep, names = body.partition("$")
        if not sep or not names:
            raise ResourceLookupNotDefinedException(
                field, f"malformed reference {value!r}: expected '$lookup$<kind>$<name>'"
            )
        if kind not in LOOKUP_KINDS:
            raise ResourceLookupNotDefinedException(
                field, f"unknown lookup kind {kind!r}; known kinds: {', '.join(sorted(LOOKUP_KINDS))}"
            )
        return LookupRef(kind=kind, names=tuple(names.split(":")))
    return None


def dotted(path: tuple[str | int, ...]) -> str:
    """A path tuple as the dotted field name used in error messages."""
    return ".".join(str(p) for p in path)


def find_references(tree: Any, prefix: str = "") -> list[tuple[tuple[str | int, ...], Reference]]:
    """Every reference in ``tree`` with its path; raises on the first malformed one."""
    found = []
    for path, value in walk_strings(tree):
        field = f"{prefix}.{dotted(path)}" if prefix else dotted(path)
        ref = parse_reference(value, field)
        if ref is not None:
            found.append((path, ref))
    return found
