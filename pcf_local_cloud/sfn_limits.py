"""Step Functions' refusals that moto's interpreter does not make.

- **``States.ALL`` catches neither ``States.DataLimitExceeded`` nor ``States.Runtime``** (Developer Guide, "Error
  handling in Step Functions": both are terminal). moto's ``ErrorEqualsDecl`` matches every error against
  ``States.ALL``, so a state output over 256 KiB (which moto does detect, as ``States.DataLimitExceeded``) was
  caught and rolled back as if nothing were wrong. Patched: a ``States.ALL`` retrier or catcher does not match
  them (naming them explicitly still does, as on AWS for ``Retry``).
- **An execution history holds at most 25,000 events** (Step Functions quotas); AWS fails the execution that would
  grow past it. moto keeps appending. Patched: a state entered once the history already holds ``history_limit``
  events fails the execution with ``States.Runtime`` (the terminal error AWS uses for what no state can handle),
  cause ``The execution history reached the limit of 25000 events``.
"""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from pcf_local_cloud.moto_private import before_each_state, history_size, unmatched_by_error_equals
from pcf_local_cloud.patchset import PatchSet

HISTORY_LIMIT = 25_000
UNCATCHABLE_BY_ALL = frozenset({"States.DataLimitExceeded", "States.Runtime"})
_ALL = StatesErrorName(typ=StatesErrorNameType.StatesALL)


class StepFunctionsLimits:
    """Installs both patches; ``history_limit`` may be lowered (tests reach it without 25,000 events)."""

    def __init__(self, history_limit: int = HISTORY_LIMIT) -> None:
        self.history_limit = history_limit

    def install(self, patches: PatchSet) -> None:
        self._install_wildcard(patches)
        self._install_history_limit(patches)

    @staticmethod
    def _install_wildcard(patches: PatchSet) -> None:
        unmatched_by_error_equals(patches, _uncatchable_by_all)

    def _install_history_limit(self, patches: PatchSet) -> None:
        limits = self

        def check(env: Any) -> None:
            if history_size(env) >= limits.history_limit:
                raise _history_full(env, limits.history_limit)

        before_each_state(patches, check)


def _uncatchable_by_all(decl: Any, error: Any) -> bool:
    """A ``States.ALL`` clause facing an error AWS keeps terminal."""
    return _ALL in decl.error_names and getattr(error, "error_name", None) in UNCATCHABLE_BY_ALL


def _history_full(env: Any, limit: int) -> FailureEventException:
    error = StatesErrorNameType.StatesRuntime
    return FailureEventException(failure_event=FailureEvent(
        env=env,
        error_name=StatesErrorName(typ=error),
        event_type=HistoryEventType.ExecutionFailed,
        event_details=EventDetails(executionFailedEventDetails=ExecutionFailedEventDetails(
            error=error.to_name(), cause=f"The execution history reached the limit of {limit} events")),
    ))
