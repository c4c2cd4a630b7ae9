"""Following one ``apply`` execution that is already started (a heal): progress lines as ``pcf run`` prints
them, then a report whose rows are the particles the execution touched."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from rich.console import Console

from pcf_cli.acting import ApplyReport
from pcf_cli.cancel import Cancellation
from pcf_cli.endpoint import ControlPlaneEndpoint
from pcf_cli.progress import ParticleProgress, progress_row
from pcf_cli.stepfunctions_engine import ExecutionWatch

ID_WIDTH = 22


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
    watch = ExecutionWatch(endpoint, progress, quiet=quiet, width=ID_WIDTH,
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
