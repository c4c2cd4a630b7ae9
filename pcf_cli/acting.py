"""Applying selections on an open target, with progress lines and a summary table; shared by the CLI
commands and the example jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console
from rich.text import Text

from pcf.core.apply_engine import plan_levels
from pcf.core.particle import Particle
from pcf.core.pcf_exceptions import DefinitionError
from pcf.core.runtime import ApplyEvent, Runtime
from pcf_cli.cancel import Cancellation
from pcf_cli.environment import CliEnvironment
from pcf_cli.exit_codes import ExitCode
from pcf_cli.output import print_table, table_text
from pcf_cli.progress import SUMMARY_HEADER, ProgressPrinter, id_width, resource_id, summary_rows
from pcf_cli.selection import Selection, is_quasiparticle
from pcf_cli.targets import Target


@dataclass(frozen=True)
class ActOptions:
    """How the direct engine applies: ``cascade`` to relatives, ``max_timeout`` per particle, worker bound,
    quietness, and ``rollback`` (on failure, terminate what this apply created)."""

    cascade: bool = False
    max_timeout: float | None = None
    max_workers: int = 16
    quiet: bool = False
    rollback: bool = False


@dataclass
class ApplyReport:
    """The particles an apply touched, their rows, one ``(pcf_id, reason)`` per failed particle and, for an
    apply that failed as a whole (a Step Functions execution), its ``error`` (``Name: message``)."""

    particles: list[Particle]
    rows: list[tuple[str, ...]]
    failures: list[tuple[str, str]] = field(default_factory=list)
    elapsed: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures and not self.error


def check_ready(selections: list[Selection], cascade: bool, hint: str) -> list[Particle]:
    """Everything an apply checks before acting (desired states set, cycles, ``$inherit$`` parents);
    returns the particles it would touch. ``hint`` says how to set a missing desired state."""
    touched: list[Particle] = []
    for selection in selections:
        particles = selection.particles(cascade)
        for particle in particles:
            if particle.desired_state is None:
                raise DefinitionError(f"{particle.pcf_id}.desired_state", f"is not set: {hint}")
        plan_levels(particles)
        touched += particles
    return touched


def apply_selections(selections: list[Selection], target: Target, options: ActOptions, progress: TextIO | Console,
                     *, hint: str = "set desired_state in the definition",
                     cancellation: Cancellation | None = None) -> ApplyReport:
    """Apply each selection in turn (stopping at the first failure), progress on ``progress``: failures while acting
    are in the report; definition problems raise ``DefinitionError`` before anything is done."""
    particles = check_ready(selections, options.cascade, hint)
    printer = ProgressPrinter(progress, target.now, quiet=options.quiet, width=id_width(p.pcf_id for p in particles),
                              total=len(particles))
    cancel = cancellation or Cancellation()
    by_id = {p.pcf_id: p for p in particles}
    seen_ids: dict[str, str] = {}

    def on_event(event: ApplyEvent) -> None:
        """Print, and remember each resource's id (a terminated one has none left to read)."""
        particle = by_id.get(event.pcf_id)
        if particle is not None and (found := resource_id(particle)) != "-":
            seen_ids[event.pcf_id] = found
        printer(event)

    runtime = Runtime(clock=target.now, sleep=cancel.sleep_with(target.sleep), max_workers=options.max_workers,
                      poll=target.poll, on_event=on_event)
    report = ApplyReport(particles, [])
    try:
        for selection in selections:
            try:
                _apply_one(selection, options, runtime)
            except Exception:
                report.failures = [(pcf_id, _reason(pcf_id, record.failure))
                                   for pcf_id, record in sorted(printer.records.items()) if record.failure]
                if not report.failures:
                    raise
                break
    finally:
        printer.close()
    report.elapsed = printer.elapsed(target.now())
    report.rows = summary_rows(particles, printer.records, seen_ids)
    return report


def _apply_one(selection: Selection, options: ActOptions, runtime: Runtime) -> None:
    if is_quasiparticle(selection.particle):
        selection.particle.apply(max_timeout=options.max_timeout, rollback=options.rollback, runtime=runtime)
    else:
        selection.particle.apply(cascade=options.cascade, max_timeout=options.max_timeout,
                                 rollback=options.rollback, runtime=runtime)


def _reason(pcf_id: str, detail: str) -> str:
    """``Type: pcf_id: message`` as ``Type: message`` (the line already names the particle)."""
    return detail.replace(f": {pcf_id}: ", ": ", 1)


def verdict(report: ApplyReport) -> str:
    """The summary's last line: done or FAILED, how long it took, how many particles in which state."""
    counts: dict[str, int] = {}
    for row in report.rows:
        counts[row[1]] = counts.get(row[1], 0) + 1
    totals = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    outcome = "done" if report.ok else f"FAILED ({len(report.failures)} particle(s))" if report.failures else "FAILED"
    return f"{outcome} in {report.elapsed:.1f}s: {len(report.rows)} particle(s): {totals}"


def format_report(report: ApplyReport) -> str:
    """The summary as plain text: a table of every touched particle, then ``verdict``."""
    return table_text(SUMMARY_HEADER, report.rows) + verdict(report) + "\n"


def print_report(console: Console, report: ApplyReport) -> None:
    """The summary on ``console`` (the verdict green or red on a terminal)."""
    print_table(console, SUMMARY_HEADER, report.rows)
    console.print(Text(verdict(report), style="green" if report.ok else "bold red"))


def conclude(env: CliEnvironment, report: ApplyReport, errors: list[str], note: str = "") -> ExitCode:
    """How a command that applied ends: the summary on stdout, ``errors`` and ``note`` on stderr; OK or FAILED."""
    print_report(env.out, report)
    for error in errors:
        env.error(error)
    if note:
        env.note(note)
    return ExitCode.OK if report.ok else ExitCode.FAILED
