"""``ClientRequestToken`` on ``TransactWriteItems``, which moto ignores (it runs every request again).

What DynamoDB documents (TransactWriteItems API reference, request parameter ``ClientRequestToken``; developer
guide, "Amazon DynamoDB Transactions: How it works", section "Idempotency"), and what this module does:

- the same token with the same request, within 10 minutes after the first request that used it completed:
  success, with no second effect. "The responses to the calls might not be the same": with
  ``ReturnConsumedCapacity`` the first call reports the write units it consumed, a repeat "the number of read
  capacity units consumed in reading the item" (here: a transactional read, 2 units per 4 KB of each item it
  names, at least 2). A repeat modifies no item collection, so ``ItemCollectionMetrics`` is empty.
- the same token with any other request parameter changed within the window: ``IdempotentParameterMismatch
  Exception`` (HTTP 400). "The same request" is compared on the parameters as sent, minus the token
  (``TransactItems``, ``ReturnConsumedCapacity``, ``ReturnItemCollectionMetrics``), as parsed from the wire:
  JSON object key order does not matter, everything else (list order, an added or left-out parameter) does.
- after the window the token names a new request. The window runs on the cloud's clock, never real time.
- a request whose token is still in progress in another request: ``TransactionInProgressException`` (its
  exception page in the API reference; botocore's standard retry mode retries it), or the mismatch above if
  the parameters differ.
- a request that failed (cancelled, invalid) records nothing: AWS documents replays of successful requests
  only, and the store never re-sends a refused transaction under the same token.
- botocore fills a random token when the caller passes none (``idempotencyToken`` in the service model), so
  such calls are each a new request; a request without any token (raw HTTP) is never compared.

Tokens are kept per account and Region, on moto's DynamoDB backend object, so they vanish when moto resets.
Patched (the API boundary, so a moto server gets them too): ``DynamoHandler.transact_write_items``, inside the
exclusive side of :mod:`pcf_local_cloud.dynamodb_atomic`'s lock (a write), and ``DynamoHandler.call_action``
outside it, where a second request arrives while the first still runs. Install after ``AtomicDynamoDB``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from moto.core.responses import ActionResult
from moto.dynamodb.exceptions import ResourceNotFoundException
from moto.dynamodb.responses import DynamoHandler

from pcf_local_cloud.clock import Clock
from pcf_local_cloud.dynamodb_errors import idempotent_parameter_mismatch, transaction_in_progress
from pcf_local_cloud.patchset import PatchSet

TOKEN_WINDOW_SECONDS = 600.0
"""How long after the first request completed a token stays bound to it (10 minutes)."""
STORE_ATTR = "_pcf_transaction_tokens"
ACTION = "TransactWriteItems"
TOKEN = "ClientRequestToken"
TRANSACTIONAL_READ_UNITS = 2
READ_UNIT_BYTES = 4096


@dataclass(frozen=True)
class _Completed:
    fingerprint: str
    completed_at: float


class TransactionTokens:
    """The tokens one DynamoDB backend (an account in a Region) has seen: those in progress and those whose first
    request completed, oldest first (so expired ones are dropped from the front)."""

    def __init__(self, window_seconds: float = TOKEN_WINDOW_SECONDS) -> None:
        self._window = window_seconds
        self._lock = threading.Lock()
        self._running: dict[str, str] = {}
        self._completed: OrderedDict[str, _Completed] = OrderedDict()

    def begin(self, token: str, fingerprint: str) -> None:
        """Mark a request in progress; ``TransactionInProgressException`` (or the mismatch) if one already is."""
        with self._lock:
            running = self._running.get(token)
            if running is not None:
                raise transaction_in_progress() if running == fingerprint else idempotent_parameter_mismatch()
            self._running[token] = fingerprint

    def end(self, token: str) -> None:
        """The request that :meth:`begin` marked has been answered (successfully or not)."""
        with self._lock:
            self._running.pop(token, None)

    def completed(self, token: str, now: float) -> str | None:
        """The fingerprint of the request that completed under ``token`` less than the window ago, if any."""
        with self._lock:
            self._forget_expired(now)
            found = self._completed.get(token)
            return found.fingerprint if found is not None else None

    def complete(self, token: str, fingerprint: str, now: float) -> None:
        """The first request under ``token`` succeeded at ``now``: the window starts."""
        with self._lock:
            self._completed.pop(token, None)
            self._completed[token] = _Completed(fingerprint, now)

    def __len__(self) -> int:
        with self._lock:
            return len(self._completed)

    def _forget_expired(self, now: float) -> None:
        while self._completed:
            token, oldest = next(iter(self._completed.items()))
            if now < oldest.completed_at + self._window:
                return
            del self._completed[token]


def tokens_of(backend: Any) -> TransactionTokens:
    """The tokens kept on ``backend`` (a moto DynamoDB backend), made on first use."""
    tokens = backend.__dict__.get(STORE_ATTR)
    if tokens is None:
        tokens = backend.__dict__.setdefault(STORE_ATTR, TransactionTokens())
    return tokens


def request_fingerprint(params: Mapping[str, Any]) -> str:
    """A digest of the request's parameters minus the token (equal digests: the same request)."""
    compared = {key: value for key, value in params.items() if key != TOKEN}
    text = json.dumps(compared, sort_keys=True, separators=(",", ":"), default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    return str(value)


def replay_answer(backend: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to a repeated request: nothing written, the read units of the items it names when
    ``ReturnConsumedCapacity`` asks for them (per table), no item collection metrics."""
    detail = params.get("ReturnConsumedCapacity", "NONE")
    answer: dict[str, Any] = {"ConsumedCapacity": [], "ItemCollectionMetrics": {}}
    if detail not in ("TOTAL", "INDEXES"):
        return answer
    units: dict[str, float] = {}
    for action in params.get("TransactItems", []):
        for request in action.values():
            table = str(request.get("TableName", ""))
            units[table] = units.get(table, 0.0) + _read_units(backend, table, request)
    for table, consumed in units.items():
        capacity: dict[str, Any] = {"TableName": table, "CapacityUnits": consumed, "ReadCapacityUnits": consumed}
        if detail == "INDEXES":
            capacity["Table"] = {"CapacityUnits": consumed, "ReadCapacityUnits": consumed}
        answer["ConsumedCapacity"].append(capacity)
    return answer


def _read_units(backend: Any, table_name: str, request: Mapping[str, Any]) -> float:
    """A transactional read of the item one action names: 2 units per started 4 KB (2 for a missing item)."""
    try:
        table = backend.get_table(table_name)
        key = request.get("Key")
        if key is None:
            names = [name for name in (table.hash_key_attr, table.range_key_attr) if name]
            key = {name: request.get("Item", {})[name] for name in names}
        item = backend.get_item(table_name, key)
    except (ResourceNotFoundException, KeyError):
        item = None
    size = item.size() if item is not None else 0
    return float(TRANSACTIONAL_READ_UNITS * max(1, math.ceil(size / READ_UNIT_BYTES)))


class TransactionIdempotency:
    """Installs the ``ClientRequestToken`` patches; the window is measured on ``clock``."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def install(self, patches: PatchSet) -> None:
        """Wrap the TransactWriteItems handler and moto's per-request entry; undone by ``patches.restore()``."""
        patches.replace(DynamoHandler, "transact_write_items",
                        self._once_per_token(vars(DynamoHandler)["transact_write_items"]))
        patches.replace(DynamoHandler, "call_action", _one_at_a_time(vars(DynamoHandler)["call_action"]))

    def _once_per_token(self, original: Callable[[DynamoHandler], ActionResult]) -> Callable[..., ActionResult]:
        clock = self._clock

        @functools.wraps(original)
        def transact_write_items(handler: DynamoHandler) -> ActionResult:
            params = handler.body
            token = params.get(TOKEN)
            if not token:
                return original(handler)
            backend = handler.dynamodb_backend
            tokens = tokens_of(backend)
            fingerprint = request_fingerprint(params)
            seen = tokens.completed(str(token), clock.now())
            if seen is not None:
                if seen != fingerprint:
                    raise idempotent_parameter_mismatch()
                return ActionResult(replay_answer(backend, params))
            result = original(handler)
            tokens.complete(str(token), fingerprint, clock.now())
            return result

        return transact_write_items


def _one_at_a_time(original: Callable[[DynamoHandler], Any]) -> Callable[[DynamoHandler], Any]:
    """A TransactWriteItems request whose token another request is still processing is refused on arrival."""

    @functools.wraps(original)
    def call_action(handler: DynamoHandler) -> Any:
        params = getattr(handler, "params", None)
        if (handler.get_endpoint_name(handler.headers) != ACTION or not isinstance(params, Mapping)
                or not params.get(TOKEN)):
            return original(handler)
        token = str(params[TOKEN])
        tokens = tokens_of(handler.dynamodb_backend)
        tokens.begin(token, request_fingerprint(params))
        try:
            return original(handler)
        finally:
            tokens.end(token)

    return call_action
