"""Rollback of a failed execution, a page at a time: terminate what it created, children first, and hold back what
it left.

``begin_rollback`` sets the run rolling back and answers the rollback's levels: the apply's levels reversed (the
reverse of a valid start order is a valid stop order, so children go first), with the same page numbers, in the run
partition ``<execution>/rollback``. It reads the run's ``META`` only, whatever the apply's size.

``rollback_page`` then decides for one page of the apply (at most 40 particles), from per-item facts of the store
and no history scan:

- **created** by the execution: the run's ``C#`` mark (written by ``converge`` when its ``start`` found no
  resource). Unless the particle has ``persist_on_termination``, its desired state becomes ``terminated`` (a new
  generation, with a ``rollback`` history item naming the error) and it goes into the rollback's page, which the
  page machine runs as any page.
- **failed** (the run's ``F#`` item) or **not reached** (its observation is not ``converged_by`` the execution):
  it keeps its desired state but is marked ``rolled_back_by`` the execution (a new generation too, and a
  ``rollback`` item saying ``failed`` or ``not reached``): neither the schedule nor an event starts, creates or
  updates it (``Healer``, ``plan_heal``), so reconciliation does not undo the rollback. The next plan of the
  particle writes its flags without the mark, which clears it.
- a particle whose stored generation is not the one the page planned belongs to a newer plan's execution and is
  left alone.

A retried ``rollback_page`` writes nothing twice: a page already written is answered as it is, and a particle
already marked by this rollback keeps its generation (its ``rollback`` item is written again only if missing).
"""

from __future__ import annotations

from enum import StrEnum

from pcf_control_plane.generations import planned_generation
from pcf_control_plane.messages import RollbackInput, RollbackPageStep, RollbackRunOutput, RolledBackPage, RunLevel
from pcf_control_plane.outcome import read_failure
from pcf_control_plane.store import HistoryKind, ParticleSpec, RunMeta, RunPage, StateStore, StoredSpec

ROLLBACK_RUN = "/rollback"
"""The suffix of a rollback's run partition key (the execution's ARN, then this)."""


class Verdict(StrEnum):
    """What a rollback does to one particle of the apply's page."""

    terminate = "terminate"
    failed = "failed"
    not_reached = "not reached"


def rollback_run_of(execution: str) -> str:
    """The run partition of ``execution``'s rollback."""
    return f"{execution}{ROLLBACK_RUN}"


def begin_rollback(store: StateStore, request: RollbackInput) -> RollbackRunOutput:
    """Set ``request.execution``'s run rolling back and write the rollback's ``META``: the run's levels reversed,
    same phases, level and page numbers. ``LookupError`` when the execution planned no run."""
    meta = store.get_run(request.execution)
    if meta is None:
        raise LookupError(f"{request.execution}: no run was planned, so there is nothing to roll back")
    store.set_rolling_back(request.execution)
    run = rollback_run_of(request.execution)
    levels = tuple(level for level in reversed(meta.levels) if level.pages)
    store.put_run(RunMeta(execution=run, pcf_id=meta.pcf_id, particles=meta.particles, levels=levels,
                          settings=meta.settings), [])
    error = read_failure(request.error)[0] if request.error else "unknown"
    return RollbackRunOutput(
        pcf_id=request.pcf_id, run=run, particles=meta.particles, error=error,
        levels=[RunLevel(phase=level.phase, level=level.level, particles=max(1, level.particles),
                         pages=list(range(level.pages))) for level in levels])


def verdict(spec: StoredSpec, *, created: bool, failed: bool, converged: bool) -> Verdict | None:
    """What the rollback does to a particle the apply planned (``None``: it converged and stays as it is)."""
    if created and not spec.flags.persist_on_termination:
        return Verdict.terminate
    if failed:
        return Verdict.failed
    if not converged:
        return Verdict.not_reached
    return None


def rollback_page(store: StateStore, step: RollbackPageStep) -> RolledBackPage:
    """Roll back one page of the apply (see the module docstring); write the rollback's page of the same numbers
    with the particles to terminate and their new generations, when there are any."""
    run = rollback_run_of(step.execution)
    written = store.get_page(run, step.phase, step.level, step.page)
    if written is not None:
        return RolledBackPage(particles=len(written.ids))
    page = store.get_page(step.execution, step.phase, step.level, step.page)
    if page is None:
        raise LookupError(f"{step.execution}: no page {step.phase} level {step.level} page {step.page} was planned")
    states = store.read_states(page.ids)
    created = store.created_marks(step.execution, page.ids)
    failed = store.failed_marks(step.execution, step.phase, step.level, page.ids)
    chosen: list[tuple[ParticleSpec, int]] = []
    for pcf_id in page.ids:
        stored = states[pcf_id].spec
        if stored is None:
            continue
        found = verdict(stored, created=pcf_id in created, failed=pcf_id in failed,
                        converged=states[pcf_id].converged_by == step.execution)
        if found is None:
            continue
        rolled = _roll_back(store, stored, page.gens.get(pcf_id) or None, found, step)
        if rolled is not None and found is Verdict.terminate:
            chosen.append(rolled)
    if chosen:
        store.put_page(run, RunPage(phase=step.phase, level=step.level, page=step.page,
                                    ids=tuple(spec.pcf_id for spec, _ in chosen),
                                    specs=tuple(spec for spec, _ in chosen),
                                    gens={spec.pcf_id: generation for spec, generation in chosen}))
    return RolledBackPage(particles=len(chosen))


def _roll_back(store: StateStore, stored: StoredSpec, planned: int | None, found: Verdict,
               step: RollbackPageStep) -> tuple[ParticleSpec, int] | None:
    """Write the rolled-back spec and its ``rollback`` history item; the spec and its generation, or ``None`` when a
    newer plan owns the particle."""
    execution = step.execution
    if stored.flags.rolled_back_by == execution:  # an earlier attempt of this step wrote the spec
        spec, generation = stored.unstored(), stored.generation
        if planned_generation(store, stored.pcf_id, execution) == generation:
            return spec, generation  # and its history item
    elif planned is not None and planned != stored.generation:
        return None
    else:
        desired = "terminated" if found is Verdict.terminate else stored.desired_state
        spec = _rolled_back(stored, execution, desired)
        generation = store.put_spec(spec)
    detail: dict[str, object] = {"desired_state": spec.desired_state, "error": step.error, "generation": generation}
    if found is not Verdict.terminate:
        detail = {"left_out": found.value, **detail}
    store.add_history(spec.pcf_id, HistoryKind.rollback, detail, execution)
    return spec, generation


def _rolled_back(spec: StoredSpec, execution: str, desired_state: str) -> ParticleSpec:
    fields = spec.model_dump(include=set(ParticleSpec.model_fields))
    flags = {**fields["flags"], "rolled_back_by": execution}
    return ParticleSpec.model_validate({**fields, "desired_state": desired_state, "flags": flags})
