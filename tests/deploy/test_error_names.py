"""Every Retry and Catch of both state machines matches a name somebody really emits (``deploy.error_names``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from deploy.build_merge_template import MACHINES, definition
from deploy.error_names import APP_ERRORS, known_error_names
from pcf_control_plane import errors


def error_names(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """``(state path, name)`` of every ``ErrorEquals`` entry under ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ErrorEquals":
                yield from ((where, name) for name in value)
            else:
                yield from error_names(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from error_names(item, f"{where}[{index}]")


@pytest.mark.parametrize("key", list(MACHINES))
def test_every_retry_and_catch_names_a_known_error(key: str) -> None:
    used = list(error_names(definition(key)))
    assert used, f"{key}.asl.json has no Retry or Catch"
    unknown = [(where, name) for where, name in used if name not in known_error_names()]
    assert unknown == [], f"{key}.asl.json matches names nobody emits: {unknown}"


def test_the_app_names_are_exception_classes_the_handlers_can_raise() -> None:
    for name in APP_ERRORS:
        cls = getattr(errors, name, None)
        assert isinstance(cls, type) and issubclass(cls, Exception), f"{name}: no such exception in errors.py"


def test_the_retired_name_is_gone() -> None:
    """The SDK's exception class name, which the integration never reports."""
    names = {name for key in MACHINES for _, name in error_names(definition(key))}
    assert "StepFunctions.ExecutionLimitExceededException" not in names
    assert "StepFunctions.ExecutionLimitExceeded" in names


def test_a_name_nobody_emits_is_found() -> None:
    bad = {"States": {"A": {"Type": "Task", "Retry": [{"ErrorEquals": ["Lambda.Throttled"]}]}}}
    assert [name for _, name in error_names(bad) if name not in known_error_names()] == ["Lambda.Throttled"]
