"""What a reconciliation run keeps in its run partition (``R#<execution>``), between its invocations.

``RC#META`` (the run: cause, act, start, pages), ``RC#P#<page:05>`` (one page's figures), ``RC#D#<pcf_id>`` (a
drifted particle: what was seen, and once the end step handled it, what was done) and ``RC#SUM`` (the totals, when
the run ended). Every item expires with the run partition.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pcf_control_plane.healing import HealOutcome
from pcf_control_plane.store import ListingRange

META_KEY = "RC#META"
SUMMARY_KEY = "RC#SUM"
PAGE_PREFIX = "RC#P#"
DRIFT_PREFIX = "RC#D#"


def page_key(index: int) -> str:
    """The sort key of page ``index``'s figures."""
    return f"{PAGE_PREFIX}{index:05d}"


def drift_key(pcf_id: str) -> str:
    """The sort key of ``pcf_id``'s drift."""
    return f"{DRIFT_PREFIX}{pcf_id}"


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunRequest(_Item):
    """What starts a run: its execution (the run partition), cause and whether it acts (``False``: a dry run)."""

    execution: str = Field(min_length=1)
    cause: str = Field(min_length=1, max_length=200)
    act: bool = True


class ReconcileMeta(_Item):
    """The run, as the begin step wrote it."""

    cause: str
    act: bool
    started_at: float
    pages: int = Field(ge=0)
    listed: int = Field(ge=0)


class Begun(_Item):
    """The begin step's answer: the listing ranges, one page each (keys only: small)."""

    pages: list[ListingRange]


class PageRequest(_Item):
    """One page of a run: its number and its listing range."""

    execution: str = Field(min_length=1)
    index: int = Field(ge=0, le=99_999)
    page: ListingRange
    cause: str = Field(min_length=1, max_length=200)
    act: bool = True


class PageStats(_Item):
    """What one page cost and found."""

    index: int
    particles: int = 0
    drifted: int = 0
    written: int = 0
    ec2_calls: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0


class ParticleDrift(BaseModel):
    """One drifted particle: what was seen, what it should be, and what was done about it."""

    pcf_id: str
    observed: str
    desired: str
    resource_id: str | None = None
    differences: dict[str, tuple[Any, Any]] = Field(default_factory=dict)
    action: str
    policy: Literal["revert", "report"]
    outcome: str
    heal: HealOutcome | None = None


class DriftRecord(ParticleDrift):
    """A drift as a page recorded it, with what the end step needs: the particle's parents, whether it is to be
    reverted (so its dependants' drifts are left to its heal) and whether the end step handled it."""

    parents: list[str] = Field(default_factory=list)
    reverting: bool = False
    handled: bool = False

    def public(self) -> ParticleDrift:
        """The drift as the report shows it."""
        return ParticleDrift.model_validate(self.model_dump(include=set(ParticleDrift.model_fields)))


class EndRequest(_Item):
    """One invocation of the end step: the run and where its drifts' listing resumes."""

    execution: str = Field(min_length=1)
    cursor: str | None = None
    machine: str | None = None
    """The reconcile machine's ARN (``$$.StateMachine.Id``): healing starts the ``apply`` machine beside it."""


class Summary(_Item):
    """The totals of a run."""

    execution: str
    cause: str
    act: bool
    pages: int
    particles: int
    drifted: int
    observations_written: int
    ec2_calls: int
    seconds: float


class Ended(_Item):
    """The end step's answer: the cursor of the drifts still to handle, or ``None`` and the totals."""

    cursor: str | None = None
    summary: Summary | None = None
