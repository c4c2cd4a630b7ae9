"""A deployment's listing cut into ranges, and generic items of a run partition, for work spread over invocations.

A ``ListingRange`` names a page of one listing shard by its first and last pcf_id (the ``by_deployment`` index sorts
a shard by pcf_id), so an invocation reads just its page with one bounded Query, whatever the deployment's size.
Run items (``put_run_items``) are JSON documents under a sort key of a run partition (``R#<execution>``), each
expiring with the run; their sort keys start with ``RUN_ITEM_PREFIX`` so they never meet the apply's own items.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

RUN_ITEM_PREFIX = "RC#"
"""Every generic run item's sort key starts with this (``PG#``, ``C#``, ``F#`` and ``META`` are the apply's)."""
RUN_ITEM_MAX_BYTES = 350_000
"""A run item's JSON stays under this (DynamoDB's item limit is 400 KB)."""


class ListingRange(BaseModel):
    """Up to a page of one listing shard: the pcf_ids from ``first`` to ``last`` (both included), ``count`` of
    them when the range was cut."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shard: int = Field(ge=0)
    first: str = Field(min_length=1)
    last: str = Field(min_length=1)
    count: int = Field(ge=1)


def check_run_item_key(sort_key: str) -> None:
    """Refuse a generic run item's sort key outside ``RUN_ITEM_PREFIX``."""
    if not sort_key.startswith(RUN_ITEM_PREFIX) or len(sort_key) > 1024:
        raise ValueError(f"a run item's sort key starts with {RUN_ITEM_PREFIX!r} (at most 1,024 characters): "
                         f"{sort_key[:80]!r}")
