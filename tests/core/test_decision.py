"""The one decision function: every (observed, desired) pair, and the protection flags."""

from __future__ import annotations

import itertools

import pytest

from pcf.core import State
from pcf.core.decision import Action, Protection, decide, decide_for

EBS_LIKE = {State.running: 1, State.stopped: 0, State.terminated: 0}


@pytest.mark.parametrize(
    ("observed", "desired", "expected"),
    [
        (State.terminated, State.running, Action.start),
        (State.stopped, State.running, Action.start),
        (State.running, State.running, Action.done),
        (State.running, State.stopped, Action.stop),
        (State.stopped, State.stopped, Action.done),
        (State.terminated, State.stopped, Action.done),
        (State.running, State.terminated, Action.terminate),
        (State.stopped, State.terminated, Action.terminate),
        (State.terminated, State.terminated, Action.done),
        (State.pending, State.running, Action.wait),
        (State.pending, State.stopped, Action.wait),
        (State.pending, State.terminated, Action.wait),
    ],
)
def test_next_action_for_every_state_pair(observed: State, desired: State, expected: Action) -> None:
    assert decide(observed, desired, definition_equivalent=True).action is expected


def test_running_with_a_different_definition_is_updated() -> None:
    assert decide(State.running, State.running, definition_equivalent=False).action is Action.update


def test_persist_on_update_leaves_a_differing_resource_alone() -> None:
    decision = decide(
        State.running, State.running, definition_equivalent=False, protection=Protection(persist_on_update=True)
    )
    assert decision.action is Action.done
    assert "persist_on_update" in decision.reason


@pytest.mark.parametrize("observed", [State.running, State.stopped])
def test_persist_on_termination_refuses_to_terminate(observed: State) -> None:
    decision = decide(
        observed, State.terminated, definition_equivalent=True, protection=Protection(persist_on_termination=True)
    )
    assert decision.action is Action.done


def test_equivalent_states_make_stopped_equal_terminated_for_volumes() -> None:
    assert decide(State.terminated, State.stopped, definition_equivalent=True,
                  equivalent_states=EBS_LIKE).action is Action.done
    assert decide(State.running, State.stopped, definition_equivalent=True,
                  equivalent_states=EBS_LIKE).action is Action.stop


def test_persisted_volume_is_not_deleted_by_a_stop() -> None:
    decision = decide(
        State.running,
        State.stopped,
        definition_equivalent=True,
        protection=Protection(persist_on_termination=True),
        equivalent_states=EBS_LIKE,
    )
    assert decision.action is Action.done


def test_pending_is_never_a_desired_state() -> None:
    with pytest.raises(ValueError, match="never desired"):
        decide(State.running, State.pending, definition_equivalent=True)


def test_decide_is_total_over_all_inputs() -> None:
    desired_states = [State.running, State.stopped, State.terminated]
    for observed, desired, equivalent, persist_t, persist_u in itertools.product(
        State, desired_states, [True, False], [True, False], [True, False]
    ):
        decision = decide(observed, desired, definition_equivalent=equivalent,
                          protection=Protection(persist_t, persist_u))
        assert isinstance(decision.action, Action)
        assert decision.reason


class _Particle:
    """What ``decide_for`` reads, with a definition that differs."""

    def __init__(self, desired: State, protection: Protection | None = None) -> None:
        self.desired_state = desired
        self.protection = protection or Protection()
        self.equivalent_states: dict[State, int] = {}
        self.compared = 0

    def is_state_equivalent(self, state1: State | None, state2: State | None) -> bool:
        return state1 == state2

    def is_state_definition_equivalent(self) -> bool:
        self.compared += 1
        return False


def test_decide_for_compares_the_definition_only_of_a_running_particle_meant_to_run() -> None:
    running = _Particle(State.running)
    assert decide_for(running, State.running).action is Action.update
    assert decide_for(running, State.stopped).action is Action.start
    assert running.compared == 1
    assert decide_for(running, State.running, compare_definition=False).action is Action.done
    assert running.compared == 1


def test_decide_for_honours_the_particles_protection() -> None:
    kept = _Particle(State.running, Protection(persist_on_update=True))
    assert decide_for(kept, State.running).reason.startswith("persist_on_update")
    persisted = _Particle(State.terminated, Protection(persist_on_termination=True))
    assert decide_for(persisted, State.running).action is Action.done
