"""The one place boto3 clients are made: retrying config, per-region caching, injectable.

Particles never build clients themselves; they ask a ``ClientFactory``. The default factory is built
lazily on first use (no client exists at import time) and can be swapped for the local cloud or a test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5, read_timeout=30)

ClientHook = Callable[[str, Any], None]


class ClientFactory:
    """Makes and caches boto3 clients, one per (service, region), all with retries configured.

    Args:
        session: the boto3 session to use; a new default session when omitted.
        region_name: the region for clients whose caller names none.
        endpoint_url: send every call there (a local AWS emulator); ``None`` for AWS itself.
        config: botocore config; standard-mode retries by default.
        on_client_created: called with (service, client) for every new client, e.g. to register
            botocore event hooks that count API calls.
    """

    def __init__(
        self,
        session: boto3.Session | None = None,
        *,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        config: Config | None = None,
        on_client_created: ClientHook | None = None,
    ) -> None:
        self._session = session
        self._region_name = region_name
        self.endpoint_url = endpoint_url
        self._config = config or DEFAULT_RETRY_CONFIG
        self._hooks: list[ClientHook] = [on_client_created] if on_client_created else []
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            self._session = boto3.Session()
        return self._session

    @property
    def region_name(self) -> str:
        return self._region_name or self.session.region_name or "us-east-1"

    def add_hook(self, hook: ClientHook) -> None:
        """Register ``hook`` for clients made from now on, and call it for those already made."""
        with self._lock:
            self._hooks.append(hook)
            existing = list(self._clients.items())
        for (service, _region), client in existing:
            hook(service, client)

    def client(self, service: str, region_name: str | None = None) -> Any:
        """The cached client for ``service`` in ``region_name`` (the factory's region by default)."""
        region = region_name or self.region_name
        key = (service, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self.session.client(
                    service, region_name=region, endpoint_url=self.endpoint_url, config=self._config
                )
                self._clients[key] = client
                for hook in self._hooks:
                    hook(service, client)
        return client


_default_factory: ClientFactory | None = None
_default_lock = threading.Lock()


def get_default_factory() -> ClientFactory:
    """The process-wide factory, built on first use."""
    global _default_factory
    with _default_lock:
        if _default_factory is None:
            _default_factory = ClientFactory()
        return _default_factory


def set_default_factory(factory: ClientFactory | None) -> None:
    """Replace the process-wide factory (``None`` resets it to a fresh default on next use)."""
    global _default_factory
    with _default_lock:
        _default_factory = factory


@contextmanager
def use_client_factory(factory: ClientFactory) -> Iterator[ClientFactory]:
    """Make ``factory`` the default for the duration of the block."""
    global _default_factory
    with _default_lock:
        previous = _default_factory
        _default_factory = factory
    try:
        yield factory
    finally:
        with _default_lock:
            _default_factory = previous
