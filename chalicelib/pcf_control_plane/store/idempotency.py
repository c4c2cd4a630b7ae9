"""DynamoDB's ``ClientRequestToken`` semantics for the in-memory store.

As ``TransactWriteItems`` documents it: a token is valid for 10 minutes after the first request that used it
completed; the same token with the same request within that window succeeds again with no second effect; the same
token with another request is ``IdempotentParameterMismatch``; after the window, the token is a new request.
Only requests that succeeded are remembered (a cancelled transaction wrote nothing, and is evaluated again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pcf_control_plane.store.converge import IDEMPOTENCY_WINDOW_SECONDS
from pcf_control_plane.store.errors import IdempotencyMismatchError

T = TypeVar("T")


@dataclass(frozen=True)
class _Completed(Generic[T]):
    fingerprint: str
    at: float
    result: T


class IdempotencyWindow(Generic[T]):
    """Completed requests by token, each forgotten ``window`` seconds after it completed (on ``clock``)."""

    def __init__(self, clock: Callable[[], float], window: float = IDEMPOTENCY_WINDOW_SECONDS) -> None:
        self._clock = clock
        self._window = window
        self._done: dict[str, _Completed[T]] = {}

    def replay(self, token: str, fingerprint: str) -> T | None:
        """The result of the same request under ``token`` within the window, or ``None`` (a new request);
        ``IdempotencyMismatchError`` when ``token`` completed another request within the window."""
        done = self._done.get(token)
        if done is None or self._clock() - done.at >= self._window:
            self._done.pop(token, None)
            return None
        if done.fingerprint != fingerprint:
            raise IdempotencyMismatchError(f"token {token} was used for another request within "
                                           f"{self._window:.0f} s (IdempotentParameterMismatchException)")
        return done.result

    def complete(self, token: str, fingerprint: str, result: T) -> None:
        """Remember that the request under ``token`` succeeded with ``result``."""
        self._done[token] = _Completed(fingerprint, self._clock(), result)
