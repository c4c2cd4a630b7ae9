"""Distributed map runs that behave as Step Functions' do (issue 13, emulations E1-E3 of the scaling plan).

moto 5.2.5 runs a ``Map`` in ``DISTRIBUTED`` mode by running every item in the parent's own process and one event
list shared by all items, with no child execution, and a failed item only counts in the map run's counters while
the ``Map`` succeeds. Here (hook: ``moto_private.emulate_map_runs``):

- **Child executions (E1).** Each item runs as a child workflow execution with its own history, from
  ``ExecutionStarted`` to ``ExecutionSucceeded|Failed|Aborted|TimedOut``, separate from the parent's
  (state-map-distributed.html); the parent keeps its ``MapStateStarted``/``MapRunStarted``/``MapRun*`` events.
  Inside a child ``$$.Execution`` is the child's (ARN, name, input, start time). A child's input is the item
  after ``ItemSelector``; over the 256 KiB state quota (service-quotas.html) the child fails with
  ``States.DataLimitExceeded``. The 25,000-event limit of :mod:`pcf_local_cloud.sfn_limits` counts each child's own
  history. Records and API answers: :mod:`pcf_local_cloud.map_run_children`, :mod:`pcf_local_cloud.map_run_api`.
- **Failure threshold (E2).** After each child, and when the run ends, the run fails with
  ``States.ExceedToleratedFailureThreshold`` once the failed, timed-out and aborted children exceed
  ``ToleratedFailureCount`` or ``ToleratedFailurePercentage`` (of all items) — both 0 by default, so any failed
  child fails the run (state-map-distributed.html#maprun-fail-threshold). Once exceeded no further item starts
  (those stay ``pending`` in ``DescribeMapRun``'s item counts, as AWS reports them); the run's status is
  ``FAILED``. A threshold given as 0 next to a non-zero other one is read as not given (moto does not keep which
  fields the definition named).
- **The role of a map run (E3).** Starting children is ``states:StartExecution`` on the parent's own state machine
  and watching them ``states:DescribeExecution`` on its ``execution:<machine>/*`` (iam-policies-eg-dist-map.html);
  both are evaluated for the machine's role when the run starts. Refused, the run starts no child and the ``Map``
  fails with ``States.Runtime`` (terminal) and AWS's access-denied message as the cause.
- **Threads.** moto starts one thread per item when ``MaxConcurrency`` is 0 (AWS: up to 10,000 children at
  once). Locally at most ``max_workers`` items run at a time (40, the inline Map's documented bound); the others
  wait, as children beyond ``MaxConcurrency`` do on AWS. Nothing else changes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.stepfunctions.parser.api import (
    ExecutionAbortedEventDetails,
    ExecutionFailedEventDetails,
    ExecutionStartedEventDetails,
    ExecutionSucceededEventDetails,
    ExecutionTimedOutEventDetails,
    HistoryEventExecutionDataDetails,
    HistoryEventType,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramStopped,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.asl.eval.states import ExecutionData
from moto.stepfunctions.parser.quotas import is_within_size_quota

from pcf_local_cloud import iam_enforcement
from pcf_local_cloud.map_run_children import ChildExecution, MapRunChildren, child_arn_prefix
from pcf_local_cloud.moto_private import MapRunHandler, emulate_map_runs
from pcf_local_cloud.patchset import PatchSet

LOCAL_WORKERS = 40
"""At most this many items of one map run run at a time in the local cloud."""
THRESHOLD_ERROR = "States.ExceedToleratedFailureThreshold"


@dataclass(frozen=True)
class Outcome:
    """How a child ended: its status and output, or error and cause."""

    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None


def exceeds_threshold(unsuccessful: int, items: int, count: int, percentage: float) -> bool:
    """Whether ``unsuccessful`` of ``items`` exceed the tolerated ``count`` or ``percentage`` (a 0 beside a
    non-zero other is not a threshold; both 0: any failure exceeds)."""
    if count == 0 and percentage == 0:
        return unsuccessful > 0
    over_count = count > 0 and unsuccessful > count
    over_percentage = percentage > 0 and items > 0 and unsuccessful * 100.0 / items > percentage
    return over_count or over_percentage


class MapRuns(MapRunHandler):
    """The handler moto's map runs call (see the module docstring); ``ended`` is called as each child ends."""

    def __init__(self, children: MapRunChildren, ended: Callable[[], None], *,
                 max_workers: int = LOCAL_WORKERS) -> None:
        self.children = children
        self.ended = ended
        self.max_workers = max_workers
        self._items: dict[str, int] = {}
        self._lock = threading.Lock()

    def install(self, patches: PatchSet) -> None:
        emulate_map_runs(patches, self)

    # -- the run ------------------------------------------------------------------------------------------
    def starting(self, env: Any, record: Any, items: int) -> None:
        with self._lock:
            self._items[record.map_run_arn] = items
        self.children.open_run(record.map_run_arn)  # a refused run exists too, with no child
        self._refuse_unless_allowed(env, record)

    def workers(self, max_concurrency: int, items: int) -> int:
        wanted = items if max_concurrency == 0 else max_concurrency
        return max(0, min(wanted, items, self.max_workers))

    def finished(self, env: Any, record: Any, items: int) -> None:
        if env.is_running() and self._breached(record):  # a stopped parent ends ABORTED, not failed
            raise _threshold_failure(env, record, items)

    # -- one item -------------------------------------------------------------------------------------------
    def run_item(self, env: Any, record: Any, job: Any, select_input: Callable[[], Any]) -> None:
        job.job_output = None
        if self._breached(record) or not env.is_running():  # no child starts past the threshold or a stop
            record.item_counter.total.count()
            record.item_counter.pending.count()
            return
        for counter in (record.item_counter, record.execution_counter):
            counter.total.count()
            counter.running.count()
        env.event_manager = EventManager()  # the child's own history
        env.event_history_context.source_event_id = env.event_history_context.last_published_event_id = 0
        try:
            child_input, failure = select_input(), None
        except Exception as error:  # the ItemSelector itself failed: the child fails at its start
            child_input, failure = job.job_input, _failure_of(error)
        child = self._start_child(env, record, child_input)
        if failure is None and not is_within_size_quota(child_input):
            failure = Outcome("FAILED", error="States.DataLimitExceeded",
                              cause="The child execution's input exceeds the maximum number of bytes service limit.")
        outcome = failure or _run(env, job)
        _record_end(env, outcome)
        _count(record, outcome)
        child.end(outcome.status, output=outcome.output, error=outcome.error, cause=outcome.cause)
        job.job_output = outcome.output if outcome.status == "SUCCEEDED" else None
        self.ended()

    def _start_child(self, env: Any, record: Any, child_input: Any) -> ChildExecution:
        context = env.states.context_object.context_object_data
        role_arn = env.aws_execution_details.role_arn
        child = self.children.start(map_run_arn=record.map_run_arn,
                                    labelled_machine_arn=record.map_state_machine_arn,
                                    child_input=child_input, history=env.event_manager, env=env)
        context["Execution"] = ExecutionData(Id=child.arn, Input=child_input, Name=child.name, RoleArn=role_arn,
                                             StartTime=child.start_date.isoformat())
        env.event_manager.add_event(
            context=env.event_history_context, event_type=HistoryEventType.ExecutionStarted,
            event_details=EventDetails(executionStartedEventDetails=ExecutionStartedEventDetails(
                input=_json_text(child_input), inputDetails=HistoryEventExecutionDataDetails(truncated=False),
                roleArn=role_arn)),
            update_source_event_id=False)
        return child

    def _breached(self, record: Any) -> bool:
        with self._lock:
            items = self._items.get(record.map_run_arn, 0)
        counts = record.item_counter
        unsuccessful = counts.failed.get() + counts.timed_out.get() + counts.aborted.get()
        return exceeds_threshold(unsuccessful, items, int(record.tolerated_failure_count),
                                 float(record.tolerated_failure_percentage))

    # -- IAM --------------------------------------------------------------------------------------------------
    @staticmethod
    def _refuse_unless_allowed(env: Any, record: Any) -> None:
        enforcement = iam_enforcement.active()
        role_arn = env.aws_execution_details.role_arn
        if enforcement is None or not role_arn:
            return
        machine_arn = env.states.context_object.context_object_data["StateMachine"]["Id"]
        _, _, _, region, account, *_ = machine_arn.split(":")
        asked = (("StartExecution", {"stateMachineArn": machine_arn}),
                 ("DescribeExecution", {"executionArn": f"{child_arn_prefix(record.map_state_machine_arn)}:*"}))
        for operation, params in asked:
            refusal = enforcement.check("stepfunctions", operation, params, role_arn=role_arn, region=region,
                                        account=account)
            if refusal is not None:
                raise _failure(env, StatesErrorNameType.StatesRuntime, HistoryEventType.MapRunFailed,
                               refusal.message())


def _run(env: Any, job: Any) -> Outcome:
    """Run the item's program in its frame and read how it ended."""
    try:
        job.job_program.eval(env)
    except EvalTimeoutError:
        return Outcome("TIMED_OUT", error="States.Timeout")
    except Exception as error:
        return _failure_of(error)
    state = env.program_state()
    if isinstance(state, ProgramEnded):
        return Outcome("SUCCEEDED", output=env.states.get_input())
    if isinstance(state, ProgramError):
        details = state.error or {}
        return Outcome("FAILED", error=details.get("error"), cause=details.get("cause"))
    if isinstance(state, ProgramStopped):
        return Outcome("ABORTED", error=state.error, cause=state.cause)
    if isinstance(state, ProgramTimedOut):
        return Outcome("TIMED_OUT", error="States.Timeout")
    return Outcome("FAILED", error="States.Runtime", cause=f"the child ended in state {type(state).__name__}")


def _failure_of(error: Exception) -> Outcome:
    if isinstance(error, FailureEventException):
        pair = error.extract_error_cause_pair() or (None, None)
        return Outcome("FAILED", error=pair[0] or "States.Runtime", cause=pair[1])
    return Outcome("FAILED", error="States.Runtime", cause=f"{type(error).__name__}({error})")


def _record_end(env: Any, outcome: Outcome) -> None:
    """The child history's last event (moto adds none for a program run in a frame)."""
    add = env.event_manager.add_event
    context = env.event_history_context
    if outcome.status == "SUCCEEDED":
        add(context=context, event_type=HistoryEventType.ExecutionSucceeded,
            event_details=EventDetails(executionSucceededEventDetails=ExecutionSucceededEventDetails(
                output=_json_text(outcome.output), outputDetails=HistoryEventExecutionDataDetails(truncated=False))))
    elif outcome.status == "ABORTED":
        add(context=context, event_type=HistoryEventType.ExecutionAborted,
            event_details=EventDetails(executionAbortedEventDetails=ExecutionAbortedEventDetails(
                **_error_fields(outcome))))
    elif outcome.status == "TIMED_OUT":
        add(context=context, event_type=HistoryEventType.ExecutionTimedOut,
            event_details=EventDetails(executionTimedOutEventDetails=ExecutionTimedOutEventDetails(
                **_error_fields(outcome))))
    else:
        add(context=context, event_type=HistoryEventType.ExecutionFailed,
            event_details=EventDetails(executionFailedEventDetails=ExecutionFailedEventDetails(
                **_error_fields(outcome))))


def _error_fields(outcome: Outcome) -> dict[str, str]:
    return {key: value for key, value in (("error", outcome.error), ("cause", outcome.cause)) if value}


_COUNTERS = {"SUCCEEDED": "succeeded", "FAILED": "failed", "ABORTED": "aborted", "TIMED_OUT": "timed_out"}


def _count(record: Any, outcome: Outcome) -> None:
    """The run's item and execution counters for one ended child (moto's left some running)."""
    for counter in (record.item_counter, record.execution_counter):
        getattr(counter, _COUNTERS[outcome.status]).count()
        counter.running.offset(-1)
        if outcome.status == "SUCCEEDED":
            counter.results_written.count()


def _threshold_failure(env: Any, record: Any, items: int) -> FailureEventException:
    counts = record.item_counter
    unsuccessful = counts.failed.get() + counts.timed_out.get() + counts.aborted.get()
    cause = (f"The Map Run failed: {unsuccessful} of {items} items failed, timed out or were aborted, over the "
             f"tolerated failure threshold (ToleratedFailureCount {record.tolerated_failure_count}, "
             f"ToleratedFailurePercentage {record.tolerated_failure_percentage})")
    return _failure(env, StatesErrorNameType.StatesExceedToleratedFailureThreshold, HistoryEventType.MapRunFailed,
                    cause)


def _failure(env: Any, error: StatesErrorNameType, event_type: HistoryEventType, cause: str) -> FailureEventException:
    return FailureEventException(failure_event=FailureEvent(
        env=env, error_name=StatesErrorName(typ=error), event_type=event_type,
        event_details=EventDetails(executionFailedEventDetails=ExecutionFailedEventDetails(
            error=error.to_name(), cause=cause))))


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
