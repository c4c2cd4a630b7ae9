"""Configuration drift: the fields of a resource that no longer match its stored definition.

Each flavor compares with its own rule (``described_differences``: the comparison its ``sync_state`` path makes,
over the fields a ``describe_*`` call shows), so reconciliation and an apply agree on what drifted. Values still
to be resolved (``$inherit$``, ``$lookup$``) are left to the apply that resolves them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pcf.core.registry import get_particle_flavor

Difference = tuple[Any, Any]
"""``(desired, actual)``."""


def unresolved(value: Any) -> bool:
    """Does ``value`` still hold a reference resolved only at apply time (``$inherit$``, ``$lookup$``)?"""
    text = repr(value)
    return "$inherit$" in text or "$lookup$" in text


def config_differences(
    flavor: str, definition: Mapping[str, Any], resource: Mapping[str, Any]
) -> dict[str, Difference]:
    """The drifted fields of ``resource`` (an EC2 description) against ``definition``, by field name; ``{}`` for a
    flavor that declares no ``described_differences``."""
    compare = getattr(get_particle_flavor(flavor), "described_differences", None)
    if compare is None:
        return {}
    found: dict[str, Difference] = compare(definition, resource)
    return {field: diff for field, diff in found.items() if not unresolved(diff[0])}
