"""Run partitions in process memory, for ``InMemoryStateStore`` (which holds its lock around every call)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pcf_control_plane.store.keys import failure_prefix, failure_sk, page_sk
from pcf_control_plane.store.runs import (
    LevelFailures,
    PageListing,
    RunFailure,
    RunMeta,
    RunPage,
    check_pages,
    decode_specs,
    encode_specs,
)


@dataclass
class _Run:
    meta: RunMeta | None = None  # None: only marks or failures were written (DynamoDB writes those items alone)
    pages: dict[str, tuple[RunPage, bytes]] = field(default_factory=dict)  # sort key -> (page without specs, defs)
    created: set[str] = field(default_factory=set)
    failures: dict[str, RunFailure] = field(default_factory=dict)  # sort key -> failure


class MemoryRuns:
    """Every run partition, by execution. Specs are kept encoded, so a page too large here is too large on
    DynamoDB, and every read decodes a fresh copy."""

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}

    def put(self, meta: RunMeta, pages: Sequence[RunPage]) -> None:
        """Write the run and its pages (replacing any of the same keys)."""
        blobs = check_pages(meta, pages)
        run = self._runs.setdefault(meta.execution, _Run())
        run.meta = meta
        for page, blob in zip(pages, blobs, strict=True):
            run.pages[page.key] = (page.model_copy(update={"specs": ()}, deep=True), blob)

    def put_page(self, execution: str, page: RunPage) -> None:
        """Write one page (its specs encoded first), the run made if it has no ``META`` yet."""
        blob = encode_specs(page)
        self._existing(execution).pages[page.key] = (page.model_copy(update={"specs": ()}, deep=True), blob)

    def meta(self, execution: str) -> RunMeta | None:
        run = self._runs.get(execution)
        return run.meta if run else None

    def set_rolling_back(self, execution: str, rolling_back: bool) -> bool:
        run = self._runs.get(execution)
        if run is None or run.meta is None:
            return False
        run.meta = run.meta.model_copy(update={"rolling_back": rolling_back})
        return True

    def page(self, execution: str, phase: str, level: int, page: int) -> RunPage | None:
        found = self._page(execution, page_sk(phase, level, page))
        if found is None:
            return None
        stored, blob = found
        return stored.model_copy(update={"specs": decode_specs(blob)}, deep=True)

    def set_generations(self, execution: str, phase: str, level: int, page: int, gens: Mapping[str, int]) -> bool:
        run = self._runs.get(execution)
        found = self._page(execution, page_sk(phase, level, page))
        if run is None or found is None:
            return False
        stored, blob = found
        updated = RunPage.model_validate({**stored.model_dump(), "gens": dict(gens)})
        run.pages[stored.key] = (updated, blob)
        return True

    def list(self, execution: str, cursor: str | None, limit: int) -> PageListing:
        run = self._runs.get(execution)
        keys = sorted(key for key in (run.pages if run else {}) if cursor is None or key > cursor)[:limit]
        pages = tuple(run.pages[key][0].model_copy(deep=True) for key in keys) if run else ()
        return PageListing(pages=pages, cursor=keys[-1] if len(keys) == limit else None)

    def add_failure(self, execution: str, failure: RunFailure) -> None:
        run = self._existing(execution)
        run.failures[failure_sk(failure.phase, failure.level, failure.pcf_id)] = failure

    def failures(self, execution: str, phase: str, level: int, first: int) -> LevelFailures:
        run = self._runs.get(execution)
        prefix = failure_prefix(phase, level)
        keys = sorted(key for key in (run.failures if run else {}) if key.startswith(prefix))
        return LevelFailures(first=tuple(run.failures[key] for key in keys[:first]) if run else (), count=len(keys))

    def failed(self, execution: str, phase: str, level: int, pcf_ids: Iterable[str]) -> set[str]:
        run = self._runs.get(execution)
        return {pcf_id for pcf_id in pcf_ids if run and failure_sk(phase, level, pcf_id) in run.failures}

    def mark_created(self, execution: str, pcf_id: str) -> None:
        self._existing(execution).created.add(pcf_id)

    def created(self, execution: str, pcf_ids: Iterable[str]) -> set[str]:
        run = self._runs.get(execution)
        return {pcf_id for pcf_id in pcf_ids if run and pcf_id in run.created}

    def _page(self, execution: str, key: str) -> tuple[RunPage, bytes] | None:
        run = self._runs.get(execution)
        return run.pages.get(key) if run else None

    def _existing(self, execution: str) -> _Run:
        """The run, made on first use by a write that needs no META (marks and failures, as DynamoDB's items)."""
        return self._runs.setdefault(execution, _Run())
