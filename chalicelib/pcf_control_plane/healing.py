"""Self-healing: start an ``apply`` execution for a managed particle whose stable state is not its desired one.

A heal is started only when the particle's policy allows it (``heal``, and ``persist_on_*`` through the one
decision function), a rollback did not leave it out (``rolled_back_by``: never started, created or updated
until a new apply plans it), its observed state is stable (never ``pending``), and no execution holds its lease
(that execution converges it itself). The execution is named after the cause (an event id, a reconciliation run),
so the same cause never starts two: Step Functions refuses a second execution with the same name.
The healing ``apply`` runs the particle and its dependants, each after its parents (``PlanInput.heal``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

from pcf.core import State
from pcf.core.decision import Action, Protection, decide
from pcf.core.registry import get_particle_flavor
from pcf_control_plane.store import HistoryKind, Lease, ParticleView, StateStore

HealStatus = Literal["in_sync", "transitional", "disabled", "rolled_back", "leased", "due", "started", "duplicate"]
StartExecution = Callable[[str, dict[str, Any]], str]
"""``(name, input) -> execution ARN``; raises ``ExecutionAlreadyExists`` (by class name) for a used name."""
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class HealOutcome(BaseModel):
    """A healing decision (``due``: to be started) or its result (``started``, ``duplicate``)."""

    status: HealStatus
    reason: str = ""
    action: str | None = None
    execution: str | None = None


def derived_execution_name(prefix: str, cause: str, pcf_id: str | None = None) -> str:
    """The name of a healing execution, derived from its cause (and particle): the same event or schedule run
    always names the same execution, so Step Functions refuses a duplicate. At most 80 of ``[A-Za-z0-9_-]``."""
    name = f"{prefix}-{_NAME_CHARS.sub('-', cause)}"
    if pcf_id is not None:
        name += "-" + hashlib.sha256(pcf_id.encode()).hexdigest()[:12]
    if len(name) > 80:
        name = f"{prefix}-{hashlib.sha256(name.encode()).hexdigest()[:40]}"
    return name


def drift_action(view: ParticleView, observed: State, *, definition_equivalent: bool = True) -> Action:
    """The decision function's answer for the particle as observed (``done``/``wait`` mean no drift)."""
    assert view.spec is not None
    flavor = get_particle_flavor(view.spec.flavor)
    flags = view.spec.flags
    decision = decide(observed, State[view.spec.desired_state], definition_equivalent=definition_equivalent,
                      protection=Protection(flags.persist_on_termination, flags.persist_on_update),
                      equivalent_states=getattr(flavor, "equivalent_states", None))
    return decision.action


class Healer:
    """Decides and starts healing executions, recording each decision to act (or not) in the history."""

    def __init__(self, store: StateStore, start_execution: StartExecution, *, wait_seconds: int = 5,
                 max_polls: int = 120) -> None:
        self.store = store
        self.start_execution = start_execution
        self.wait_seconds = wait_seconds
        self.max_polls = max_polls

    def decide(self, view: ParticleView, observed: State, *, definition_equivalent: bool = True) -> HealOutcome:
        """Whether ``view``'s particle is to be healed now (status ``due``), and if not, why. No I/O."""
        if view.spec is None:
            return HealOutcome(status="disabled", reason="no desired spec is stored")
        if observed is State.pending:
            return HealOutcome(status="transitional", reason="in transition; the next stable state decides")
        action = drift_action(view, observed, definition_equivalent=definition_equivalent)
        if action in (Action.done, Action.wait):
            return HealOutcome(status="in_sync", reason=f"{observed.name} is what {view.spec.desired_state} needs")
        if not view.spec.flags.heal:
            return HealOutcome(status="disabled", reason="heal is off for this particle", action=action.value)
        rolled_back_by = view.spec.flags.rolled_back_by
        if rolled_back_by and action in (Action.start, Action.update):
            return HealOutcome(status="rolled_back", action=action.value,
                               reason=f"rolled back by {rolled_back_by.rsplit(':', 1)[-1]}: left as it is until a "
                                      "new apply plans it")
        if view.lease is not None:
            return leased(action.value, view.lease)
        return HealOutcome(status="due", reason=f"to {action.value}", action=action.value)

    def start(self, pcf_id: str, decision: HealOutcome, name: str) -> HealOutcome:
        """Start the healing execution ``name`` a ``due`` decision calls for (``duplicate`` if it exists)."""
        heal_input = {"heal": pcf_id, "wait_seconds": self.wait_seconds, "max_polls": self.max_polls}
        try:
            arn = self.start_execution(name, heal_input)
        except Exception as error:
            if type(error).__name__ != "ExecutionAlreadyExists":
                raise
            return decision.model_copy(update={"status": "duplicate", "reason": f"{name} was started already"})
        return decision.model_copy(update={"status": "started", "execution": arn})

    def consider(self, view: ParticleView, observed: State, *, name: str, cause: str,
                 definition_equivalent: bool = True) -> HealOutcome:
        """``decide``, record the decision in the history, and ``start`` when due."""
        decision = self.decide(view, observed, definition_equivalent=definition_equivalent)
        detail = history_detail(decision, name)
        if detail is not None:
            self.store.add_history(view.pcf_id, HistoryKind.heal, detail, cause)
        return self.start(view.pcf_id, decision, name) if decision.status == "due" else decision


def leased(action: str | None, lease: Lease | None) -> HealOutcome:
    """No heal: an execution holds the particle's lease (``lease``, when known) and converges it itself."""
    holder = lease.owner.rsplit(":", 1)[-1] if lease is not None else "an execution"
    return HealOutcome(status="leased", reason=f"{holder} holds the lease and converges it", action=action)


def history_detail(decision: HealOutcome, name: str) -> dict[str, Any] | None:
    """The ``heal`` history item of a decision about a drifted particle (``None`` when nothing drifted)."""
    if decision.status in ("in_sync", "transitional") or decision.action is None:
        return None
    if decision.status == "due":  # written just before the start, in the same step: it records the start
        return {"status": "started", "action": decision.action, "reason": decision.reason, "execution": name}
    return {"status": decision.status, "action": decision.action, "reason": decision.reason}


def step_functions_starter(sfn: Any, state_machine_arn: str) -> StartExecution:
    """``StartExecution`` of ``state_machine_arn`` through the Step Functions client ``sfn``."""

    def start(name: str, execution_input: dict[str, Any]) -> str:
        try:
            response = sfn.start_execution(stateMachineArn=state_machine_arn, name=name,
                                           input=json.dumps(execution_input))
        except sfn.exceptions.ExecutionAlreadyExists as error:
            raise ExecutionAlreadyExists(str(error)) from error
        return str(response["executionArn"])

    return start


class ExecutionAlreadyExists(Exception):
    """An execution with that name was already started."""
