"""Callbacks after transitions: resolve ``"module:attribute"`` names and call them."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from pcf.core.pcf_exceptions import NoCallbackFunctionException


def resolve_callable(function: Callable[..., Any] | str, field: str) -> Callable[..., Any]:
    """The callable itself, or the one a ``"package.module:attribute"`` string names."""
    if callable(function):
        return function
    if not isinstance(function, str) or ":" not in function:
        raise NoCallbackFunctionException(field, "must be a callable or 'package.module:function'")
    module_name, _, attribute = function.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise NoCallbackFunctionException(field, f"cannot import {function!r}: {error}") from None
    if not callable(target):
        raise NoCallbackFunctionException(field, f"{function!r} is not callable")
    return target


def run_callback(spec: Mapping[str, Any] | None, particle: Any, field: str) -> Any:
    """Call the callback ``spec`` (``{"function": …, "kwargs": {…}}``); ``kwargs["particle"]`` gets the particle."""
    if not spec:
        return None
    function = resolve_callable(spec.get("function"), f"{field}.function")
    kwargs = dict(spec.get("kwargs") or {})
    if "particle" in kwargs:
        kwargs["particle"] = particle
    return function(**kwargs)
