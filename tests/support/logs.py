"""What the app prints for CloudWatch: its Powertools Logger's JSON lines, captured for a test, and its EMF
metric documents."""

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


def emf_documents(text: str) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric documents among printed lines."""
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def metric_names(documents: list[dict[str, Any]]) -> set[str]:
    """Every metric name the documents publish."""
    return {metric["Name"] for doc in documents for directive in doc["_aws"]["CloudWatchMetrics"]
            for metric in directive["Metrics"]}
