"""Library-mode apply on the in-memory flavor: order, waiting, timeouts, rollback, callbacks, flags."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest

from pcf.core import State
from pcf.core.apply_engine import plan_levels
from pcf.core.decision import Action
from pcf.core.pcf_exceptions import (
    ApplyFailed,
    DefinitionError,
    InvalidCacheTTLException,
    InvalidValueReplaceException,
    ParticleTimeoutError,
    TransitionError,
)
from pcf.core.quasiparticle import Quasiparticle
from pcf.core.runtime import ApplyEvent, EventKind, Runtime
from pcf_local_cloud.clock import VirtualClock
from tests.support.callbacks import CALLS
from tests.support.memory_flavor import MemoryCloud, MemoryParticle, memory_definition


def cluster(**extra: Any) -> Quasiparticle:
    return Quasiparticle({
        "pcf_name": "c",
        "flavor": "quasiparticle",
        "particles": [
            memory_definition("m", spec={"ip": "10.0.0.9"}),
            memory_definition("w", multiplier=3, parents=["memory_particle:m"],
                              spec={"master": "$inherit$memory_particle:m$ip"}),
            memory_definition("v", multiplier=3, parents=["memory_particle:w"]),
        ],
        **extra,
    })


def order_of(log: list[tuple[str, str]], action: str) -> list[str]:
    return [pcf_id for pcf_id, done in log if done == action]


def test_start_puts_parents_first_and_stop_children_first(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    q = cluster()
    q.set_desired_state("running")
    result = q.apply(runtime=runtime)
    started = order_of(memory_cloud.log, "start")
    assert started[0] == "memory_particle:m"
    assert set(started[1:4]) == {f"memory_particle:w-{i}" for i in range(3)}
    assert set(started[4:]) == {f"memory_particle:v-{i}" for i in range(3)}
    assert len(result.levels) == 3
    assert q.get_state() is State.running

    q.set_desired_state("terminated")
    q.apply(runtime=runtime)
    terminated = order_of(memory_cloud.log, "terminate")
    assert set(terminated[:3]) == {f"memory_particle:v-{i}" for i in range(3)}
    assert terminated[-1] == "memory_particle:m"
    assert q.get_state() is State.terminated


def test_pending_is_waited_through_with_backoff_on_the_injected_clock(
    memory_cloud: MemoryCloud, runtime: Runtime, clock: VirtualClock
) -> None:
    memory_cloud.pending_polls = 4
    particle = MemoryParticle(memory_definition("a", desired_state="running"))
    result = particle.apply(runtime=runtime)
    outcome = result.outcomes["memory_particle:a"]
    assert outcome.final_state is State.running
    # a wait after the transition, then one per pending sync: 4 syncs until running, growing by 1.5x
    assert outcome.polls == 4
    assert clock.now() == pytest.approx(0.5 + 0.75 + 1.125 + 1.6875)


def test_particles_of_a_level_run_concurrently_but_bounded(memory_cloud: MemoryCloud, clock: VirtualClock) -> None:
    active, peak = 0, 0
    lock = threading.Lock()
    gate = threading.Barrier(3, timeout=5)

    class Tracking(MemoryParticle):
        flavor = "tracking_particle"

        def _start(self) -> str:
            nonlocal active, peak
            with lock:
                active += 1
                peak = max(peak, active)
            with contextlib.suppress(threading.BrokenBarrierError):
                gate.wait()
            with lock:
                active -= 1
            return super()._start()

    q = Quasiparticle({"pcf_name": "t", "flavor": "quasiparticle", "desired_state": "running", "particles": [
        {**memory_definition(f"p{i}"), "flavor": "tracking_particle"} for i in range(6)]})
    q.apply(runtime=Runtime(clock=clock.now, sleep=clock.sleep, max_workers=3))
    assert peak == 3


def test_inherit_takes_the_parents_current_value_including_falsy(
    memory_cloud: MemoryCloud, runtime: Runtime
) -> None:
    q = Quasiparticle({"pcf_name": "z", "flavor": "quasiparticle", "desired_state": "running", "particles": [
        memory_definition("m", spec={"port": 0, "name": ""}),
        memory_definition("w", parents=["memory_particle:m"],
                          spec={"port": "$inherit$memory_particle:m$port", "n": "$inherit$memory_particle:m$name"}),
    ]})
    q.apply(runtime=runtime)
    child = memory_cloud.resources["memory_particle:w"].definition
    assert child["port"] == 0
    assert child["n"] == ""


def test_inherit_of_a_missing_key_fails_before_the_child_starts(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    q = Quasiparticle({"pcf_name": "z", "flavor": "quasiparticle", "desired_state": "running", "particles": [
        memory_definition("m"),
        memory_definition("w", parents=["memory_particle:m"], spec={"x": "$inherit$memory_particle:m$Nope"}),
    ]})
    with pytest.raises(InvalidValueReplaceException, match="no 'Nope'"):
        q.apply(runtime=runtime)
    assert "memory_particle:w" not in memory_cloud.resources


def test_inherit_from_a_non_parent_is_refused_before_anything_acts(
    memory_cloud: MemoryCloud, runtime: Runtime
) -> None:
    q = Quasiparticle({"pcf_name": "z", "flavor": "quasiparticle", "desired_state": "running", "particles": [
        memory_definition("m"),
        memory_definition("w", spec={"x": "$inherit$memory_particle:m$ip"}),
    ]})
    with pytest.raises(InvalidValueReplaceException, match="not a parent"):
        q.apply(runtime=runtime)
    assert memory_cloud.log == []


def test_child_running_under_a_stopped_parent_is_refused(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    q = cluster()
    q.set_desired_state("running")
    q.get_particle("memory_particle", "m").set_desired_state("stopped")
    with pytest.raises(DefinitionError, match="running needs parent memory_particle:m running"):
        q.apply(runtime=runtime)
    assert memory_cloud.log == []


def test_unset_desired_state_is_refused(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    with pytest.raises(DefinitionError, match="desired_state"):
        MemoryParticle(memory_definition("a")).apply(runtime=runtime)


def test_particle_apply_brings_its_parents_up_first(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    q = cluster()
    volume = q.get_particle("memory_particle", "v-2")
    volume.set_desired_state("running")
    volume.apply(runtime=runtime)
    assert order_of(memory_cloud.log, "start") == ["memory_particle:m", "memory_particle:w-2", "memory_particle:v-2"]


def test_cascade_stops_children_before_the_particle(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    q = cluster(desired_state="running")
    q.apply(runtime=runtime)
    worker = q.get_particle("memory_particle", "w-0")
    worker.set_desired_state("stopped")
    worker.apply(cascade=True, runtime=runtime)
    assert order_of(memory_cloud.log, "stop") == ["memory_particle:v-0", "memory_particle:w-0"]
    assert memory_cloud.resources["memory_particle:w-1"].state is State.running


def test_timeout_names_the_particle_and_its_state(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    memory_cloud.pending_polls = 1
    memory_cloud.stuck.add("memory_particle:a")
    particle = MemoryParticle(memory_definition("a", desired_state="running"))
    with pytest.raises(ParticleTimeoutError) as caught:
        particle.apply(max_timeout=30, runtime=runtime)
    assert caught.value.pcf_id == "memory_particle:a"
    assert caught.value.last_state is State.pending
    assert "after 30s" in str(caught.value)


def test_rollback_terminates_only_what_this_apply_created(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    memory_cloud.move("memory_particle:m", State.running, {"ip": "10.0.0.9"})
    memory_cloud.pending_polls = 0
    memory_cloud.fail_on[("memory_particle:v-1", "start")] = RuntimeError("boom")
    q = cluster(desired_state="running")
    q.get_particle("memory_particle", "w-2").persist_on_termination = True
    with pytest.raises(RuntimeError, match="boom"):
        q.apply(rollback=True, runtime=runtime)
    resources = memory_cloud.resources
    assert resources["memory_particle:m"].state is State.running  # existed before: left alone
    assert resources["memory_particle:w-2"].state is State.running  # persisted: left alone
    assert resources["memory_particle:w-0"].state is State.terminated
    assert resources["memory_particle:v-0"].state is State.terminated
    terminated = order_of(memory_cloud.log, "terminate")
    assert terminated.index("memory_particle:v-0") < terminated.index("memory_particle:w-0")
    assert "memory_particle:m" not in terminated


def test_several_failures_are_reported_together(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    memory_cloud.fail_on[("memory_particle:w-0", "start")] = RuntimeError("a")
    memory_cloud.fail_on[("memory_particle:w-2", "start")] = ValueError("b")
    with pytest.raises(ApplyFailed) as caught:
        cluster(desired_state="running").apply(runtime=runtime)
    assert set(caught.value.errors) == {"memory_particle:w-0", "memory_particle:w-2"}
    assert not any(pcf_id.startswith("memory_particle:v") for pcf_id, _ in memory_cloud.log)


def test_update_when_the_definition_differs_unless_persisted(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    particle = MemoryParticle(memory_definition("a", desired_state="running", spec={"size": 1}))
    particle.apply(runtime=runtime)
    particle.desired_state_definition["size"] = 2
    result = particle.apply(runtime=runtime)
    assert result.outcomes["memory_particle:a"].transitions == [Action.update]
    assert memory_cloud.resources["memory_particle:a"].definition["size"] == 2

    particle.persist_on_update = True
    particle.desired_state_definition["size"] = 3
    result = particle.apply(runtime=runtime)
    assert result.outcomes["memory_particle:a"].transitions == []
    assert memory_cloud.resources["memory_particle:a"].definition["size"] == 2


def test_persist_on_termination_keeps_the_resource(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    particle = MemoryParticle(memory_definition("a", desired_state="running", persist_on_termination=True))
    particle.apply(runtime=runtime)
    particle.set_desired_state("terminated")
    particle.apply(runtime=runtime)
    assert memory_cloud.resources["memory_particle:a"].state is State.running


def test_an_update_that_never_converges_fails_clearly(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    class Stubborn(MemoryParticle):
        flavor = "stubborn_particle"

        def is_state_definition_equivalent(self) -> bool:
            return False

    particle = Stubborn({**memory_definition("s", desired_state="running"), "flavor": "stubborn_particle"})
    with pytest.raises(TransitionError, match="no convergence"):
        particle.apply(runtime=runtime)


def test_callbacks_run_after_their_transition_with_the_particle(
    memory_cloud: MemoryCloud, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PCF_CALLBACKS", "tests.support.callbacks:record_call")  # registered on purpose
    CALLS.clear()
    particle = MemoryParticle(memory_definition(
        "a", desired_state="running",
        callbacks={"start": {"function": "tests.support.callbacks:record_call",
                             "kwargs": {"particle": True, "note": "hi"}}},
    ))
    particle.apply(runtime=runtime)
    assert [{"particle": particle, "note": "hi"}] == CALLS


def test_async_apply_fires_one_transition_and_returns(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    q = cluster(desired_state="running")
    result = q.apply(sync=False, runtime=runtime)
    assert [pcf_id for pcf_id, _ in memory_cloud.log] == ["memory_particle:m"]
    assert result.outcomes["memory_particle:m"].reason.startswith("pending:")


def test_validate_config_runs_before_any_transition(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    class Picky(MemoryParticle):
        flavor = "picky_particle"

        def _validate_config(self) -> None:
            raise DefinitionError("aws_resource.size", "must be positive")

    particle = Picky({**memory_definition("p", desired_state="running"), "flavor": "picky_particle"})
    with pytest.raises(DefinitionError, match="must be positive"):
        particle.apply(validate_config=True, runtime=runtime)
    assert memory_cloud.log == []
    particle.apply(runtime=runtime)
    assert memory_cloud.log == [("picky_particle:p", "start")]


def test_cache_ttl_below_ten_seconds_is_refused(memory_cloud: MemoryCloud) -> None:
    with pytest.raises(InvalidCacheTTLException):
        MemoryParticle(memory_definition("a", desired_state="running")).apply(cache_ttl=5)


def test_events_report_levels_states_transitions_and_completion(
    memory_cloud: MemoryCloud, clock: VirtualClock
) -> None:
    events: list[ApplyEvent] = []
    runtime = Runtime(clock=clock.now, sleep=clock.sleep, on_event=events.append)
    MemoryParticle(memory_definition("a", desired_state="running")).apply(runtime=runtime)
    kinds = [e.kind for e in events]
    assert kinds[0] is EventKind.level
    assert EventKind.transition in kinds
    assert kinds[-1] is EventKind.done
    assert [e.state for e in events if e.kind is EventKind.observed] == [State.terminated, State.pending, State.running]


def test_plan_levels_without_acting(memory_cloud: MemoryCloud) -> None:
    q = cluster(desired_state="terminated")
    planned = plan_levels(q.members())
    assert [level.phase for level in planned] == ["stop", "stop", "stop"]
    assert planned[-1].pcf_ids == ["memory_particle:m"]
    assert memory_cloud.log == []
