"""The steps of a paged run: its plan cut into pages of the run partition, each page's specs stored, a page's
particles loaded, a level checked and the run summarized, each step bounded whatever the run's size.

An ``apply`` of 10,000 particles cannot carry their ids or results in its workflow state (256 KiB) or run one
child execution per particle in its history (25,000 events). So ``plan_run`` validates the whole definition (the
only step that sees all of it), cuts every level into pages of at most ``PAGE_MAX_PARTICLES`` particles (fewer
when their specs would pass the page item's size limit), writes them to the run partition (``R#<execution>``)
and answers page numbers only. ``plan_page`` stores one page's specs; ``load_page`` gives a page's particles with
their generations and parents to the visits (``converge``); ``particle_failed`` records a failure in the run
partition, ``check_level`` reads a level's failures back, and ``summarize_page`` counts the run's end states a
listing page at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pcf.core.pcf_exceptions import DefinitionError
from pcf_control_plane.heal_plan import plan_heal
from pcf_control_plane.messages import (
    LevelCheck,
    LevelOutput,
    PageItem,
    PageItems,
    PageRef,
    PageReleased,
    PageStep,
    Phase,
    PlanInput,
    RunLevel,
    RunPlanOutput,
    SummaryPage,
    SummaryStep,
)
from pcf_control_plane.outcome import NAMED_FAILURES, level_failed
from pcf_control_plane.steps import ControlPlane
from pcf_control_plane.store import (
    PAGE_MAX_PARTICLES,
    HistoryKind,
    LevelPages,
    PageTooLargeError,
    ParticleSpec,
    RunMeta,
    RunPage,
)
from pcf_control_plane.store.runs import encode_specs

_Level = tuple[Phase, int, list[str]]
"""A level to cut into pages: its phase, its position in the phase and its particles."""

SUMMARY_PAGES = 50
"""Pages a ``summarize_page`` call reads: 2,000 particles, 40 BatchGetItem calls of 50 particles each."""


def plan_run(plane: ControlPlane, request: PlanInput) -> RunPlanOutput:
    """Plan ``request`` into pages of the run partition ``request.execution`` (see the module docstring); nothing
    is written when the definition is refused."""
    if request.heal is not None:
        return _plan_heal(plane, request)
    planned = plane.planned(request)
    specs = {spec.pcf_id: spec for spec in planned.specs}
    levels: list[_Level] = [(level.phase, level.index, level.pcf_ids) for level in planned.levels]
    run_ids = {pcf_id for level in planned.levels for pcf_id in level.pcf_ids}
    unrun = [spec for spec in planned.specs if spec.pcf_id not in run_ids]
    pages = _cut(levels, specs, {}, request.settings().page_size())
    if unrun:  # with ``only``: members never stored, which keep their definition's desired state
        plane.store_specs(unrun, request.execution)
    return _write(plane, request, planned.pcf_id, levels, pages, unstored=True)


def _plan_heal(plane: ControlPlane, request: PlanInput) -> RunPlanOutput:
    """A heal's run: ``plan_heal``'s levels, its pages holding the stored specs and generations."""
    healed = plan_heal(plane.store, request)
    stored = {pcf_id: record.spec for pcf_id, record in plane.store.get_many(healed.generations).items()
              if record.spec is not None}
    specs = {pcf_id: spec.unstored() for pcf_id, spec in stored.items()}
    levels: list[_Level] = [(phase.phase, index, ids) for phase in healed.phases
                            for index, ids in enumerate(phase.levels)]
    pages = _cut(levels, specs, healed.generations, request.settings().page_size())
    return _write(plane, request, healed.pcf_id, levels, pages, unstored=False)


def _cut(levels: Sequence[_Level], specs: Mapping[str, ParticleSpec], gens: Mapping[str, int],
         page_size: int = PAGE_MAX_PARTICLES) -> list[RunPage]:
    """Every level's pages: ``page_size`` particles each, halved where their specs are too large."""
    pages: list[RunPage] = []
    for phase, level, ids in levels:
        start, size, number = 0, page_size, 0
        while start < len(ids):
            chunk = ids[start:start + size]
            page = RunPage(phase=phase, level=level, page=number, ids=tuple(chunk),
                           specs=tuple(specs[pcf_id] for pcf_id in chunk),
                           gens={pcf_id: gens[pcf_id] for pcf_id in chunk if pcf_id in gens})
            try:
                encode_specs(page)
            except PageTooLargeError as error:
                if size == 1:
                    raise DefinitionError(chunk[0], f"its stored definition is too large: {error}") from None
                size = max(1, size // 2)
                continue
            pages.append(page)
            start, size, number = start + len(chunk), page_size, number + 1
    return pages


def _write(plane: ControlPlane, request: PlanInput, pcf_id: str, levels: Sequence[_Level],
           pages: list[RunPage], *, unstored: bool) -> RunPlanOutput:
    settings = request.settings()
    meta, run_levels = _put_run(plane, request.execution, pcf_id, levels, pages, settings.model_dump())
    return RunPlanOutput(pcf_id=pcf_id, particles=meta.particles, levels=run_levels, settings=settings,
                         page_concurrency=settings.page_concurrency(),
                         unstored=[PageRef(phase=page.phase, level=page.level, page=page.page)
                                   for page in pages] if unstored else [])


def _put_run(plane: ControlPlane, run: str, pcf_id: str, levels: Sequence[_Level], pages: list[RunPage],
             settings: dict[str, object]) -> tuple[RunMeta, list[RunLevel]]:
    """The run partition ``run`` written: its ``META`` and ``pages``; the run and its levels with their pages."""
    counts: dict[tuple[str, int], int] = {}
    for page in pages:
        counts[(page.phase, page.level)] = counts.get((page.phase, page.level), 0) + 1
    run_levels = [RunLevel(phase=phase, level=level, particles=len(ids),
                           pages=list(range(counts[(phase, level)]))) for phase, level, ids in levels if ids]
    meta = RunMeta(execution=run, pcf_id=pcf_id, particles=sum(len(ids) for _, _, ids in levels),
                   levels=tuple(LevelPages(phase=level.phase, level=level.level, pages=len(level.pages),
                                           particles=level.particles) for level in run_levels),
                   settings=settings)
    plane.store.put_run(meta, pages)
    return meta, run_levels


def plan_page(plane: ControlPlane, step: PageStep) -> PageItems:
    """Store one page's specs (each with its ``plan`` history item) and their generations in the page. A page
    whose generations are stored already is left as it is (a retried step)."""
    page = _page(plane, step)
    if not page.gens:
        gens = plane.store_specs(list(page.specs), step.execution)
        plane.store.set_page_generations(step.run, step.phase, step.level, step.page, gens)
        page = page.model_copy(update={"gens": gens})
    return _items(page)


def load_page(plane: ControlPlane, step: PageStep) -> PageItems:
    """A page's particles, each with the generation the run planned and the parents it was planned with."""
    return _items(_page(plane, step))


def _page(plane: ControlPlane, step: PageStep) -> RunPage:
    page = plane.store.get_page(step.run, step.phase, step.level, step.page)
    if page is None:
        raise LookupError(f"{step.run}: no page {step.phase} level {step.level} page {step.page} was planned")
    return page


def _items(page: RunPage) -> PageItems:
    parents = {spec.pcf_id: list(spec.definition.get("parents") or []) for spec in page.specs}
    return PageItems(items=[PageItem(pcf_id=pcf_id, generation=page.gens.get(pcf_id, 0),
                                     parents=parents.get(pcf_id, [])) for pcf_id in page.ids])


def release_page(plane: ControlPlane, step: PageStep) -> PageReleased:
    """Give back the leases ``step.execution`` still holds on the page's particles and remove its waits for events
    (a run stopped midway: its visits never reached ``done`` or ``particle_failed``); the others' are left alone."""
    released = 0
    for pcf_id in _page(plane, step).ids:
        if plane.store.release_lease(pcf_id, step.execution):
            plane.store.add_history(pcf_id, HistoryKind.lease, {"acquired": False}, step.execution)
            released += 1
        plane.store.clear_wait(pcf_id, step.execution)
    return PageReleased(released=released)


def check_level(plane: ControlPlane, check: LevelCheck) -> LevelOutput:
    """Pass a level none of whose particles failed, else raise the first failure under its own name (see
    ``outcome.level_failed``), from the failures recorded in the run partition."""
    failures = plane.store.level_failures(check.run, check.phase, check.level, first=NAMED_FAILURES)
    if failures.count:
        raise level_failed([(f.pcf_id, f.error, f.cause) for f in failures.first], failures.count, check.particles)
    return LevelOutput(particles=check.particles, converged=check.particles)


def summarize_page(plane: ControlPlane, step: SummaryStep) -> SummaryPage:
    """The counts of ``step`` plus those of the next ``SUMMARY_PAGES`` pages of the run: how many particles ended
    in each observed state (``unknown``: never observed)."""
    listing = plane.store.list_pages(step.run, step.cursor, limit=SUMMARY_PAGES)
    ids = [pcf_id for page in listing.pages for pcf_id in page.ids]
    states = dict(step.states)
    records = plane.store.get_many(ids) if ids else {}
    for pcf_id in ids:
        record = records.get(pcf_id)
        state = record.observation.state if record and record.observation else "unknown"
        states[state] = states.get(state, 0) + 1
    return SummaryPage(run=step.run, pcf_id=step.pcf_id, particles=step.particles + len(ids),
                       states=dict(sorted(states.items())), cursor=listing.cursor)
