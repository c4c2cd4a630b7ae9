"""The JSON lines the app's Powertools Logger writes, captured for a test."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import app as chalice_app


@contextmanager
def captured_log_lines() -> Iterator[list[dict[str, Any]]]:
    """Every line the app logs inside the block, parsed, in a list that fills as they are written."""
    handler = chalice_app.logger.registered_handler
    buffer = io.StringIO()
    lines: list[dict[str, Any]] = []
    before = handler.setStream(buffer)
    try:
        yield lines
    finally:
        handler.setStream(before)
        lines.extend(json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{"))
