"""Run partitions (``R#<execution>``), on both stores: META, pages, failures and created marks."""

from __future__ import annotations

import os

import pytest

from pcf_control_plane.store import (
    PAGE_MAX_PARTICLES,
    HistoryKind,
    LevelPages,
    PageTooLargeError,
    RunFailure,
    RunMeta,
    RunPage,
    StateStore,
)
from pcf_control_plane.store.runs import FAILURE_CAUSE_MAX_CHARS
from tests.store.store_support import START, spec

RUN = "arn:aws:states:us-east-1:123456789012:execution:pcf-apply:run-1"
OTHER = "arn:aws:states:us-east-1:123456789012:execution:pcf-apply:run-2"


def _ids(level: int, page: int, count: int) -> tuple[str, ...]:
    return tuple(f"ec2_instance:l{level}-p{page}-{n:02d}" for n in range(count))


def _page(level: int, page: int, count: int = 3, phase: str = "start", **extra: object) -> RunPage:
    ids = _ids(level, page, count)
    return RunPage(phase=phase, level=level, page=page, ids=ids, specs=tuple(spec(pcf_id) for pcf_id in ids),
                   **extra)


def _meta(*levels: tuple[int, int], execution: str = RUN) -> RunMeta:
    return RunMeta(execution=execution, pcf_id="distributed_master_worker:big", particles=120,
                   levels=tuple(LevelPages(phase="start", level=level, pages=pages) for level, pages in levels),
                   settings={"concurrency": 400, "waits": "events", "await_seconds": 300.5})


def test_a_run_reads_back_its_meta_and_pages(store: StateStore) -> None:
    meta = _meta((0, 1), (1, 2))
    pages = [_page(0, 0), _page(1, 0, count=PAGE_MAX_PARTICLES), _page(1, 1, count=1)]
    store.put_run(meta, pages)

    assert store.get_run(RUN) == meta
    for page in pages:
        assert store.get_page(RUN, "start", page.level, page.page) == page
    assert store.get_page(RUN, "start", 2, 0) is None
    assert store.get_run(OTHER) is None and store.get_page(OTHER, "start", 0, 0) is None


def test_rolling_back_and_generations_change_only_what_exists(store: StateStore) -> None:
    store.put_run(_meta((0, 1)), [_page(0, 0)])
    ids = _ids(0, 0, 3)

    assert store.set_rolling_back(RUN) is True
    assert store.get_run(RUN) == _meta((0, 1)).model_copy(update={"rolling_back": True})
    assert store.set_page_generations(RUN, "start", 0, 0, {ids[0]: 3, ids[2]: 1}) is True
    page = store.get_page(RUN, "start", 0, 0)
    assert page is not None and page.gens == {ids[0]: 3, ids[2]: 1} and page.specs == _page(0, 0).specs

    assert store.set_rolling_back(OTHER) is False and store.get_run(OTHER) is None
    assert store.set_page_generations(RUN, "start", 0, 7, {ids[0]: 1}) is False
    assert store.get_page(RUN, "start", 0, 7) is None


def test_pages_outside_the_meta_or_too_large_write_nothing(store: StateStore) -> None:
    with pytest.raises(ValueError, match="not one of the run's levels"):
        store.put_run(_meta((0, 1)), [_page(0, 0), _page(0, 1)])
    noise = os.urandom(400_000).hex()  # incompressible: the compressed specs exceed the limit
    huge = RunPage(phase="start", level=0, page=0, ids=("ec2_instance:huge",),
                   specs=(spec("ec2_instance:huge", UserData=noise),))
    with pytest.raises(PageTooLargeError) as caught:
        store.put_run(_meta((0, 1)), [huge])
    assert caught.value.size > caught.value.limit
    assert store.get_run(RUN) is None and store.get_page(RUN, "start", 0, 0) is None


def test_a_page_is_a_valid_page() -> None:
    with pytest.raises(ValueError, match="at most 40"):
        RunPage(phase="start", level=0, page=0, ids=_ids(0, 0, PAGE_MAX_PARTICLES + 1))
    with pytest.raises(ValueError, match="once"):
        RunPage(phase="start", level=0, page=0, ids=("ec2_instance:a", "ec2_instance:a"))
    with pytest.raises(ValueError, match="same order"):
        RunPage(phase="start", level=0, page=0, ids=("ec2_instance:a", "ec2_instance:b"),
                specs=(spec("ec2_instance:b"), spec("ec2_instance:a")))
    with pytest.raises(ValueError, match="own particles"):
        RunPage(phase="start", level=0, page=0, ids=("ec2_instance:a",), gens={"ec2_instance:b": 1})


@pytest.mark.parametrize("limit", [1, 3, 50])
def test_listing_pages_follows_the_cursor_in_key_order(store: StateStore, limit: int) -> None:
    levels = [(level, 3) for level in range(4)]
    pages = [_page(level, page, count=2) for level, count in levels for page in range(count)]
    store.put_run(_meta(*levels), list(reversed(pages)))
    store.put_run(_meta((0, 1), execution=OTHER), [_page(0, 0)])

    seen: list[RunPage] = []
    cursor: str | None = None
    for _ in range(len(pages) + 2):
        listing = store.list_pages(RUN, cursor, limit=limit)
        assert len(listing.pages) <= limit
        seen += listing.pages
        cursor = listing.cursor
        if cursor is None:
            break
    assert [(page.level, page.page) for page in seen] == [(page.level, page.page) for page in pages]
    assert all(page.specs == () and page.ids == original.ids for page, original in zip(seen, pages, strict=True))


def test_failures_of_a_level_first_few_and_count(store: StateStore) -> None:
    failed = [f"ec2_instance:f-{n:02d}" for n in range(7)]
    for n, pcf_id in enumerate(reversed(failed)):
        store.record_failure(RUN, RunFailure(pcf_id=pcf_id, phase="start", level=2, error="ParticleTimeoutError",
                                             cause=f"gave up #{n}", at=START + n))
    store.record_failure(RUN, RunFailure(pcf_id="ec2_instance:elsewhere", phase="start", level=3, error="Boom",
                                         at=START))

    found = store.level_failures(RUN, "start", 2, first=5)
    assert found.count == 7 and [failure.pcf_id for failure in found.first] == failed[:5]
    assert store.level_failures(RUN, "start", 3).count == 1
    assert store.level_failures(RUN, "stop", 2) == store.level_failures(OTHER, "start", 2)
    assert store.level_failures(RUN, "stop", 2).count == 0


def test_a_failure_is_recorded_with_its_history_once(store: StateStore) -> None:
    failure = RunFailure(pcf_id="ec2_instance:f", phase="start", level=0, error="States.TaskFailed",
                         cause="x" * (FAILURE_CAUSE_MAX_CHARS + 500), at=START)
    assert len(failure.cause) == FAILURE_CAUSE_MAX_CHARS

    item = store.record_failure(RUN, failure)
    again = store.record_failure(RUN, failure)  # a retried step

    assert item == again
    history = store.list_history("ec2_instance:f")
    assert [(h.kind, h.cause, h.detail) for h in history] == [
        (HistoryKind.error, RUN, {"error": "States.TaskFailed", "message": failure.cause})]
    assert store.level_failures(RUN, "start", 0).first == (failure,)


def test_a_page_is_written_alone_and_replaces_its_key(store: StateStore) -> None:
    page = _page(2, 1, gens={_ids(2, 1, 3)[0]: 4})
    store.put_page(RUN, page)
    assert store.get_page(RUN, "start", 2, 1) == page and store.get_run(RUN) is None, "no META read or written"

    smaller = _page(2, 1, count=1)
    store.put_page(RUN, smaller)
    assert store.get_page(RUN, "start", 2, 1) == smaller
    noise = os.urandom(400_000).hex()
    with pytest.raises(PageTooLargeError):
        store.put_page(RUN, RunPage(phase="start", level=2, page=1, ids=("ec2_instance:huge",),
                                    specs=(spec("ec2_instance:huge", UserData=noise),)))
    assert store.get_page(RUN, "start", 2, 1) == smaller


def test_failed_marks_name_the_level_s_failures_among_the_ids_asked(store: StateStore) -> None:
    for pcf_id, level in (("ec2_instance:a", 1), ("ec2_instance:b", 1), ("ec2_instance:c", 2)):
        store.record_failure(RUN, RunFailure(pcf_id=pcf_id, phase="start", level=level, error="Boom", at=START))
    asked = ["ec2_instance:a", "ec2_instance:c", "ec2_instance:d", "ec2_instance:a"]

    assert store.failed_marks(RUN, "start", 1, asked) == {"ec2_instance:a"}
    assert store.failed_marks(RUN, "start", 2, asked) == {"ec2_instance:c"}
    assert store.failed_marks(RUN, "stop", 1, asked) == set() == store.failed_marks(OTHER, "start", 1, asked)
    assert store.failed_marks(RUN, "start", 1, []) == set()
