"""``--engine stepfunctions``: each definition applied by one execution of the ``apply`` state machine, one
after another, followed as it runs (progress lines as its history arrives), then summarised; and one execution
already started (a heal) followed likewise (``follow_started``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from botocore.exceptions import ClientError
from rich.console import Console

from pcf.core import State
from pcf.core.decision import Action
from pcf.core.pcf_exceptions import DefinitionError
from pcf.core.runtime import ApplyEvent, EventKind
from pcf_cli.acting import ApplyReport
from pcf_cli.cancel import Cancellation, RunInterrupted
from pcf_cli.endpoint import ControlPlaneEndpoint
from pcf_cli.follow import ExecutionFollower, ExecutionOutcome, FollowEvent
from pcf_cli.progress import ParticleProgress, ProgressPrinter, constant, id_width, progress_row, summary_rows
from pcf_cli.selection import Selection
from pcf_cli.stop_run import stop_run

HEAL_ID_WIDTH = 22
"""The pcf_id column of a followed heal, whose particles are known only as its events name them."""


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


class ExecutionWatch:
    """Follows executions, one after another, into one progress display (the printer starts at the first event).

    ``sleep`` paces the reads of the histories; ``settle_sleep`` the wait for stopped executions to end. On Ctrl-C
    the execution, its particle executions and their leases are stopped and released (``pcf_cli.stop_run``), then
    ``RunInterrupted`` says so.
    """

    def __init__(self, endpoint: ControlPlaneEndpoint, progress: TextIO | Console, *, quiet: bool, width: int,
                 sleep: Callable[[float], None], settle_sleep: Callable[[float], None],
                 total: int | None = None) -> None:
        self.endpoint = endpoint
        self.total = total
        self.progress = progress
        self.quiet = quiet
        self.width = width
        self.sleep = sleep
        self.settle_sleep = settle_sleep
        self.printer: ProgressPrinter | None = None
        self.seen_ids: dict[str, str] = {}
        """pcf_id -> the last resource id an event named."""

    def follow(self, arn: str) -> ExecutionOutcome:
        """Print the execution's progress until it ends; its outcome."""
        follower = ExecutionFollower(self.endpoint.sfn, arn, sleep=self.sleep, poll_seconds=self.endpoint.poll_seconds,
                                     max_child_reads=self.endpoint.max_child_reads)
        try:
            for event in follower.events():
                if self.printer is None:
                    self.printer = ProgressPrinter(self.progress, constant(follower.started_at or event.at),
                                                   quiet=self.quiet, width=self.width, total=self.total)
                if event.resource_id:
                    self.seen_ids[event.pcf_id] = event.resource_id
                self.printer(to_apply_event(event))
        except KeyboardInterrupt:
            stopped = stop_run(self.endpoint.sfn, follower, lambda_client=self.endpoint.lambda_client,
                               sleep=self.settle_sleep)
            raise RunInterrupted(stopped.summary()) from None
        assert follower.outcome is not None
        return follower.outcome

    def close(self) -> None:
        """Take the progress bar away (see ``ProgressPrinter.close``)."""
        if self.printer is not None:
            self.printer.close()

    @property
    def records(self) -> dict[str, ParticleProgress]:
        """What the printer recorded of each particle."""
        return self.printer.records if self.printer else {}

    def failures(self) -> list[tuple[str, str]]:
        """``(pcf_id, failure)`` of every particle that failed, by pcf_id."""
        return [(pcf_id, record.failure) for pcf_id, record in sorted(self.records.items()) if record.failure]


class StepFunctionsApply:
    """Starts and follows executions on ``endpoint``; progress lines go to ``progress``, notes to ``note``.

    ``sleep`` paces the reads of the histories (made cancellable by ``cancellation``). On Ctrl-C the execution,
    its particle executions and their leases are stopped and released (``pcf_cli.stop_run``), then
    ``RunInterrupted`` says so.
    """

    def __init__(
        self,
        endpoint: ControlPlaneEndpoint,
        progress: TextIO | Console,
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
        watch = ExecutionWatch(self.endpoint, self.progress, quiet=self.quiet,
                               width=id_width(p.pcf_id for p in particles), sleep=self.sleep,
                               settle_sleep=self.settle_sleep, total=len(particles))
        try:
            self._run_each(planned, watch, report)
        finally:
            watch.close()
        report.failures = watch.failures()
        report.rows = summary_rows(particles, watch.records, watch.seen_ids)
        return report

    def _run_each(self, planned: list[PlannedExecution], watch: ExecutionWatch, report: ApplyReport) -> None:
        """Start and follow each execution, stopping at the first that does not succeed."""
        for plan in planned:
            run = self._start(plan)
            try:
                outcome = watch.follow(run.arn)
            except RunInterrupted:
                run.status = "ABORTED"
                raise
            run.status = outcome.status
            report.elapsed += outcome.elapsed
            if not outcome.succeeded:
                run.error = f"{outcome.error}: {outcome.message}" if outcome.message else str(outcome.error)
                report.error = run.error
                return

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


def follow_started(
    endpoint: ControlPlaneEndpoint,
    arn: str,
    progress: TextIO | Console,
    *,
    quiet: bool = False,
    note: Callable[[str], None] = lambda line: None,
    sleep: Callable[[float], None] = time.sleep,
    cancellation: Cancellation | None = None,
) -> ApplyReport:
    """Follow the execution ``arn`` to its end; Ctrl-C stops it and its particle executions and releases their
    leases (``pcf_cli.stop_run``), then raises ``RunInterrupted``."""
    watch = ExecutionWatch(endpoint, progress, quiet=quiet, width=HEAL_ID_WIDTH,
                           sleep=(cancellation or Cancellation()).sleep_with(sleep), settle_sleep=sleep)
    outcome = watch.follow(arn)
    report = ApplyReport([], touched_rows(watch.records, watch.seen_ids), elapsed=outcome.elapsed)
    report.failures = watch.failures()
    if not outcome.succeeded:
        report.error = f"{outcome.error}: {outcome.message}" if outcome.message else str(outcome.error)
    return report


def touched_rows(records: dict[str, ParticleProgress], seen_ids: dict[str, str]) -> list[tuple[str, ...]]:
    """One summary row per particle the execution reported on: pcf_id, state, resource id, transitions."""
    return [progress_row(pcf_id, record, record.state, seen_ids.get(pcf_id, "-"))
            for pcf_id, record in sorted(records.items())]
