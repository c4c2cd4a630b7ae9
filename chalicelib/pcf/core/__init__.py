"""Core types of the framework: the particle ``State`` and its string lookup."""

from enum import Enum


class State(Enum):
    """The lifecycle states of a particle. ``pending`` is only ever observed, never desired."""

    running = 1
    stopped = 2
    terminated = 3
    pending = 4

    def __str__(self) -> str:
        return self.name


STATE_STRING_TO_ENUM: dict[str, State] = {state.name: state for state in State}

DESIRABLE_STATES: frozenset[State] = frozenset({State.running, State.stopped, State.terminated})

__all__ = ["DESIRABLE_STATES", "STATE_STRING_TO_ENUM", "State"]
