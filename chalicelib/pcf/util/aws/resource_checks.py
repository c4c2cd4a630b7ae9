"""Offline checks of an ``aws_resource`` against what its flavor declares and AWS's model: the region, the
parameter names (closest suggested), their types, enums and ranges, the ``custom_config`` keys, and names
that become tags. Run when a particle is built, before any AWS call."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pcf.core.pcf_exceptions import InvalidConfigException, InvalidUniqueKeysException
from pcf.core.printable import unprintable_reason
from pcf.util.aws import shapes
from pcf.util.pcf_util import get_path

FRAMEWORK_KEYS = frozenset({"custom_config", "region_name"})


def check_aws_resource(flavor: type[Any], service: str | None, aws_resource: Mapping[str, Any], prefix: str) -> None:
    """Raise ``InvalidConfigException`` naming the field of the first problem of ``aws_resource``."""
    if service:
        _check_region(service, aws_resource.get("region_name"), f"{prefix}.region_name")
    operation = getattr(flavor, "CREATE_OPERATION", None)
    if service and operation:
        allowed = set(getattr(flavor, "START_PARAM_FILTER", ()))
        not_passed = f"is not a {operation} parameter {flavor.flavor} passes"
        _check_keys(aws_resource, allowed | FRAMEWORK_KEYS, prefix, not_passed)
        params = {key: value for key, value in aws_resource.items() if key in allowed}
        problem = shapes.parameter_problem(shapes.operation_input(service, operation), params)
        if problem:
            raise InvalidConfigException(f"{prefix}.{problem[0]}", problem[1])
    config = aws_resource.get("custom_config")
    if not isinstance(config, Mapping):
        raise InvalidConfigException(f"{prefix}.custom_config", "must be a mapping")
    known = getattr(flavor, "CUSTOM_CONFIG_KEYS", None)
    if known is not None:
        _check_keys(config, set(known), f"{prefix}.custom_config", f"is not a custom_config setting of {flavor.flavor}")
    for key in getattr(flavor, "UNIQUE_KEYS", ()):
        value = get_path({"aws_resource": aws_resource}, key)
        reason = unprintable_reason(value) if isinstance(value, str) else None
        if reason:
            raise InvalidUniqueKeysException(f"{prefix.rsplit('.aws_resource', 1)[0]}.{key}", reason)


def _check_region(service: str, region: Any, field: str) -> None:
    if region is None or shapes.is_reference(region):
        return
    if not isinstance(region, str) or region not in shapes.known_regions(service):
        close = difflib.get_close_matches(str(region), sorted(shapes.known_regions(service)), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InvalidConfigException(field, f"{region!r} is not a region where AWS offers {service}{hint}")


def _check_keys(mapping: Mapping[str, Any], allowed: set[str], prefix: str, reason: str) -> None:
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(allowed))})"
            raise InvalidConfigException(f"{prefix}.{key}", f"{reason}{hint}")
