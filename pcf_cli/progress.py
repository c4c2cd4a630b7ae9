"""Progress lines from apply events, and the summary table printed when an apply ends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from pcf.core import State
from pcf.core.particle import Particle
from pcf.core.runtime import ApplyEvent, EventKind

MAX_IDS_IN_LEVEL_LINE = 4
RESOURCE_ID_KEYS = ("InstanceId", "VolumeId")


@dataclass
class ParticleRecord:
    """What the events told about one particle: last state, transitions taken, failure."""

    state: State | None = None
    transitions: list[str] = field(default_factory=list)
    failure: str = ""


def constant(value: float) -> Callable[[], float]:
    """A clock that always says ``value``: progress times of a followed execution count from its start."""
    return lambda: value


class ProgressPrinter:
    """An ``on_event`` callback: one line per meaningful event, with seconds since ``started_at``.

    It also records every particle's last state, transitions and failure (see ``records``), so a
    summary can be printed even when the apply raised. Thread-safe: events come from worker threads.
    """

    def __init__(
        self,
        stream: TextIO,
        clock: Callable[[], float],
        *,
        quiet: bool = False,
        width: int = 24,
    ) -> None:
        self.stream = stream
        self.started_at = clock()
        self.quiet = quiet
        self.width = width
        self.records: dict[str, ParticleRecord] = {}
        self._lock = threading.Lock()

    def __call__(self, event: ApplyEvent) -> None:
        with self._lock:
            line = self._describe(event)
            if line and not self.quiet:
                self.stream.write(f"[{event.at - self.started_at:6.1f}s] {line}\n")
                self.stream.flush()

    def _describe(self, event: ApplyEvent) -> str:
        if event.kind is EventKind.level:
            ids = event.pcf_id.split(",")
            shown = ", ".join(ids[:MAX_IDS_IN_LEVEL_LINE])
            if len(ids) > MAX_IDS_IN_LEVEL_LINE:
                shown += f" (+{len(ids) - MAX_IDS_IN_LEVEL_LINE} more)"
            return f"{event.detail}: {shown}"
        record = self.records.setdefault(event.pcf_id, ParticleRecord())
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
        return now - self.started_at


def id_width(pcf_ids: Iterable[str], cap: int = 40) -> int:
    """The column width that fits every pcf_id (up to ``cap``)."""
    return min(cap, max((len(i) for i in pcf_ids), default=10))


def resource_id(particle: Particle) -> str:
    """The AWS id of the particle's resource from its last sync (instance or volume id), or ``-``."""
    current = particle.current_state_definition or {}
    for key in RESOURCE_ID_KEYS:
        if current.get(key):
            return str(current[key])
    return "-"


def summary_rows(
    particles: Iterable[Particle], records: dict[str, ParticleRecord], seen_ids: Mapping[str, str] | None = None
) -> list[tuple[str, ...]]:
    """One row per particle: pcf_id, state, resource id (the last one seen, for a resource now gone),
    transitions taken (or what stopped it)."""
    rows: list[tuple[str, ...]] = []
    for particle in sorted(particles, key=lambda p: p.pcf_id):
        found = resource_id(particle)
        if found == "-" and seen_ids:
            found = seen_ids.get(particle.pcf_id, "-")
        record = records.get(particle.pcf_id)
        if record is None:
            rows.append((particle.pcf_id, str(particle.observed_state or "-"), found, "not reached"))
            continue
        taken = ", ".join(record.transitions) or "none"
        if record.failure:
            taken += " (failed)"
        state = particle.observed_state or record.state
        rows.append((particle.pcf_id, str(state or "-"), found, taken))
    return rows


def format_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """A plain text table, columns padded to their widest cell."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    return "\n".join(lines) + "\n"


SUMMARY_HEADER = ("pcf_id", "state", "id", "transitions")
