"""A rollback page by page (``rollback.begin_rollback``, ``rollback.rollback_page``), over each state store: the
apply's levels reversed, each page decided from the run's marks and the observations (no history scan), the
rollback's pages holding only what to terminate, and a retried step writing nothing twice."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.counting import ApiCallCounter
from pcf_control_plane import rollback, run_steps
from pcf_control_plane.converge import converge
from pcf_control_plane.messages import (
    ConvergeInput,
    PageStep,
    ParticleFailure,
    PlanInput,
    RollbackInput,
    RollbackPageStep,
)
from pcf_control_plane.steps import ControlPlane
from pcf_control_plane.store import DynamoDBStateStore, HistoryKind, ParticleSpec, StateStore
from pcf_local_cloud.clock import VirtualClock
from tests.support.steps import STORES, instance, plan_all, steps_over

RUN = "arn:aws:states:us-east-1:123456789012:execution:apply:rb-pages"
ROLLBACK = f"{RUN}/rollback"
MASTER, TAIL = "ec2_instance:master", "ec2_instance:tail"
FAILURE = {"Error": "TransitionError", "Cause": "w001 refused"}


@pytest.fixture(params=STORES)
def steps(request: pytest.FixtureRequest, cloud: Any, clock: VirtualClock) -> ControlPlane:
    return steps_over(request.param, cloud, clock)


def worker(n: int) -> str:
    return f"ec2_instance:w{n:03d}"


def chain(ami_id: str, workers: int, **master: Any) -> dict[str, Any]:
    """master <- ``workers`` workers <- tail (a child of the first worker)."""
    return {"pcf_name": "rb", "flavor": "quasiparticle", "particles": [
        instance("master", ami_id, **master),
        *[instance(f"w{n:03d}", ami_id, parents=[MASTER]) for n in range(workers)],
        instance("tail", ami_id, parents=[worker(0)])]}


def visit(steps: ControlPlane, pcf_ids: list[str], level: int) -> None:
    """Converge ``pcf_ids`` of ``level`` until done, as the page machine does."""
    page = run_steps.load_page(steps, PageStep(run=RUN, execution=RUN, phase="start", level=level, page=0))
    for item in page.items:
        if item.pcf_id in pcf_ids:
            while converge(steps, ConvergeInput(execution=RUN, **item.model_dump())).action != "done":
                pass


def failed_apply(steps: ControlPlane, ami_id: str, workers: int = 3, **master: Any) -> None:
    """master up, workers up but ``w001`` failed, the tail's level never reached."""
    plan_all(steps, PlanInput(definition=chain(ami_id, workers, **master), desired_state="running", execution=RUN))
    visit(steps, [MASTER], 0)
    visit(steps, [worker(n) for n in range(workers) if n != 1], 1)
    steps.particle_failed(ParticleFailure(pcf_id=worker(1), execution=RUN, run=RUN, phase="start", level=1,
                                          failure=FAILURE))


def roll_back(store: StateStore) -> list[list[str]]:
    """Begin, then every page of every level in order; the ids of each level's rollback pages."""
    begun = rollback.begin_rollback(store, RollbackInput(pcf_id="quasiparticle:rb", execution=RUN, error=FAILURE))
    found = []
    for level in begun.levels:
        ids: list[str] = []
        for page in level.pages:
            step = RollbackPageStep(execution=RUN, phase=level.phase, level=level.level, page=page, error=begun.error)
            count = rollback.rollback_page(store, step).particles
            written = store.get_page(ROLLBACK, level.phase, level.level, page)
            assert count == (len(written.ids) if written else 0)
            ids += written.ids if written else []
        found.append(sorted(ids))
    return found


def rollbacks(store: StateStore, pcf_id: str) -> list[dict[str, Any]]:
    return [item.detail for item in store.list_history(pcf_id) if item.kind == HistoryKind.rollback]


def test_begin_answers_the_runs_levels_reversed_with_their_pages_and_reads_no_particle(
    steps: ControlPlane, ami_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_all(steps, PlanInput(definition=chain(ami_id, 85), desired_state="running", execution=RUN))
    for name in ("get_many", "read_states", "list_history", "get_spec", "members_of"):
        monkeypatch.setattr(steps.store, name, lambda *a, **k: pytest.fail("begin reads no particle"))

    begun = rollback.begin_rollback(steps.store, RollbackInput(pcf_id="quasiparticle:rb", execution=RUN,
                                                               error=FAILURE))

    assert [(level.phase, level.level, level.particles, level.pages) for level in begun.levels] == [
        ("start", 2, 1, [0]), ("start", 1, 85, [0, 1, 2]), ("start", 0, 1, [0])]
    assert (begun.run, begun.error, begun.particles) == (ROLLBACK, "TransitionError", 87)
    assert steps.store.get_run(RUN).rolling_back is True
    assert [(level.level, level.pages) for level in steps.store.get_run(ROLLBACK).levels] == [(2, 1), (1, 3), (0, 1)]


def test_each_page_terminates_what_the_run_created_children_first_and_marks_what_it_left(
    steps: ControlPlane, ami_id: str
) -> None:
    failed_apply(steps, ami_id)
    store = steps.store

    levels = roll_back(store)

    assert levels == [[], [worker(0), worker(2)], [MASTER]], "the tail was never reached, w001 never created"
    specs = {pcf_id: store.get_spec(pcf_id) for pcf_id in (MASTER, worker(0), worker(1), worker(2), TAIL)}
    assert {pcf_id: (spec.desired_state, spec.flags.rolled_back_by) for pcf_id, spec in specs.items()} == {
        MASTER: ("terminated", RUN), worker(0): ("terminated", RUN), worker(2): ("terminated", RUN),
        worker(1): ("running", RUN), TAIL: ("running", RUN)}
    assert rollbacks(store, worker(0)) == [{"desired_state": "terminated", "error": "TransitionError",
                                            "generation": specs[worker(0)].generation}]
    assert [d["left_out"] for d in rollbacks(store, worker(1))] == ["failed"]
    assert [d["left_out"] for d in rollbacks(store, TAIL)] == ["not reached"]
    page = run_steps.load_page(steps, PageStep(run=ROLLBACK, execution=RUN, phase="start", level=1, page=0))
    assert [(item.pcf_id, item.generation, item.parents) for item in page.items] == [
        (worker(0), specs[worker(0)].generation, [MASTER]), (worker(2), specs[worker(2)].generation, [MASTER])]


def test_a_persisted_resource_is_kept_and_a_newer_plan_owns_its_particle(steps: ControlPlane, ami_id: str) -> None:
    failed_apply(steps, ami_id, persist_on_termination=True)
    store = steps.store
    newer = store.get_spec(worker(2)).model_dump(include=set(ParticleSpec.model_fields))
    store.put_spec(ParticleSpec.model_validate({**newer, "desired_state": "stopped"}))  # another execution's plan

    levels = roll_back(store)

    assert levels == [[], [worker(0)], []]
    assert (store.get_spec(MASTER).desired_state, store.get_spec(MASTER).flags.rolled_back_by) == ("running", None)
    assert rollbacks(store, MASTER) == [] and rollbacks(store, worker(2)) == []
    assert store.get_spec(worker(2)).desired_state == "stopped"


def test_a_retried_page_writes_no_second_generation_nor_history_item(
    steps: ControlPlane, ami_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed_apply(steps, ami_id)
    store = steps.store
    begun = rollback.begin_rollback(store, RollbackInput(pcf_id="quasiparticle:rb", execution=RUN, error=FAILURE))
    step = RollbackPageStep(execution=RUN, phase="start", level=1, page=0, error=begun.error)
    real_add, real_put = store.add_history, store.put_page
    lost: list[str] = []

    def add_history_once_lost(pcf_id: str, kind: Any, detail: Any, cause: str, **kwargs: Any) -> Any:
        if pcf_id == worker(2) and not lost:  # the Lambda timed out between the spec and its history item
            lost.append(pcf_id)
            raise TimeoutError("Task timed out")
        return real_add(pcf_id, kind, detail, cause, **kwargs)

    monkeypatch.setattr(store, "add_history", add_history_once_lost)
    with pytest.raises(TimeoutError):
        rollback.rollback_page(store, step)
    monkeypatch.setattr(store, "put_page", lambda *a: (_ for _ in ()).throw(TimeoutError("Task timed out")))
    with pytest.raises(TimeoutError):
        rollback.rollback_page(store, step)  # every spec and item written, the page not
    monkeypatch.setattr(store, "put_page", real_put)
    generations = {n: store.get_spec(worker(n)).generation for n in range(3)}

    first = rollback.rollback_page(store, step)
    again = rollback.rollback_page(store, step)

    assert first.particles == again.particles == 2
    assert {n: store.get_spec(worker(n)).generation for n in range(3)} == generations
    assert [len(rollbacks(store, worker(n))) for n in range(3)] == [1, 1, 1]
    assert rollbacks(store, worker(2))[0]["generation"] == generations[2]
    assert store.get_page(ROLLBACK, "start", 1, 0).gens == {worker(0): generations[0], worker(2): generations[2]}


def test_a_page_reads_its_particles_and_marks_in_a_bounded_number_of_calls(
    steps: ControlPlane, ami_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed_apply(steps, ami_id, workers=40)
    monkeypatch.setattr(steps.store, "list_history", lambda *a, **k: pytest.fail("no history scan"))
    monkeypatch.setattr(steps.store, "get_many", lambda *a, **k: pytest.fail("one read of the page's states"))
    rollback.begin_rollback(steps.store, RollbackInput(pcf_id="quasiparticle:rb", execution=RUN, error=FAILURE))

    counter = ApiCallCounter()
    if isinstance(steps.store, DynamoDBStateStore):
        counter.hook("dynamodb", steps.store._io.client)

    done = rollback.rollback_page(steps.store, RollbackPageStep(execution=RUN, phase="start", level=1, page=0))

    assert done.particles == 39
    if isinstance(steps.store, DynamoDBStateStore):
        calls = {op: sum(n.values()) for op, n in counter.snapshot().by_operation("dynamodb").items()}
        assert calls == {"GetItem": 2, "BatchGetItem": 3 + 40, "UpdateItem": 40, "PutItem": 2 * 40 + 1}, (
            "the page, its states and marks read at once; put_spec (a read, the listing, the spec) and a history "
            "item per particle; the rollback's page")
