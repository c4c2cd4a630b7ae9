"""A callback target for tests: records every call's keyword arguments."""

from __future__ import annotations

from typing import Any

CALLS: list[dict[str, Any]] = []


def record_call(**kwargs: Any) -> None:
    CALLS.append(kwargs)
