"""The store's domain errors: nothing from botocore leaks out of the public API."""

from __future__ import annotations


class StoreError(Exception):
    """The state store could not do what was asked (a service error, throttling beyond retries, ...)."""


class ConflictError(StoreError):
    """A write kept losing an optimistic-concurrency race and gave up."""
