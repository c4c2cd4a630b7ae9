"""``ClientToken`` idempotency for ``RunInstances`` and ``CreateVolume``, which moto ignores.

As EC2 documents: a repeat of a successful call with the same token (same account and region) returns
the original resource and creates nothing; the same token with different parameters fails with
``IdempotentParameterMismatch``. A call that failed records nothing, so it can be retried. ``DryRun``
calls are passed through untouched.

Patched (moto's EC2 response handlers, i.e. the API boundary, so a moto server process gets them too):
``InstanceResponse.run_instances`` and ``ElasticBlockStore.create_volume``.

Tokens are kept on moto's per-(account, region) EC2 backend object, so they vanish with it when moto
resets (a new ``mock_aws``, or ``POST /moto-api/reset`` on a server).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.responses import EC2Response

from pcf_local_cloud.errors import idempotent_parameter_mismatch
from pcf_local_cloud.moto_private import request_param
from pcf_local_cloud.patchset import PatchSet, defining_class

STORE_ATTR = "_pcf_client_tokens"
IDEMPOTENT_ACTIONS = ("run_instances", "create_volume")
_NOT_COMPARED = frozenset({"ClientToken", "DryRun", "Action", "Version"})


class _Record:
    __slots__ = ("fingerprint", "resource")

    def __init__(self, fingerprint: str, resource: object) -> None:
        self.fingerprint = fingerprint
        self.resource = resource


class TokenStore:
    """The tokens seen by one EC2 backend: (action, token) → the first call's parameters and result."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}
        self.records: dict[tuple[str, str], _Record] = {}

    def lock_for(self, key: tuple[str, str]) -> threading.Lock:
        """One lock per token, so that concurrent calls with one token create one resource."""
        with self._guard:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = self._key_locks[key] = threading.Lock()
            return lock


def token_store(backend: Any) -> TokenStore:
    """The store kept on ``backend`` (a moto EC2 backend), made on first use."""
    store = backend.__dict__.get(STORE_ATTR)
    if store is None:
        store = backend.__dict__.setdefault(STORE_ATTR, TokenStore())
    return store


def request_fingerprint(response: Any) -> str:
    """The request's parameters, minus the token and ``DryRun``, as a canonical string."""
    params = getattr(response, "params", None)
    if not isinstance(params, Mapping) or not params:
        params = response.querystring
    compared = {key: value for key, value in params.items() if key not in _NOT_COMPARED}
    return json.dumps(compared, sort_keys=True, default=str)


class ClientTokens:
    """Installs the ``ClientToken`` patches."""

    def install(self, patches: PatchSet) -> None:
        """Wrap the response handlers named in ``IDEMPOTENT_ACTIONS``; undone by ``patches.restore()``."""
        for action in IDEMPOTENT_ACTIONS:
            owner = defining_class(EC2Response, action)
            patches.replace(owner, action, _make_idempotent(vars(owner)[action], action))


def _make_idempotent(original: Callable[[Any], Any], action: str) -> Callable[[Any], Any]:
    def idempotent(response: Any) -> Any:
        token = request_param(response, "ClientToken")
        if not token or request_param(response, "DryRun"):
            return original(response)
        store = token_store(response.ec2_backend)
        key = (action, str(token))
        fingerprint = request_fingerprint(response)
        with store.lock_for(key):
            record = store.records.get(key)
            if record is not None:
                if record.fingerprint != fingerprint:
                    raise idempotent_parameter_mismatch()
                return ActionResult(record.resource)
            result = original(response)
            store.records[key] = _Record(fingerprint, result.result)
            return result

    idempotent.__name__ = original.__name__
    idempotent.__doc__ = original.__doc__
    return idempotent
