"""Inputs and outputs of the control-plane steps: small, JSON-safe, carrying pcf_ids, never definitions."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from pcf_control_plane.errors import ExecutionInputError

DesiredState = Literal["running", "stopped", "terminated"]
ActionName = Literal["done", "wait", "start", "stop", "terminate", "update"]
TransitionName = Literal["start", "stop", "terminate", "update"]
VisitAction = Literal["done", "await", "later"]
PAGE_MACHINE_TIMEOUT_SECONDS = 86_400
"""The ``page`` machine's ``TimeoutSeconds`` (``state_machines/page.asl.json``): one day; a page's particles are
visited all at once, so a page lasts as long as its slowest particle."""
MIN_LEASE_SECONDS = 900
POLL_BOUND_SECONDS = 60
"""The longest one visit's Lambda call takes (``converge``, within its function's timeout)."""
MAX_PARTICLE_WAIT_SECONDS = 36_000
"""The most ``wait_seconds * max_polls`` may be: a particle is visited at most ``max_polls`` times, waiting
``wait_seconds`` between two, so this plus its Lambda calls stays within the page machine's timeout."""


PAGE_SIZE = 40
"""The most particles of a page: an inline Map runs at most 40 iterations at once (state-map-inline.html)."""
MAX_CONCURRENCY = 1000
DEFAULT_AWAIT_SECONDS = 60
"""How long a particle waits for the event that ends its transition before it is visited anyway (a lost event)."""
"""The most particles of a level an execution runs at once: 25 pages of 40 (Lambda's default account concurrency
is 1,000)."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


Message = TypeVar("Message", bound=BaseModel)


def parse(model: type[Message], payload: Any) -> Message:
    """``payload`` as ``model``; ``ExecutionInputError`` naming the first wrong field and why otherwise."""
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "input"
        raise ExecutionInputError(field, first["msg"]) from None


class ApplySettings(_Message):
    """How an ``apply`` execution runs: the defaults apply to whatever the execution input leaves out."""

    wait_seconds: int = Field(default=5, ge=0, le=3600, description="seconds between two polls of a particle")
    max_polls: int = Field(default=120, ge=1, le=10_000,
                           description="polls before a particle fails with ParticleTimeoutError")
    rollback: bool = Field(default=False,
                           description="on failure, terminate what this execution created (never pre-existing "
                                       "or persisted resources)")
    concurrency: int = Field(default=40, ge=1, le=MAX_CONCURRENCY,
                             description="particles of one level run at once: pages of up to 40 particles, "
                                         "several pages at once above 40")
    waits: Literal["events", "poll"] = Field(
        default="events", description="how a particle in a transition waits: for the EC2/EBS event that ends it "
                                      "(polling only what ends unannounced), or by polling every wait_seconds")
    await_seconds: int = Field(default=DEFAULT_AWAIT_SECONDS, ge=1, le=3600,
                               description="seconds a particle waits for an event before it looks again (a lost "
                                           "event); each look counts as a poll")

    def page_size(self) -> int:
        """Particles per page: a page runs all of its particles at once (an inline Map runs at most 40)."""
        return min(PAGE_SIZE, self.concurrency)

    def page_concurrency(self) -> int:
        """Pages of a level run at once, so that ``concurrency`` particles run at once."""
        return -(-self.concurrency // self.page_size())

    @field_validator("max_polls")
    @classmethod
    def _within_the_machine_timeout(cls, max_polls: int, info: ValidationInfo) -> int:
        wait = info.data.get("wait_seconds")
        if wait is not None and wait * max_polls > MAX_PARTICLE_WAIT_SECONDS:
            raise ValueError(f"wait_seconds * max_polls is {wait * max_polls} s, more than the "
                             f"{MAX_PARTICLE_WAIT_SECONDS} s a particle may wait (the page machine times out "
                             f"after {PAGE_MACHINE_TIMEOUT_SECONDS} s)")
        return max_polls


class PlanInput(ApplySettings):
    """The ``apply`` execution input: a definition (a particle or quasiparticle) and the state to bring it to
    (its own when omitted), or ``heal``: a stored particle to bring back to its stored desired state, with its
    dependants after it; and the settings."""

    definition: dict[str, Any] | None = None
    heal: str | None = Field(default=None, pattern=r"^[^:]+:.+$",
                             description="pcf_id of a stored particle to heal (instead of a definition)")
    desired_state: DesiredState | None = None
    only: list[str] | None = Field(
        default=None, min_length=1,
        description="members of the definition to change and run (with what an apply brings along: their "
                    "ancestors when starting, their descendants with cascade when stopping/terminating); the "
                    "others keep their stored desired state (the definition's when none is stored)")
    cascade: bool = Field(default=False, description="with only: stop/terminate the named members' descendants too")
    execution: str = Field(default="manual", description="the cause recorded in history (execution ARN)")

    @model_validator(mode="after")
    def _definition_or_heal(self) -> PlanInput:
        if (self.definition is None) == (self.heal is None):
            raise ValueError("give either definition or heal (a stored pcf_id), not both or neither")
        if self.heal is not None and self.desired_state is not None:
            raise ValueError("heal brings the particle to its stored desired state: leave desired_state out")
        if self.heal is not None and self.only is not None:
            raise ValueError("only picks members of a definition: leave it out with heal")
        return self

    def settings(self) -> ApplySettings:
        return ApplySettings.model_validate(self.model_dump(include=set(ApplySettings.model_fields)))


class PlannedPhase(_Message):
    """``stop`` (children first) or ``start`` (parents first), and its levels of pcf_ids in order."""

    phase: Literal["stop", "start"]
    levels: list[list[str]]


class PlanOutput(_Message):
    pcf_id: str
    particles: int
    phases: list[PlannedPhase]
    generations: dict[str, int]
    settings: ApplySettings = Field(default_factory=ApplySettings)


class ParticleStep(_Message):
    """One particle of an execution."""

    pcf_id: str = Field(pattern=r"^[^:]+:.+$")
    execution: str = "manual"


class LeaseInput(ParticleStep):
    """Take a particle's lease. Without ``ttl_seconds`` it is sized to the particle's own time: ``max_polls`` visits,
    each up to ``wait_seconds`` (``await_seconds`` when it may wait for an event) plus :data:`POLL_BOUND_SECONDS`,
    plus :data:`MIN_LEASE_SECONDS`, at most the page machine's timeout, so the lease never expires under a particle
    still converging."""

    ttl_seconds: float | None = Field(default=None, gt=0, le=PAGE_MACHINE_TIMEOUT_SECONDS)
    wait_seconds: int = Field(default=5, ge=0, le=3600)
    max_polls: int = Field(default=120, ge=1, le=10_000)
    waits: Literal["events", "poll"] = Field(default="poll", description="as ``ApplySettings.waits``")
    await_seconds: int = Field(default=DEFAULT_AWAIT_SECONDS, ge=1, le=3600,
                               description="as ``ApplySettings.await_seconds``")

    def lease_seconds(self) -> float:
        """The lease's duration: ``ttl_seconds`` when given, else sized as the class says."""
        if self.ttl_seconds is not None:
            return self.ttl_seconds
        visit = max(self.wait_seconds, self.await_seconds) if self.waits == "events" else self.wait_seconds
        return float(min(PAGE_MACHINE_TIMEOUT_SECONDS,
                         MIN_LEASE_SECONDS + self.max_polls * (visit + POLL_BOUND_SECONDS)))


class ConvergeInput(LeaseInput):
    """One visit of a particle by its execution: the spec generation the execution converges it to (0: look it
    up), and the lease sizing of :class:`LeaseInput` for the lease a transition takes."""

    generation: int = Field(default=0, ge=0, description="the generation this execution planned; 0: look it up")
    parents: list[str] = Field(default_factory=list, max_length=100,
                               description="the parents of the planned spec, read with the particle")
    visits: int = Field(default=0, ge=0, description="visits of the particle by this execution before this one")


class ConvergeOutput(_Message):
    """Where one visit left the particle: ``done`` (in its desired state, its lease given back), ``await`` (a
    transition is in progress whose end AWS announces with an event: wait for it, see ``want``) or ``later``
    (visit again after a while: a transition that ends unannounced, a parent not ready, another execution's
    lease); the transition it carried out, if any, what it last observed (``state`` is absent when it read
    nothing), and the visits so far, this one included."""

    pcf_id: str
    action: VisitAction
    reason: str
    generation: int = 0
    visits: int = 1
    want: DesiredState | None = None
    """With ``await``: the desired state the particle is converging to (recorded on the wait)."""
    acted: TransitionName | None = None
    state: Literal["running", "stopped", "terminated", "pending"] | None = None
    resource_id: str | None = None
    lease_holder: str | None = None
    found: Literal["running", "stopped", "terminated", "pending"] | None = None
    """The state the visit found before it acted (only when ``acted``)."""
    last_resource_id: str | None = None
    """The last resource id ever seen (kept once the resource is gone: a terminated one's)."""


class ParticleResult(_Message):
    """How one particle of a level ended: its state, or the name and message of its error."""

    pcf_id: str
    state: str | None = None
    error: str | None = None
    cause: str | None = None


class ParticleFailure(ParticleStep):
    """A particle's execution failed: what the Map's Catch caught (``Error`` and ``Cause``); in a paged run, the
    run partition and level it failed in (the failure is recorded there for ``check_level``)."""

    failure: dict[str, Any]
    run: str | None = None
    phase: Literal["stop", "start"] | None = None
    level: int | None = Field(default=None, ge=0)


class LevelOutput(_Message):
    particles: int
    converged: int


class RootStep(_Message):
    """The root of an execution (a particle or quasiparticle pcf_id) and the execution."""

    pcf_id: str
    execution: str = "manual"


class RollbackInput(RootStep):
    error: dict[str, Any] = Field(default_factory=dict)


class SummaryOutput(_Message):
    """The closing summary of an execution: how many particles ended in each state."""

    pcf_id: str
    particles: int
    states: dict[str, int]


# -- paged runs (issue 13): the workflow state carries page numbers, never particle ids or results -------------
Phase = Literal["stop", "start"]


class RunLevel(_Message):
    """One level of a paged run: its phase, its position in the phase, its particles and its page numbers."""

    phase: Phase
    level: int = Field(ge=0)
    particles: int = Field(ge=1)
    pages: list[int]


class PageRef(_Message):
    """One page of a run's level."""

    phase: Phase
    level: int = Field(ge=0)
    page: int = Field(ge=0)


class RunPlanOutput(_Message):
    """A run planned into pages of the run partition: its levels in order and the pages whose specs
    ``plan_page`` still stores (none for a heal: its specs are stored already)."""

    pcf_id: str
    particles: int
    levels: list[RunLevel]
    unstored: list[PageRef]
    settings: ApplySettings = Field(default_factory=ApplySettings)
    page_concurrency: int = Field(default=1, ge=1, le=40)


class RollbackRunOutput(_Message):
    """A rollback begun: the levels of its own run partition ``run`` (the apply's levels reversed, children first,
    with the same page numbers; ``particles`` counts what each page considers, not what it terminates) and the
    name of the error it rolls back."""

    pcf_id: str
    run: str
    particles: int
    levels: list[RunLevel]
    error: str = Field(min_length=1)


class RollbackPageStep(PageRef):
    """One page of the apply ``execution`` to roll back, for the error named ``error``."""

    execution: str = Field(min_length=1)
    error: str = Field(default="unknown", min_length=1)


class RolledBackPage(_Message):
    """How many particles of a page the rollback terminates (its page in the rollback's run holds them; none is
    written when there are none)."""

    particles: int = Field(ge=0, le=PAGE_SIZE)


class PageStep(PageRef):
    """A page of the run partition ``run`` (an execution ARN, or a rollback's key), worked on by ``execution``."""

    run: str = Field(min_length=1)
    execution: str = Field(min_length=1)


class PageItem(_Message):
    """What a particle's visits need from its page: the generation the run planned and the parents it was
    planned with (read with it)."""

    pcf_id: str
    generation: int = Field(ge=0)
    parents: list[str] = Field(default_factory=list)


class PageItems(_Message):
    items: list[PageItem]


class PageReleased(_Message):
    """How many leases ``release_page`` gave back."""

    released: int = Field(ge=0)


class LevelCheck(_Message):
    """A level of a run to check once its pages ran: the failures ``particle_failed`` recorded for it."""

    run: str = Field(min_length=1)
    phase: Phase
    level: int = Field(ge=0)
    particles: int = Field(ge=1)


class SummaryStep(_Message):
    """One page of a run's summary: the counts so far and where the listing of its pages goes on (``None``:
    from the start)."""

    run: str = Field(min_length=1)
    pcf_id: str
    cursor: str | None = None
    particles: int = Field(default=0, ge=0)
    states: dict[str, int] = Field(default_factory=dict)


class SummaryPage(SummaryOutput):
    """The counts so far; ``cursor`` is ``None`` once every page was read."""

    run: str
    cursor: str | None = None
