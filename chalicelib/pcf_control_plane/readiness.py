"""Dependency order in the control plane: a child is never started while a parent it depends on is not in its
desired state.

Applies, heals and reconciliation reverts all run particles through the same ``sync_state`` step, and
executions overlap (a master and its worker stopped together start one heal each). Level order inside one
execution is not enough, so ``sync_state`` checks each parent before it answers ``start``: a parent not in its
desired state turns the answer into ``wait``, with the reason, until an execution converging the parent gets
it there; the wait is bounded by the machine's ``max_polls``. A parent's stored observation (read with its spec,
in the call the step makes anyway) is trusted when this execution recorded it, as its machine does in an
earlier level of an apply; any other (an event's, which may still be on its way, another execution's, the
schedule's) is confirmed by reading the parent from the cloud. The heal plan brings parents that are not in
their desired state in first (``heal_plan``), so a worker's own heal does not wait for a heal of its master
that may never come.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pcf.core import State
from pcf.core.decision import Action, Decision
from pcf.core.particle import Particle
from pcf_control_plane.healing import drift_action
from pcf_control_plane.store import ParticleRecord, ParticleView


def in_desired_state(record: ParticleRecord, observed: State | None = None) -> bool:
    """Whether the particle is in its desired state (the decision function says ``done``), as ``observed`` or
    else its stored observation says; never while unobserved or in transition."""
    if observed is None and record.observation is not None:
        observed = State[record.observation.state]
    if record.spec is None or observed is None or observed is State.pending:
        return False
    view = ParticleView(pcf_id=record.pcf_id, spec=record.spec.summary(), observation=record.observation)
    return drift_action(view, observed) is Action.done


def parents_first(decision: Decision, particle: Particle, parents: Mapping[str, ParticleRecord],
                  execution: str, trusted: Collection[str] = ()) -> Decision:
    """``decision``, unless it starts ``particle`` while a parent is not in its desired state: then ``wait``,
    naming the parents waited for (see the module docstring). The stored observation of a parent in ``trusted``
    (one this execution converged, whoever recorded its last observation) is trusted too."""
    if decision.action is not Action.start:
        return decision
    waiting = []
    for parent in sorted(particle.parents, key=lambda p: p.pcf_id):
        record = parents.get(parent.pcf_id) or ParticleRecord(pcf_id=parent.pcf_id)
        own = record.observation is not None and (record.observation.cause == execution or parent.pcf_id in trusted)
        observed = State[record.observation.state] if own and record.observation is not None else None
        if observed is None:
            observed = _read(parent)
        if not in_desired_state(record, observed):
            desired = record.spec.desired_state if record.spec else "unknown"
            waiting.append(f"{parent.pcf_id} ({observed.name if observed else 'unknown'}, desired {desired})")
    if not waiting:
        return decision
    return Decision(Action.wait, f"{decision.reason} after its parents: waiting for {', '.join(waiting)}")


def _read(parent: Particle) -> State | None:
    """The parent's state in the cloud (already read for an ``$inherit$`` value, or read now)."""
    if parent.observed_state is None:
        parent.prepare()
        parent.sync_state()
    return parent.observed_state
