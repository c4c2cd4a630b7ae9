"""Following one ``apply`` execution that is already started (a heal): progress lines as ``pcf run`` prints
them, then a report whose rows are the particles the execution touched."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from pcf.cli.acting import ApplyReport
from pcf.cli.cancel import Cancellation, RunInterrupted
from pcf.cli.endpoint import ControlPlaneEndpoint
from pcf.cli.follow import ExecutionFollower
from pcf.cli.progress import ParticleRecord, ProgressPrinter, constant
from pcf.cli.stepfunctions_engine import to_apply_event
from pcf.cli.stop_run import stop_run

ID_WIDTH = 22


def follow_started(
    endpoint: ControlPlaneEndpoint,
    arn: str,
    progress: TextIO,
    *,
    quiet: bool = False,
    note: Callable[[str], None] = lambda line: None,
    sleep: Callable[[float], None] = time.sleep,
    cancellation: Cancellation | None = None,
) -> ApplyReport:
    """Follow the execution ``arn`` to its end; Ctrl-C stops it and its particle executions and releases their
    leases (``pcf.cli.stop_run``), then raises ``RunInterrupted``."""
    follower = ExecutionFollower(endpoint.sfn, arn, sleep=(cancellation or Cancellation()).sleep_with(sleep),
                                 poll_seconds=endpoint.poll_seconds, max_child_reads=endpoint.max_child_reads)
    printer: ProgressPrinter | None = None
    seen_ids: dict[str, str] = {}
    try:
        for event in follower.events():
            if printer is None:
                started = follower.started_at or event.at
                printer = ProgressPrinter(progress, constant(started), quiet=quiet, width=ID_WIDTH)
            if event.resource_id:
                seen_ids[event.pcf_id] = event.resource_id
            printer(to_apply_event(event))
    except KeyboardInterrupt:
        stopped = stop_run(endpoint.sfn, follower, lambda_client=endpoint.lambda_client, sleep=sleep)
        raise RunInterrupted(stopped.summary()) from None
    outcome = follower.outcome
    assert outcome is not None
    records = printer.records if printer else {}
    report = ApplyReport([], touched_rows(records, seen_ids), elapsed=outcome.elapsed)
    report.failures = [(pcf_id, record.failure) for pcf_id, record in sorted(records.items()) if record.failure]
    if not outcome.succeeded:
        report.error = f"{outcome.error}: {outcome.message}" if outcome.message else str(outcome.error)
    return report


def touched_rows(records: dict[str, ParticleRecord], seen_ids: dict[str, str]) -> list[tuple[str, ...]]:
    """One summary row per particle the execution reported on: pcf_id, state, resource id, transitions."""
    rows: list[tuple[str, ...]] = []
    for pcf_id, record in sorted(records.items()):
        taken = ", ".join(record.transitions) or "none"
        if record.failure:
            taken += " (failed)"
        rows.append((pcf_id, str(record.state or "-"), seen_ids.get(pcf_id, "-"), taken))
    return rows
