"""``--engine stepfunctions``: executions of the ``apply`` state machine started one after another (or one already
started, a heal: ``follow_started``), followed into one progress display as their histories arrive, then summarised."""

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
    """One execution to start: what it applies (for the summary), its name, its input (JSON), and a member's
    ``--cascade`` (its descendants are in the summary too)."""

    selection: Selection
    name: str
    input: str
    cascade: bool = False


def to_apply_event(event: FollowEvent) -> ApplyEvent:
    """A followed event as the progress printer's event (an observed state carries its resource id)."""
    state = State[event.state] if event.state is not None and event.state in State.__members__ else None
    action = Action(event.action) if event.action is not None and event.action in Action.__members__ else None
    detail = (event.resource_id or "") if event.kind == "observed" else event.detail
    return ApplyEvent(EventKind(event.kind), event.pcf_id, state, action, detail, event.at)


class StepFunctionsApply:
    """Starts and follows executions on ``endpoint`` into one progress display on ``progress`` (it starts at the
    first event); notes go to ``note``. ``sleep`` paces the reads of the histories (made cancellable by
    ``cancellation``) and the wait for stopped executions: on Ctrl-C the execution, its page executions and their
    leases are stopped and released (``pcf_cli.stop_run``), then ``RunInterrupted`` says so."""

    def __init__(self, endpoint: ControlPlaneEndpoint, progress: TextIO | Console, *, quiet: bool = False,
                 note: Callable[[str], None] = lambda line: None, sleep: Callable[[float], None] = time.sleep,
                 cancellation: Cancellation | None = None) -> None:
        self.endpoint, self.progress, self.quiet, self.note = endpoint, progress, quiet, note
        self.sleep = (cancellation or Cancellation()).sleep_with(sleep)
        self.settle_sleep = sleep
        self.printer: ProgressPrinter | None = None
        self.seen_ids: dict[str, str] = {}
        """pcf_id -> the last resource id an event named."""

    def run(self, planned: list[PlannedExecution]) -> ApplyReport:
        """Run each execution in turn, stopping at the first that does not succeed."""
        particles = [p for plan in planned for p in plan.selection.particles(plan.cascade)]
        report = ApplyReport(particles, [])
        width = id_width(p.pcf_id for p in particles)
        try:
            for plan in planned:
                outcome = self.follow(self._start(plan), width, total=len(particles))
                report.elapsed += outcome.elapsed
                if not outcome.succeeded:
                    report.error = outcome.failure
                    break
        finally:
            if self.printer is not None:
                self.printer.close()
        report.failures = self.failures()
        report.rows = summary_rows(particles, self.records, self.seen_ids)
        return report

    def follow(self, arn: str, width: int = HEAL_ID_WIDTH, total: int | None = None) -> ExecutionOutcome:
        """Print the execution's progress until it ends; its outcome."""
        follower = ExecutionFollower(self.endpoint.sfn, arn, sleep=self.sleep, poll_seconds=self.endpoint.poll_seconds,
                                     max_child_reads=self.endpoint.max_child_reads)
        try:
            for event in follower.events():
                if self.printer is None:
                    self.printer = ProgressPrinter(self.progress, constant(follower.started_at or event.at),
                                                   quiet=self.quiet, width=width, total=total)
                if event.resource_id:
                    self.seen_ids[event.pcf_id] = event.resource_id
                self.printer(to_apply_event(event))
        except KeyboardInterrupt:
            stopped = stop_run(self.endpoint.sfn, follower, lambda_client=self.endpoint.lambda_client,
                               sleep=self.settle_sleep)
            raise RunInterrupted(stopped.summary()) from None
        assert follower.outcome is not None
        return follower.outcome

    @property
    def records(self) -> dict[str, ParticleProgress]:
        """What the printer recorded of each particle."""
        return self.printer.records if self.printer else {}

    def failures(self) -> list[tuple[str, str]]:
        """``(pcf_id, failure)`` of every particle that failed, by pcf_id."""
        return [(pcf_id, record.failure) for pcf_id, record in sorted(self.records.items()) if record.failure]

    def _start(self, plan: PlannedExecution) -> str:
        try:
            arn = self.endpoint.sfn.start_execution(stateMachineArn=self.endpoint.apply_arn, name=plan.name,
                                                    input=plan.input)["executionArn"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("StateMachineDoesNotExist", "InvalidArn"):
                raise DefinitionError(
                    "--state-machine-arn", f"{self.endpoint.apply_arn}: {error.response['Error'].get('Message', code)}"
                ) from None
            raise
        if not self.quiet:
            self.note(f"execution: {plan.name} ({plan.selection.label})")
        return str(arn)


def follow_started(endpoint: ControlPlaneEndpoint, arn: str, progress: TextIO | Console, *, quiet: bool = False,
                   note: Callable[[str], None] = lambda line: None, sleep: Callable[[float], None] = time.sleep,
                   cancellation: Cancellation | None = None) -> ApplyReport:
    """Follow the execution ``arn`` to its end as ``StepFunctionsApply`` does; one summary row per particle it
    reported on."""
    watch = StepFunctionsApply(endpoint, progress, quiet=quiet, note=note, sleep=sleep, cancellation=cancellation)
    outcome = watch.follow(arn)
    rows = [progress_row(pcf_id, record, record.state, watch.seen_ids.get(pcf_id, "-"))
            for pcf_id, record in sorted(watch.records.items())]
    return ApplyReport([], rows, watch.failures(), outcome.elapsed, outcome.failure)
