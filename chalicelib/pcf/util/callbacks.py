"""Callbacks after transitions: a Python callable, or the name of a function the deployment registered on
purpose. A definition is data: it may name a callback, never choose code to run.

A name (``"package.module:function"``, or an entry point's name) is allowed when it is
- in the stage's allow-list, the environment variable ``PCF_CALLBACKS`` (comma-separated names, set per stage
  in ``.chalice/config.json``; the CLI adds its stage's list with ``allow_callbacks``);
- an entry point of the ``pcf.callbacks`` group of an installed package (its name or its ``module:function``);
- registered in Python with ``register_callback``.
Anything else is refused by name, without importing it: importing a module named by a definition would run it.
"""

from __future__ import annotations

import functools
import importlib
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar

from pcf.core.pcf_exceptions import NoCallbackFunctionException

ENTRY_POINT_GROUP = "pcf.callbacks"
ALLOW_LIST_VARIABLE = "PCF_CALLBACKS"
HOW_TO_REGISTER = (f"register it ({ALLOW_LIST_VARIABLE} in the stage's configuration, the {ENTRY_POINT_GROUP} "
                   "entry points, or pcf.util.callbacks.register_callback) or pass a Python callable")
F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_registered: dict[str, Callable[..., Any]] = {}
_allowed: set[str] = set()


def register_callback(function: F | str | None = None, name: str | None = None) -> Any:
    """Allow ``function`` as a callback, under ``name`` and under ``"module:qualname"``; usable as a decorator
    (``@register_callback``, ``@register_callback("notify")``) or called (``register_callback(notify, "notify")``)."""

    def register(target: F) -> F:
        with _lock:
            _registered[f"{target.__module__}:{target.__qualname__}"] = target
            if name:
                _registered[name] = target
        return target

    if isinstance(function, str):  # @register_callback("notify")
        function, name = None, function
    return register(function) if function is not None else register


def unregister_callback(name: str | Callable[..., Any]) -> None:
    """Forget a callback registered under ``name``, or a function under every name it has (no error when there
    is none)."""
    with _lock:
        if isinstance(name, str):
            _registered.pop(name, None)
        else:
            for key in [key for key, target in _registered.items() if target is name]:
                del _registered[key]


def allow_callbacks(names: Iterable[str]) -> None:
    """Allow these ``"module:function"`` names (the CLI's stage allow-list)."""
    with _lock:
        _allowed.update(name.strip() for name in names if name.strip())


def disallow_callbacks(names: Iterable[str]) -> None:
    """Take names back from ``allow_callbacks``."""
    with _lock:
        _allowed.difference_update(names)


def parse_allow_list(value: str | None) -> list[str]:
    """The names of a ``PCF_CALLBACKS`` value."""
    return [name.strip() for name in (value or "").split(",") if name.strip()]


@functools.cache
def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found[entry.name] = entry
        found[entry.value] = entry
        match = entry.pattern.match(entry.value)
        if match and match.group("attr"):  # the value without spaces or extras
            found[f"{match.group('module')}:{match.group('attr')}"] = entry
    return found


def is_allowed(name: str) -> bool:
    """Whether a definition may name ``name`` as a callback (decided from names alone)."""
    with _lock:
        if name in _registered or name in _allowed:
            return True
    return name in parse_allow_list(os.environ.get(ALLOW_LIST_VARIABLE)) or name in _entry_points()


def check_callback(function: Any, field: str) -> None:
    """A callable, or an allowed name; otherwise ``NoCallbackFunctionException(field, reason)``."""
    if callable(function):
        return
    if not isinstance(function, str) or not function:
        raise NoCallbackFunctionException(field, f"must be a callable or a registered name, not {function!r}")
    if not is_allowed(function):
        raise NoCallbackFunctionException(field, f"{function!r} is not a registered callback; {HOW_TO_REGISTER}")


def resolve_callable(function: Callable[..., Any] | str, field: str) -> Callable[..., Any]:
    """The callable itself, or the registered function ``function`` names (imported only now, and only when
    allowed)."""
    check_callback(function, field)
    if callable(function):
        return function
    with _lock:
        registered = _registered.get(function)
    if registered is not None:
        return registered
    entry = _entry_points().get(function)
    try:
        target = entry.load() if entry is not None else _import(function)
    except (ImportError, AttributeError, ValueError) as error:
        raise NoCallbackFunctionException(field, f"cannot import {function!r}: {error}") from None
    if not callable(target):
        raise NoCallbackFunctionException(field, f"{function!r} is not callable")
    return target


def _import(name: str) -> Any:
    module_name, sep, attribute = name.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError("expected 'package.module:function'")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def run_callback(spec: Mapping[str, Any] | None, particle: Any, field: str) -> Any:
    """Call the callback ``spec`` (``{"function": …, "kwargs": {…}}``); ``kwargs["particle"]`` gets the particle."""
    if not spec:
        return None
    named: Any = spec.get("function")  # check_callback refuses anything but a callable or a registered name
    function = resolve_callable(named, f"{field}.function")
    kwargs = dict(spec.get("kwargs") or {})
    if "particle" in kwargs:
        kwargs["particle"] = particle
    return function(**kwargs)
