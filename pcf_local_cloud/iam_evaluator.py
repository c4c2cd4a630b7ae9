"""IAM identity-policy evaluation with AWS's semantics, for one account and identity policies only.

An explicit ``Deny`` wins; otherwise any ``Allow`` that matches the action, the resource and every condition
allows; otherwise the request is implicitly denied. Actions match case-insensitively, resources
case-sensitively, both with ``*`` and ``?``; ``NotAction``/``NotResource`` invert the match. Conditions: every
operator block and every key in it must hold (AND), any of a key's values may match (OR); the String, Arn, Bool,
Numeric and Null operators, their ``...IfExists`` forms, and the ``ForAllValues:``/``ForAnyValue:`` set
prefixes; condition key names are case-insensitive. A missing key fails a positive operator (``IfExists``
passes) and an unknown operator fails its statement. Policy variables are not expanded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any


@dataclass(frozen=True)
class AuthRequest:
    """One request AWS authorizes: an action on a resource (``*`` where the action has no resource-level
    permissions), with the condition keys the call brings."""

    action: str
    resource: str
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """Whether the request is allowed, and why (AWS's wording where it has one)."""

    allowed: bool
    reason: str


def evaluate(policies: Sequence[Mapping[str, Any]], request: AuthRequest) -> Decision:
    """The decision of ``policies`` (identity policy documents) on ``request``."""
    context = {key.lower(): value for key, value in request.context.items()}
    allowed_by: str | None = None
    misses: list[str] = []
    for statement in _statements(policies):
        if not (_action_matches(statement, request.action) and _resource_matches(statement, request.resource)):
            continue
        unmet = _unmet_condition(statement.get("Condition") or {}, context)
        if statement.get("Effect") == "Deny" and unmet is None:
            return Decision(False, f"an explicit deny in an identity-based policy ({_name(statement)})")
        if statement.get("Effect") == "Allow":
            if unmet is None:
                allowed_by = allowed_by or _name(statement)
            else:
                misses.append(f"{_name(statement)}: {unmet}")
    if allowed_by is not None:
        return Decision(True, f"allowed by {allowed_by}")
    detail = f" (conditions not met: {'; '.join(misses)})" if misses else ""
    return Decision(False, f"no identity-based policy allows the {request.action} action{detail}")


def _statements(policies: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    for policy in policies:
        statements = policy.get("Statement") or []
        found.extend([statements] if isinstance(statements, Mapping) else statements)
    return found


def _name(statement: Mapping[str, Any]) -> str:
    return f"statement {statement['Sid']!r}" if statement.get("Sid") else "a statement without Sid"


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(item) for item in value]


@cache
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    """``*`` and ``?`` as IAM reads them (no character classes)."""
    text = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in glob)
    return re.compile(f"^{text}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _matches(glob: str, value: str, *, ignore_case: bool) -> bool:
    return _pattern(glob, ignore_case).match(value) is not None


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_matches(glob, action, ignore_case=True) for glob in _listed(statement["NotAction"]))
    return any(_matches(glob, action, ignore_case=True) for glob in _listed(statement.get("Action")))


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(_arn_like(glob, resource) for glob in _listed(statement["NotResource"]))
    return any(_arn_like(glob, resource) for glob in _listed(statement.get("Resource")))


def _arn_like(glob: str, value: str) -> bool:
    """ARN matching: ``*`` alone matches everything; otherwise each of the six colon-separated parts matches
    its own pattern (a part's wildcard does not cross a colon, the resource part may hold colons)."""
    if glob == "*":
        return True
    globs, values = glob.split(":", 5), value.split(":", 5)
    if len(globs) != 6 or len(values) != 6:
        return _matches(glob, value, ignore_case=False)
    return all(_matches(g, v, ignore_case=False) for g, v in zip(globs, values, strict=True))


# -- conditions ---------------------------------------------------------------------------------------------
def _string_equals(expected: str, actual: str) -> bool:
    return expected == actual


def _string_equals_ignore_case(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


def _string_like(expected: str, actual: str) -> bool:
    return _matches(expected, actual, ignore_case=False)


def _bool(expected: str, actual: str) -> bool:
    return str(expected).lower() == str(actual).lower()


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def check(expected: str, actual: str) -> bool:
        try:
            return compare(float(actual), float(expected))
        except ValueError:
            return False

    return check


_POSITIVE: dict[str, Callable[[str, str], bool]] = {
    "stringequals": _string_equals,
    "stringequalsignorecase": _string_equals_ignore_case,
    "stringlike": _string_like,
    "arnequals": _arn_like,
    "arnlike": _arn_like,
    "bool": _bool,
    "numericequals": _numeric(lambda a, e: a == e),
    "numericlessthan": _numeric(lambda a, e: a < e),
    "numericlessthanequals": _numeric(lambda a, e: a <= e),
    "numericgreaterthan": _numeric(lambda a, e: a > e),
    "numericgreaterthanequals": _numeric(lambda a, e: a >= e),
}
_NEGATED: dict[str, str] = {
    "stringnotequals": "stringequals",
    "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike",
    "arnnotequals": "arnequals",
    "arnnotlike": "arnlike",
    "numericnotequals": "numericequals",
}


def _unmet_condition(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, Any]) -> str | None:
    """``None`` when every condition holds, else a short description of the first that does not."""
    for operator, block in conditions.items():
        for key, expected in block.items():
            holds = _holds(operator, _listed(expected), context.get(key.lower()))
            if holds is None:
                return f"unknown condition operator {operator}"
            if not holds:
                return f"{operator} {key}"
    return None


def _holds(operator: str, expected: list[str], actual: Any) -> bool | None:
    """Whether ``operator`` holds for the context value ``actual`` (``None``: the key is absent);
    ``None`` for an unknown operator."""
    name = operator.lower()
    set_prefix = ""
    for prefix in ("forallvalues:", "foranyvalue:"):
        if name.startswith(prefix):
            set_prefix, name = prefix, name[len(prefix):]
    if_exists = name.endswith("ifexists")
    name = name.removesuffix("ifexists")
    if name == "null":
        return (actual is None) == _bool(expected[0] if expected else "true", "true")
    negated = name in _NEGATED
    compare = _POSITIVE.get(_NEGATED.get(name, name))
    if compare is None:
        return None
    if actual is None:
        return True if (if_exists or set_prefix == "forallvalues:") else negated
    values = _listed(actual)
    if set_prefix == "forallvalues:":
        return all(_one(compare, expected, value, negated) for value in values)
    return any(_one(compare, expected, value, negated) for value in values) if values else negated


def _one(compare: Callable[[str, str], bool], expected: list[str], value: str, negated: bool) -> bool:
    matched = any(compare(item, value) for item in expected)
    return not matched if negated else matched

