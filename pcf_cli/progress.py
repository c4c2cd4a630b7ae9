"""Progress lines from apply events, and the rows of the summary printed when an apply ends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from pcf.core import State
from pcf.core.particle import Particle
from pcf.core.resource_table import resource_id_of
from pcf.core.runtime import ApplyEvent, EventKind
from pcf_cli.output import make_console

MAX_IDS_IN_LEVEL_LINE = 4
SUMMARY_HEADER = ("pcf_id", "state", "id", "transitions")
STYLES = {EventKind.level: "bold", EventKind.transition: "yellow", EventKind.done: "green",
          EventKind.failed: "bold red", EventKind.rollback: "magenta"}


@dataclass
class ParticleProgress:
    """What the events told about one particle: last state, transitions taken, failure."""

    state: State | None = None
    transitions: list[str] = field(default_factory=list)
    failure: str = ""


def constant(value: float) -> Callable[[], float]:
    """A clock that always says ``value``: progress times of a followed execution count from its start."""
    return lambda: value


class ProgressPrinter:
    """An ``on_event`` callback (thread-safe): one line per meaningful event, with seconds since ``clock()`` at
    creation, on ``out``; on a terminal, given ``total``, a bar counting the particles settled until ``close()``.
    ``records`` keeps each particle's last state, transitions and failure, for the summary."""

    def __init__(self, out: TextIO | Console, clock: Callable[[], float], *, quiet: bool = False,
                 width: int = 24, total: int | None = None) -> None:
        self.console = out if isinstance(out, Console) else make_console(out)
        self.started_at = clock()
        self.quiet = quiet
        self.width = width
        self.records: dict[str, ParticleProgress] = {}
        self.settled: set[str] = set()
        self._lock = threading.Lock()
        self.bar: Progress | None = None
        if total and self.console.is_terminal and not quiet:
            self.bar = Progress(SpinnerColumn(), TextColumn("particles settled"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=self.console, transient=True,
                                redirect_stdout=False, redirect_stderr=False)
            self.task = self.bar.add_task("apply", total=total)
            self.bar.start()

    def close(self) -> None:
        """Take the bar away (the lines stay)."""
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def __call__(self, event: ApplyEvent) -> None:
        with self._lock:
            line = self._describe(event)
            if line and not self.quiet:
                stamp = Text(f"[{event.at - self.started_at:6.1f}s] ", style="dim")
                self.console.print(stamp + Text(line, style=STYLES.get(event.kind, "")))
                self.console.file.flush()
            if self.bar is not None and event.kind in (EventKind.done, EventKind.failed):
                self.settled.add(event.pcf_id)
                self.bar.update(self.task, completed=len(self.settled))

    def _describe(self, event: ApplyEvent) -> str:
        if event.kind is EventKind.level:
            if not event.pcf_id:  # a level of a paged run: its label says how many particles
                return event.detail
            ids = event.pcf_id.split(",")
            more = f" (+{len(ids) - MAX_IDS_IN_LEVEL_LINE} more)" if len(ids) > MAX_IDS_IN_LEVEL_LINE else ""
            return f"{event.detail}: {', '.join(ids[:MAX_IDS_IN_LEVEL_LINE])}{more}"
        record = self.records.setdefault(event.pcf_id, ParticleProgress())
        name = event.pcf_id.ljust(self.width)
        if event.kind is EventKind.observed:
            before, record.state = record.state, event.state
            line = f"{name} {before} -> {event.state}" if before is not None else f"{name} {event.state}"
            return f"{line}  {event.detail}" if event.detail else line
        if event.kind is EventKind.transition:
            record.transitions.append(str(event.action))
            return f"{name} {event.action}: {event.detail}"
        if event.kind is EventKind.done:
            record.state = event.state
            return f"{name} done: {event.detail}"
        if event.kind is EventKind.failed:
            record.failure = event.detail
            return f"{name} FAILED: {event.detail}"
        if event.kind is EventKind.rollback:
            record.transitions.append("rollback")
            return f"{name} rollback: {event.detail}"
        return ""

    def elapsed(self, now: float) -> float:
        """Seconds from the printer's start to ``now``."""
        return now - self.started_at


def id_width(pcf_ids: Iterable[str], cap: int = 40) -> int:
    """The column width that fits every pcf_id (up to ``cap``)."""
    return min(cap, max((len(i) for i in pcf_ids), default=10))


def resource_id(particle: Particle) -> str:
    """The id of the particle's resource from its last sync (its flavor's resource table says which), or ``-``."""
    return resource_id_of(particle) or "-"


def progress_row(pcf_id: str, record: ParticleProgress, state: object, found: str) -> tuple[str, ...]:
    """A summary row: pcf_id, state, resource id, transitions taken (marked when the particle failed)."""
    taken = ", ".join(record.transitions) or "none"
    return pcf_id, str(state or "-"), found, taken + (" (failed)" if record.failure else "")


def summary_rows(particles: Iterable[Particle], records: Mapping[str, ParticleProgress],
                 seen_ids: Mapping[str, str] | None = None) -> list[tuple[str, ...]]:
    """One row per particle (``progress_row``; the last resource id seen for a resource now gone, ``not reached``
    for a particle no event named)."""
    rows: list[tuple[str, ...]] = []
    for particle in sorted(particles, key=lambda p: p.pcf_id):
        found = resource_id(particle)
        if found == "-" and seen_ids:
            found = seen_ids.get(particle.pcf_id, "-")
        record = records.get(particle.pcf_id)
        if record is None:
            rows.append((particle.pcf_id, str(particle.observed_state or "-"), found, "not reached"))
        else:
            rows.append(progress_row(particle.pcf_id, record, particle.observed_state or record.state, found))
    return rows
