"""Fixtures of the flavor tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

Calls = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def api_calls(cloud: Any) -> Calls:
    """Every EC2 API call made through the cloud's client factory: (operation, parameters)."""
    calls: Calls = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, copy.deepcopy(params)))

    cloud.client_factory.add_hook(
        lambda service, client: client.meta.events.register("before-parameter-build.ec2", record)
    )
    return calls
