"""The steps of a paged run (``run_steps``), driven as the workflow drives them, over each state store."""

from __future__ import annotations

from typing import Any

import pytest

from pcf.core.pcf_exceptions import DefinitionError
from pcf_control_plane import run_steps
from pcf_control_plane.converge import converge
from pcf_control_plane.messages import (
    ConvergeInput,
    LevelCheck,
    PageStep,
    ParticleFailure,
    PlanInput,
    RunPlanOutput,
    SummaryStep,
)
from pcf_control_plane.steps import ControlPlane
from pcf_control_plane.store import HistoryKind
from pcf_local_cloud.clock import VirtualClock
from tests.support.steps import STORES, instance, steps_over

RUN = "arn:aws:states:us-east-1:123456789012:execution:apply:paged-1"
HEAL = "arn:aws:states:us-east-1:123456789012:execution:apply:heal-1"


@pytest.fixture(params=STORES)
def steps(request: pytest.FixtureRequest, cloud: Any, clock: VirtualClock) -> ControlPlane:
    return steps_over(request.param, cloud, clock)


def fleet(ami_id: str, workers: int) -> dict[str, Any]:
    """A master and ``workers`` workers that depend on it."""
    return {"pcf_name": "fleet", "flavor": "quasiparticle", "particles": [instance("master", ami_id)] + [
        instance(f"w{n:03d}", ami_id, parents=["ec2_instance:master"]) for n in range(workers)]}


def page_steps(plan: RunPlanOutput, run: str = RUN) -> list[PageStep]:
    return [PageStep(run=run, execution=run, phase=level.phase, level=level.level, page=page)
            for level in plan.levels for page in level.pages]


def apply_pages(steps: ControlPlane, plan: RunPlanOutput, run: str = RUN) -> None:
    """Every page's specs stored, then every level's particles visited until done, as the workflow does."""
    for ref in plan.unstored:
        run_steps.plan_page(steps, PageStep(run=run, execution=run, **ref.model_dump()))
    for step in page_steps(plan, run):
        for item in run_steps.load_page(steps, step).items:
            for _ in range(5):
                answer = converge(steps, ConvergeInput(execution=run, **item.model_dump()))
                if answer.action == "done":
                    break
            else:
                raise AssertionError(f"{item.pcf_id} did not converge")


def test_a_run_is_cut_into_pages_of_forty_and_answers_page_numbers_only(steps: ControlPlane, ami_id: str) -> None:
    plan = run_steps.plan_run(steps, PlanInput(definition=fleet(ami_id, 85), desired_state="running",
                                               execution=RUN))

    assert [(level.phase, level.level, level.particles, level.pages) for level in plan.levels] == [
        ("start", 0, 1, [0]), ("start", 1, 85, [0, 1, 2])]
    assert [(ref.level, ref.page) for ref in plan.unstored] == [(0, 0), (1, 0), (1, 1), (1, 2)]
    assert "w000" not in plan.model_dump_json(), "no particle id in the workflow state"
    meta = steps.store.get_run(RUN)
    assert meta is not None and meta.particles == 86 and meta.pcf_id == "quasiparticle:fleet"
    assert [len(steps.store.get_page(RUN, "start", 1, page).ids) for page in range(3)] == [40, 40, 5]
    assert steps.store.get_spec("ec2_instance:w000") is None, "specs are stored page by page, by plan_page"


def test_plan_page_stores_its_specs_and_load_page_gives_their_generations_and_parents(
    steps: ControlPlane, ami_id: str
) -> None:
    plan = run_steps.plan_run(steps, PlanInput(definition=fleet(ami_id, 3), desired_state="running",
                                               execution=RUN))
    step = PageStep(run=RUN, execution=RUN, phase="start", level=1, page=0)

    stored = run_steps.plan_page(steps, step)
    again = run_steps.plan_page(steps, step)

    assert plan.unstored[-1].level == 1
    assert [(item.pcf_id, item.generation, item.parents) for item in stored.items] == [
        (f"ec2_instance:w{n:03d}", 1, ["ec2_instance:master"]) for n in range(3)]
    assert again == stored == run_steps.load_page(steps, step)
    plans = [item for item in steps.store.list_history("ec2_instance:w000") if item.kind is HistoryKind.plan]
    assert len(plans) == 1 and plans[0].cause == RUN, "a retried plan_page plans nothing twice"


def test_a_refused_definition_writes_no_run(steps: ControlPlane, ami_id: str) -> None:
    broken = fleet(ami_id, 2)
    broken["particles"][1]["parents"] = ["ec2_instance:nobody"]
    with pytest.raises(DefinitionError):
        run_steps.plan_run(steps, PlanInput(definition=broken, desired_state="running", execution=RUN))
    assert steps.store.get_run(RUN) is None


def test_pages_are_cut_smaller_where_their_specs_would_pass_the_item_limit(
    steps: ControlPlane, ami_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pcf_control_plane.store import runs

    request = PlanInput(definition=fleet(ami_id, 4), desired_state="running", execution=RUN)
    specs = {spec.pcf_id: spec for spec in steps.planned(request).specs}

    def size(*ids: str) -> int:
        return len(runs.encode_specs(run_steps._cut([("start", 0, list(ids))], specs, {})[0]))

    alone = max(size(pcf_id) for pcf_id in specs)
    assert size("ec2_instance:w000", "ec2_instance:w001") > alone
    monkeypatch.setattr(runs, "PAGE_DEFS_MAX_BYTES", alone)

    plan = run_steps.plan_run(steps, request)

    assert plan.levels[1].pages == [0, 1, 2, 3], "one particle a page: two of them no longer fit in one"
    monkeypatch.setattr(runs, "PAGE_DEFS_MAX_BYTES", alone - 1)
    with pytest.raises(DefinitionError, match="too large"):
        run_steps.plan_run(steps, request.model_copy(update={"execution": HEAL}))
    assert steps.store.get_run(HEAL) is None


def test_a_page_applied_visit_by_visit_brings_every_particle_up_and_the_summary_counts_them(
    steps: ControlPlane, ami_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = run_steps.plan_run(steps, PlanInput(definition=fleet(ami_id, 44), desired_state="running",
                                               execution=RUN))
    apply_pages(steps, plan)
    monkeypatch.setattr(run_steps, "SUMMARY_PAGES", 1)

    summary = run_steps.summarize_page(steps, SummaryStep(run=RUN, pcf_id=plan.pcf_id))
    calls = 1
    while summary.cursor is not None:
        summary = run_steps.summarize_page(steps, SummaryStep(**summary.model_dump()))
        calls += 1

    assert (summary.particles, summary.states) == (45, {"running": 45})
    assert calls >= 3, "one listing page per call, the counts carried from call to call"


def test_a_heal_runs_from_pages_of_stored_specs_with_their_generations(
    steps: ControlPlane, ami_id: str, ec2: Any
) -> None:
    apply_pages(steps, run_steps.plan_run(steps, PlanInput(definition=fleet(ami_id, 2), desired_state="running",
                                                           execution=RUN)))
    master = steps.store.get_observation("ec2_instance:master")
    ec2.stop_instances(InstanceIds=[master.resource_id])

    plan = run_steps.plan_run(steps, PlanInput(heal="ec2_instance:master", execution=HEAL))

    assert plan.unstored == [], "a heal's specs are stored already"
    assert [(level.level, level.particles) for level in plan.levels] == [(0, 1), (1, 2)]
    items = run_steps.load_page(steps, PageStep(run=HEAL, execution=HEAL, phase="start", level=1, page=0)).items
    assert [(item.generation, item.parents) for item in items] == [(1, ["ec2_instance:master"])] * 2


def test_a_failure_recorded_in_the_run_fails_its_level_under_its_own_name(steps: ControlPlane, ami_id: str) -> None:
    plan = run_steps.plan_run(steps, PlanInput(definition=fleet(ami_id, 7), desired_state="running",
                                               execution=RUN))
    for ref in plan.unstored:
        run_steps.plan_page(steps, PageStep(run=RUN, execution=RUN, **ref.model_dump()))
    assert steps.store.acquire_lease("ec2_instance:w003", RUN, 600)
    check = LevelCheck(run=RUN, phase="start", level=1, particles=7)
    assert run_steps.check_level(steps, check).converged == 7

    for worker in ("w005", "w003"):
        steps.particle_failed(ParticleFailure(pcf_id=f"ec2_instance:{worker}", execution=RUN, run=RUN,
                                              phase="start", level=1,
                                              failure={"Error": "ParticleTimeoutError", "Cause": f"{worker} slow"}))

    with pytest.raises(Exception, match="2 of 7 particle") as failed:
        run_steps.check_level(steps, check)
    assert type(failed.value).__name__ == "ParticleTimeoutError"
    assert "ec2_instance:w003: ParticleTimeoutError: w003 slow" in str(failed.value)
    assert steps.store.current_lease("ec2_instance:w003") is None
    assert run_steps.check_level(steps, LevelCheck(run=RUN, phase="start", level=0, particles=1)).converged == 1
