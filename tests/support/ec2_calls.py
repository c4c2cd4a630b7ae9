"""Counting the EC2 operations a test makes, through a botocore hook on the cloud's client factory."""

from __future__ import annotations

from typing import Any


class Calls:
    """Names of the EC2 operations made through a cloud's clients (a botocore ``before-call`` hook)."""

    def __init__(self, cloud: Any) -> None:
        self.names: list[str] = []
        cloud.client_factory.add_hook(self._register)

    def _register(self, service: str, client: Any) -> None:
        if service == "ec2":
            client.meta.events.register("before-call.ec2", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def reset(self) -> None:
        self.names.clear()
