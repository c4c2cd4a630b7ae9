"""A run partition (``R#<execution ARN>``): what one apply execution planned, page by page, and what went wrong.

Items (``docs/state-store.md``): ``META`` (the run), ``PG#<phase>#<level:03>#<page:05>`` (a page of at most 40
particles with their storable specs, compressed, and the generations ``plan_page`` wrote), ``C#<pcf_id>`` (the run
created the particle's resource) and ``F#<phase>#<level:03>#<pcf_id>`` (a particle failed). Every item expires
(DynamoDB TTL) ``RUN_TTL_SECONDS`` after it is written.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pcf_control_plane.store.errors import PageTooLargeError
from pcf_control_plane.store.keys import fixed_history_id, history_expiry, page_sk
from pcf_control_plane.store.models import HistoryItem, HistoryKind, ParticleSpec

RunPhase = Literal["stop", "start"]

PAGE_MAX_PARTICLES = 40
"""A page is at most this many particles: the inline Map's documented concurrency bound (state-map-inline.html)."""
PAGE_DEFS_MAX_BYTES = 350_000
"""A page's compressed specs stay under this, so the page item stays under DynamoDB's 400 KB item limit
(ServiceQuotas.html#limits-items) with room for its ids and generations; a larger page is ``PageTooLargeError``."""
FAILURE_CAUSE_MAX_CHARS = 2000
"""A failure's cause is cut to this many characters (Step Functions' own ``Cause`` can be 32 KB)."""
RUN_TTL_SECONDS = 30 * 86400
"""How long a run partition is kept (its ``purge_at``)."""
MAX_LEVEL = 999
MAX_PAGE = 99_999


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelPages(_Record):
    """One level of a run, how many pages it was cut into and how many particles they hold (0: not recorded)."""

    phase: RunPhase
    level: int = Field(ge=0, le=MAX_LEVEL)
    pages: int = Field(ge=0, le=MAX_PAGE + 1)
    particles: int = Field(default=0, ge=0)


class RunMeta(_Record):
    """The run: its root pcf_id, size, levels (in order), settings and whether it is rolling back."""

    execution: str = Field(min_length=1)
    pcf_id: str = Field(min_length=1)
    particles: int = Field(ge=0)
    levels: tuple[LevelPages, ...] = ()
    settings: dict[str, Any] = Field(default_factory=dict)
    rolling_back: bool = False

    def has_page(self, phase: str, level: int, page: int) -> bool:
        """Whether ``(phase, level, page)`` is one of the run's pages."""
        return any(item.phase == phase and item.level == level and page < item.pages for item in self.levels)


class RunPage(_Record):
    """A page: up to ``PAGE_MAX_PARTICLES`` ids, their storable specs (in the same order; empty when only ids
    are read) and the generation ``plan_page`` stored for each (empty until then)."""

    phase: RunPhase
    level: int = Field(ge=0, le=MAX_LEVEL)
    page: int = Field(ge=0, le=MAX_PAGE)
    ids: tuple[str, ...] = Field(min_length=1, max_length=PAGE_MAX_PARTICLES)
    specs: tuple[ParticleSpec, ...] = ()
    gens: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> RunPage:
        if len(set(self.ids)) != len(self.ids):
            raise ValueError("a page names each particle once")
        if self.specs and tuple(spec.pcf_id for spec in self.specs) != self.ids:
            raise ValueError("a page's specs are its ids' specs, in the same order")
        if not set(self.gens) <= set(self.ids):
            raise ValueError("a page's generations are of its own particles")
        return self

    @property
    def key(self) -> str:
        """The page's sort key (also its name in errors)."""
        return page_sk(self.phase, self.level, self.page)


class RunFailure(_Record):
    """A particle that failed in a level: the error's name and its cause (cut to ``FAILURE_CAUSE_MAX_CHARS``)."""

    pcf_id: str = Field(min_length=1)
    phase: RunPhase
    level: int = Field(ge=0, le=MAX_LEVEL)
    error: str = Field(min_length=1)
    cause: str = ""
    at: float = Field(ge=0)

    @field_validator("cause", mode="before")
    @classmethod
    def _cut(cls, value: Any) -> Any:
        return value[:FAILURE_CAUSE_MAX_CHARS] if isinstance(value, str) else value


def failure_history(execution: str, failure: RunFailure, history_ttl_seconds: float | None,
                    cause: str | None = None) -> HistoryItem:
    """The ``error`` history item of a failure in the run ``execution``, caused by ``cause`` (else the run), its id
    fixed by the failure: recording it again overwrites it."""
    seed = f"failure#{execution}#{failure.phase}#{failure.level}#{failure.pcf_id}"
    return HistoryItem(pcf_id=failure.pcf_id, item_id=fixed_history_id(failure.at, seed), kind=HistoryKind.error,
                       at=failure.at, cause=cause or execution,
                       detail={"error": failure.error, "message": failure.cause},
                       expires_at=history_expiry(failure.at, history_ttl_seconds))


class LevelFailures(_Record):
    """The first failures of a level (in pcf_id order) and how many there are in all."""

    first: tuple[RunFailure, ...] = ()
    count: int = Field(default=0, ge=0)


class PageListing(_Record):
    """Pages of a run in key order, without their specs, and the cursor of the next listing (``None`` at the
    end; as DynamoDB's, a full listing may be followed by an empty one)."""

    pages: tuple[RunPage, ...] = ()
    cursor: str | None = None


def encode_specs(page: RunPage) -> bytes:
    """The page's specs as zlib-compressed compact JSON; ``PageTooLargeError`` above ``PAGE_DEFS_MAX_BYTES``."""
    text = json.dumps([spec.model_dump(mode="json") for spec in page.specs], separators=(",", ":"), sort_keys=True)
    blob = zlib.compress(text.encode(), 6)
    if len(blob) > PAGE_DEFS_MAX_BYTES:
        raise PageTooLargeError(page.key, len(blob), PAGE_DEFS_MAX_BYTES)
    return blob


def decode_specs(blob: bytes) -> tuple[ParticleSpec, ...]:
    """The specs ``encode_specs`` stored."""
    return tuple(ParticleSpec.model_validate(item) for item in json.loads(zlib.decompress(blob)))


def check_pages(meta: RunMeta, pages: Sequence[RunPage]) -> list[bytes]:
    """Every page's encoded specs, after checking that each page is one of ``meta``'s, once; raises before any
    write (``ValueError``, ``PageTooLargeError``)."""
    keys = [page.key for page in pages]
    if len(set(keys)) != len(keys):
        raise ValueError("a page is written once per run")
    for page in pages:
        if not meta.has_page(page.phase, page.level, page.page):
            raise ValueError(f"page {page.key} is not one of the run's levels")
    return [encode_specs(page) for page in pages]
