"""Library mode and the control plane roll back in the same order on the same graph: a created grandparent and
grandchild around a pre-existing middle particle are terminated in two levels, grandchild first, in both."""

from __future__ import annotations

import pytest

from pcf.core import State
from pcf.core.quasiparticle import Quasiparticle
from pcf.core.runtime import ApplyEvent, EventKind, Runtime
from pcf_control_plane.messages import RollbackInput, RollbackPageStep
from pcf_control_plane.rollback import begin_rollback, rollback_page
from pcf_control_plane.store import LevelPages, Observation, ParticleSpec, RunFailure, RunMeta, RunPage
from pcf_control_plane.store.converge import ConvergeCommit, commit_token
from pcf_control_plane.store.memory import InMemoryStateStore
from tests.support.memory_flavor import MemoryCloud, memory_definition

CHAIN = [("g", []), ("p", ["memory_particle:g"]), ("c", ["memory_particle:p"]), ("x", ["memory_particle:c"])]
"""Grandparent ``g`` and grandchild ``c`` created, middle ``p`` pre-existing, ``x`` (stopped before) failing to
start: what the apply created is ``g`` and ``c`` in both modes."""
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:apply:run-1"


def _levels(events: list[ApplyEvent]) -> list[list[str]]:
    """The rollback levels in the order they ran: consecutive rollback events are one level."""
    levels: list[list[str]] = []
    previous_was_rollback = False
    for event in events:
        is_rollback = event.kind is EventKind.rollback
        if is_rollback:
            if not previous_was_rollback:
                levels.append([])
            levels[-1].append(event.pcf_id)
        previous_was_rollback = is_rollback
    return [sorted(level) for level in levels]


def library_mode_rollback(memory_cloud: MemoryCloud, runtime: Runtime) -> list[list[str]]:
    memory_cloud.move("memory_particle:p", State.running, {})
    memory_cloud.move("memory_particle:x", State.stopped, {})
    memory_cloud.pending_polls = 0
    memory_cloud.fail_on[("memory_particle:x", "start")] = RuntimeError("boom")
    events: list[ApplyEvent] = []
    runtime.on_event = events.append
    group = Quasiparticle({"pcf_name": "q", "flavor": "quasiparticle", "desired_state": "running",
                           "particles": [memory_definition(name, parents=parents) for name, parents in CHAIN]})
    with pytest.raises(RuntimeError, match="boom"):
        group.apply(rollback=True, runtime=runtime)
    return _levels(events)


def control_plane_rollback() -> list[list[str]]:
    """The run partition of the failed apply (one level per particle, parents first), then the rollback's begin
    and every page, as the workflow runs them; the ids each rollback level terminates, empty levels left out."""
    store = InMemoryStateStore()
    pages, gens = [], {}
    for level, (name, parents) in enumerate(CHAIN):
        spec = ParticleSpec(pcf_id=f"memory_particle:{name}", definition={**memory_definition(name, parents=parents)},
                            desired_state="running", deployment="pcf", quasiparticle="quasiparticle:q")
        gens[spec.pcf_id] = store.put_spec(spec)
        pages.append(RunPage(phase="start", level=level, page=0, ids=(spec.pcf_id,), specs=(spec,),
                             gens={spec.pcf_id: gens[spec.pcf_id]}))
    store.put_run(RunMeta(execution=EXECUTION, pcf_id="quasiparticle:q", particles=len(CHAIN),
                          levels=tuple(LevelPages(phase="start", level=page.level, pages=1, particles=1)
                                       for page in pages)), pages)
    for name in ("g", "p", "c"):
        pcf_id = f"memory_particle:{name}"
        store.commit_converge(ConvergeCommit(
            pcf_id=pcf_id, execution=EXECUTION, token=commit_token(EXECUTION, pcf_id),
            observation=Observation(state="running", observed_at=1.0, resource_id=name, cause=EXECUTION),
            created=name in ("g", "c"), converged=True))
    store.record_failure(EXECUTION, RunFailure(pcf_id="memory_particle:x", phase="start", level=3, error="boom",
                                               at=2.0))
    begun = begin_rollback(store, RollbackInput(pcf_id="quasiparticle:q", execution=EXECUTION))
    levels = []
    for level in begun.levels:
        for page in level.pages:
            rollback_page(store, RollbackPageStep(execution=EXECUTION, phase=level.phase, level=level.level,
                                                  page=page))
            written = store.get_page(f"{EXECUTION}/rollback", level.phase, level.level, page)
            if written:
                levels.append(sorted(written.ids))
    return levels


def test_both_modes_terminate_the_created_grandchild_a_level_before_its_created_grandparent(
    memory_cloud: MemoryCloud, runtime: Runtime
) -> None:
    expected = [["memory_particle:c"], ["memory_particle:g"]]

    assert library_mode_rollback(memory_cloud, runtime) == expected
    assert control_plane_rollback() == expected
