"""The store's domain errors: nothing from botocore leaks out of the public API."""

from __future__ import annotations


class StoreError(Exception):
    """The state store could not do what was asked (a service error, throttling beyond retries, ...)."""


class ConflictError(StoreError):
    """A write kept losing an optimistic-concurrency race and gave up."""


class IdempotencyMismatchError(StoreError):
    """A write reused an idempotency token (``ClientRequestToken``) with another request within its window: AWS
    answers ``IdempotentParameterMismatchException``."""


class PageTooLargeError(StoreError):
    """A run page's compressed definitions exceed ``runs.PAGE_DEFS_MAX_BYTES``: cut the level into smaller pages."""

    def __init__(self, page: str, size: int, limit: int) -> None:
        super().__init__(f"page {page} holds {size} bytes of compressed definitions (limit {limit}): cut it smaller")
        self.page, self.size, self.limit = page, size, limit


class IndexNotReadyError(StoreError):
    """A Query named a global secondary index that is not readable yet (still backfilling, or not created)."""
