"""``--engine stepfunctions``: each definition applied by one execution of the ``apply`` state machine, one
after another, followed as it runs (progress lines as its history arrives), then summarised."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from botocore.exceptions import ClientError

from pcf.cli.acting import ApplyReport
from pcf.cli.cancel import Cancellation, RunInterrupted
from pcf.cli.endpoint import ControlPlaneEndpoint
from pcf.cli.follow import ExecutionFollower, FollowEvent
from pcf.cli.progress import ProgressPrinter, constant, id_width, summary_rows
from pcf.cli.selection import Selection
from pcf.cli.stop_run import stop_run
from pcf.core import State
from pcf.core.decision import Action
from pcf.core.pcf_exceptions import DefinitionError
from pcf.core.runtime import ApplyEvent, EventKind


@dataclass(frozen=True)
class PlannedExecution:
    """One execution to start: what it applies (for the summary), its name and its input (JSON)."""

    selection: Selection
    name: str
    input: str
    cascade: bool = False
    """a member's ``--cascade``: its descendants are in the summary too"""


@dataclass
class ExecutionRun:
    """An execution started: its name and ARN, how it ended (``status``; ``error`` when it failed)."""

    name: str
    arn: str
    status: str = "RUNNING"
    error: str = ""


def to_apply_event(event: FollowEvent) -> ApplyEvent:
    """A followed event as the progress printer's event (an observed state carries its resource id)."""
    state = State[event.state] if event.state is not None and event.state in State.__members__ else None
    action = Action(event.action) if event.action is not None and event.action in Action.__members__ else None
    detail = (event.resource_id or "") if event.kind == "observed" else event.detail
    return ApplyEvent(EventKind(event.kind), event.pcf_id, state, action, detail, event.at)


class StepFunctionsApply:
    """Starts and follows executions on ``endpoint``; progress lines go to ``progress``, notes to ``note``.

    ``sleep`` paces the reads of the histories (made cancellable by ``cancellation``). On Ctrl-C the execution,
    its particle executions and their leases are stopped and released (``pcf.cli.stop_run``), then
    ``RunInterrupted`` says so.
    """

    def __init__(
        self,
        endpoint: ControlPlaneEndpoint,
        progress: TextIO,
        *,
        quiet: bool = False,
        note: Callable[[str], None] = lambda line: None,
        sleep: Callable[[float], None] = time.sleep,
        cancellation: Cancellation | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.progress = progress
        self.quiet = quiet
        self.note = note
        self.sleep = (cancellation or Cancellation()).sleep_with(sleep)
        self.settle_sleep = sleep
        self.runs: list[ExecutionRun] = []

    def run(self, planned: list[PlannedExecution]) -> ApplyReport:
        """Run each execution in turn, stopping at the first that does not succeed."""
        particles = [p for plan in planned for p in plan.selection.particles(plan.cascade)]
        report = ApplyReport(particles, [])
        printer: ProgressPrinter | None = None
        seen_ids: dict[str, str] = {}
        for plan in planned:
            run = self._start(plan)
            follower = ExecutionFollower(self.endpoint.sfn, run.arn, sleep=self.sleep,
                                         poll_seconds=self.endpoint.poll_seconds,
                                         max_child_reads=self.endpoint.max_child_reads)
            try:
                for event in follower.events():
                    if printer is None:
                        started = follower.started_at or event.at
                        printer = ProgressPrinter(self.progress, constant(started), quiet=self.quiet,
                                                  width=id_width(p.pcf_id for p in particles))
                    if event.resource_id:
                        seen_ids[event.pcf_id] = event.resource_id
                    printer(to_apply_event(event))
            except KeyboardInterrupt:
                stopped = stop_run(self.endpoint.sfn, follower, lambda_client=self.endpoint.lambda_client,
                                   sleep=self.settle_sleep)
                run.status = "ABORTED" if stopped.stopped else run.status
                raise RunInterrupted(stopped.summary()) from None
            outcome = follower.outcome
            assert outcome is not None
            run.status = outcome.status
            report.elapsed += outcome.elapsed
            if not outcome.succeeded:
                run.error = f"{outcome.error}: {outcome.message}" if outcome.message else str(outcome.error)
                report.error = run.error
                break
        records = printer.records if printer else {}
        report.failures = [(pcf_id, record.failure) for pcf_id, record in sorted(records.items()) if record.failure]
        report.rows = summary_rows(particles, records, seen_ids)
        return report

    def _start(self, plan: PlannedExecution) -> ExecutionRun:
        try:
            arn = self.endpoint.sfn.start_execution(
                stateMachineArn=self.endpoint.apply_arn, name=plan.name, input=plan.input
            )["executionArn"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("StateMachineDoesNotExist", "InvalidArn"):
                raise DefinitionError(
                    "--state-machine-arn", f"{self.endpoint.apply_arn}: {error.response['Error'].get('Message', code)}"
                ) from None
            raise
        run = ExecutionRun(plan.name, arn)
        self.runs.append(run)
        if not self.quiet:
            self.note(f"execution: {plan.name} ({plan.selection.label})")
        return run
