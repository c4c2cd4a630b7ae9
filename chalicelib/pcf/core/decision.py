"""The one decision function: from what is observed and what is desired, the next action.

Pure and total. Library-mode ``apply()`` loops over it in-process; the Step Functions workflow branches
on the same answer returned by the ``sync_state`` Lambda.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, assert_never

from pcf.core import State


class Action(StrEnum):
    """What to do next for a particle."""

    done = "done"
    wait = "wait"
    start = "start"
    stop = "stop"
    terminate = "terminate"
    update = "update"


TRANSITIONS: frozenset[Action] = frozenset({Action.start, Action.stop, Action.terminate, Action.update})


@dataclass(frozen=True)
class Protection:
    """Per-particle flags that forbid some actions."""

    persist_on_termination: bool = False
    persist_on_update: bool = False


@dataclass(frozen=True)
class Decision:
    """The next action and a short human reason for it."""

    action: Action
    reason: str


def states_equivalent(first: State, second: State, equivalent_states: Mapping[State, int]) -> bool:
    """Equal, or in the same class of the flavor's ``equivalent_states`` table."""
    if first == second:
        return True
    if first in equivalent_states and second in equivalent_states:
        return equivalent_states[first] == equivalent_states[second]
    return False


def decide(
    observed: State,
    desired: State,
    *,
    definition_equivalent: bool,
    protection: Protection = Protection(),
    equivalent_states: Mapping[State, int] | None = None,
) -> Decision:
    """The next action for a particle observed in ``observed`` that should be ``desired``.

    ``definition_equivalent`` matters only when the particle is running and should be: a difference
    means ``update`` (unless ``persist_on_update``). Terminating, or a desired state equivalent to
    terminated for this flavor, is refused as ``done`` under ``persist_on_termination``.
    """
    table = equivalent_states or {}
    if desired is State.pending:
        raise ValueError("pending is observed, never desired")
    if observed is State.pending:
        return Decision(Action.wait, "a transition is in progress")
    destroys = desired is State.terminated or states_equivalent(desired, State.terminated, table)
    if destroys and protection.persist_on_termination and observed is not State.terminated:
        return Decision(Action.done, "persist_on_termination: left as it is")
    if states_equivalent(observed, desired, table):
        if desired is State.running and not definition_equivalent:
            if protection.persist_on_update:
                return Decision(Action.done, "persist_on_update: definition differs, left as it is")
            return Decision(Action.update, "definition differs from the desired one")
        return Decision(Action.done, f"{observed} as desired")
    match desired:
        case State.running:
            return Decision(Action.start, f"{observed} -> running")
        case State.stopped:
            if observed is State.terminated:
                # Nothing exists to stop. Creating it only to stop it would also start children before
                # their parents (stop order), with nothing for their $inherit$ to read.
                return Decision(Action.done, "does not exist: nothing to stop")
            return Decision(Action.stop, f"{observed} -> stopped")
        case State.terminated:
            return Decision(Action.terminate, f"{observed} -> terminated")
        case _:
            assert_never(desired)


class Decidable(Protocol):
    """What ``decide_for`` reads of a particle."""

    @property
    def desired_state(self) -> State | None: ...

    @property
    def equivalent_states(self) -> Mapping[State, int]: ...

    @property
    def protection(self) -> Protection: ...

    def is_state_equivalent(self, state1: State | None, state2: State | None) -> bool: ...

    def is_state_definition_equivalent(self) -> bool: ...


def decide_for(particle: Decidable, observed: State, *, compare_definition: bool = True) -> Decision:
    """``decide`` for a particle just synced to ``observed``, with its protection and state table; its definition
    is compared (``is_state_definition_equivalent``) only when it is running and should be, and not at all with
    ``compare_definition=False``. Library mode, the control plane's sync step and ``pcf plan --observe`` all
    decide through this."""
    desired = particle.desired_state
    if desired is None:
        raise ValueError("a particle without a desired state has nothing to decide")
    equivalent = True
    if compare_definition and desired is State.running and particle.is_state_equivalent(observed, State.running):
        equivalent = particle.is_state_definition_equivalent()
    return decide(observed, desired, definition_equivalent=equivalent, protection=particle.protection,
                  equivalent_states=particle.equivalent_states)
