"""Scheduled reconciliation, a page at a time: every managed particle read, drift recorded, reverted or reported.

A run has three steps, each a bounded invocation (the ``reconcile`` state machine runs them; ``Reconciler.run`` runs
them in-process):

- **begin** cuts the deployment's listing into pages of ``page_size`` (500) particles, reading keys only, and
  returns their ranges (small: shard, first and last pcf_id).
- **page** reads one page's particles and describes only their resources, in batches (``reconcile_describe``).
  Each particle's state comes from its flavor's ``state_lookup`` and its configuration drift from the flavor
  (``drift``); a particle of a flavor without a resource table is left alone. An observation is written only when
  something changed (one write; a history item too when the state changed). A particle the decision function would
  act on is drifted: recorded (history ``drift``) and kept in the run partition (``reconcile_items``) with the
  page's figures. Memory holds one page, whatever the deployment's size.
- **end** reads the drifts a batch at a time and hands each to the ``Healer``: reverted by a healing ``apply``
  (policy ``drift: revert``, the default) or only reported (``drift: report``). A drifted particle whose ancestor is
  being reverted is left to that ancestor's heal, which runs its dependants after it. A particle a rollback left out
  (``rolled_back_by``) is recorded, never started, created or updated (history ``heal``, status ``rolled_back``)
  until a new apply plans it. The last invocation sums the pages into the run's totals.

A dry run (``act`` false) records nothing of the particles and starts nothing; it writes only its own run partition,
which expires.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from pcf.core import State
from pcf.core.decision import Action
from pcf.core.registry import get_particle_flavor
from pcf.core.resource_table import ResourceTable, resource_tables
from pcf_control_plane.drift import config_differences
from pcf_control_plane.healing import Healer, derived_execution_name, drift_action
from pcf_control_plane.reconcile_describe import Entry, PageResources, flavors_of
from pcf_control_plane.reconcile_items import (
    DRIFT_PREFIX,
    META_KEY,
    PAGE_PREFIX,
    SUMMARY_KEY,
    Begun,
    DriftRecord,
    Ended,
    PageRequest,
    PageStats,
    ParticleDrift,
    ReconcileMeta,
    RunRequest,
    Summary,
    drift_key,
    page_key,
)
from pcf_control_plane.store import HistoryKind, Observation, ParticleRecord, ParticleView, StateStore
from pcf_control_plane.store.models import observed_name

__all__ = ["ParticleDrift", "ReconcileReport", "Reconciler"]

PAGE_SIZE = 500
"""Particles per page."""
HEAL_BATCH = 250
"""Drifts one end invocation hands to the healer (each a few calls: a heal start and its history)."""
_CREATING = (Action.start, Action.update)


class ReconcileReport(BaseModel):
    """A reconciliation run: how many particles, which drifted, what it cost."""

    cause: str
    particles: int
    drifted: list[ParticleDrift]
    observations_written: int
    ec2_calls: int
    seconds: float


class Reconciler:
    """Reconciles one deployment (see the module docstring)."""

    def __init__(self, store: StateStore, ec2: Any, healer: Healer | None, *, deployment: str,
                 clock: Callable[[], float] = time.time, page_size: int = PAGE_SIZE,
                 heal_batch: int = HEAL_BATCH) -> None:
        self.store = store
        self.ec2 = ec2
        self.healer = healer
        self.deployment = deployment
        self.clock = clock
        self.page_size = page_size
        self.heal_batch = heal_batch

    def run(self, cause: str, *, act: bool = True, execution: str | None = None) -> ReconcileReport:
        """Every step in this process, one after another; ``act=False`` records nothing and starts nothing."""
        execution = execution or f"local:{uuid.uuid4()}"
        begun = self.begin(RunRequest(execution=execution, cause=cause, act=act))
        for index, listed in enumerate(begun.pages):
            self.page(PageRequest(execution=execution, index=index, page=listed, cause=cause, act=act))
        ended = self.end(execution, None)
        while ended.cursor is not None:
            ended = self.end(execution, ended.cursor)
        return self.report(execution)

    # -- the steps -------------------------------------------------------------------------------
    def begin(self, request: RunRequest) -> Begun:
        """The deployment's pages (ranges of its listing), and the run's ``META``."""
        pages = list(self.store.listing_ranges(self.deployment, self.page_size))
        meta = ReconcileMeta(cause=request.cause, act=request.act, started_at=self.clock(), pages=len(pages),
                             listed=sum(page.count for page in pages))
        self.store.put_run_items(request.execution, {META_KEY: meta.model_dump(mode="json")})
        return Begun(pages=pages)

    def page(self, request: PageRequest) -> PageStats:
        """Reconcile one page: observe, record drift, keep the page's drifts and figures in the run partition."""
        started, cpu = time.perf_counter(), time.process_time()
        records = [record for record in self.store.list_range(self.deployment, request.page) if record.spec]
        tables = {flavor: table for flavor, table in resource_tables().items() if flavor in flavors_of(records)}
        entries = [Entry(record, flavor, tables[flavor]) for record in records
                   if (flavor := record.spec.definition["flavor"]) in tables]  # type: ignore[union-attr]
        resources = PageResources(self.ec2, self.deployment)
        found = resources.find(entries)
        written, drifts = 0, {}
        for entry in entries:
            drift, changed = self._judge(entry, found[entry.record.pcf_id], request)
            written += changed
            if drift is not None:
                drifts[drift_key(drift.pcf_id)] = drift.model_dump(mode="json")
        stats = PageStats(index=request.index, particles=len(records), drifted=len(drifts), written=written,
                          ec2_calls=resources.calls, seconds=round(time.perf_counter() - started, 3),
                          cpu_seconds=round(time.process_time() - cpu, 3))
        self.store.put_run_items(request.execution, {**drifts, page_key(request.index): stats.model_dump()})
        return stats

    def end(self, execution: str, cursor: str | None) -> Ended:
        """Hand the next batch of drifts to the healer (a run that acts); at the last batch, the run's totals."""
        meta = self._meta(execution)
        if meta.act and self.healer is not None:
            found, following = self.store.query_run_items(execution, DRIFT_PREFIX, cursor, self.heal_batch)
            drifts = [DriftRecord.model_validate(document) for _, document in found]
            handled = self._heal(execution, meta.cause, [drift for drift in drifts if not drift.handled])
            if handled:
                self.store.put_run_items(execution, {drift_key(d.pcf_id): d.model_dump(mode="json") for d in handled})
            if following is not None:
                return Ended(cursor=following)
        summary = self._summary(execution, meta)
        self.store.put_run_items(execution, {SUMMARY_KEY: summary.model_dump()})
        return Ended(summary=summary)

    def report(self, execution: str) -> ReconcileReport:
        """The run's report, read from its run partition (every drift, in pcf_id order)."""
        meta = self._meta(execution)
        stored = self.store.get_run_items(execution, [SUMMARY_KEY]).get(SUMMARY_KEY)
        summary = Summary.model_validate(stored) if stored else self._summary(execution, meta)
        drifted = [DriftRecord.model_validate(document).public()
                   for _, document in _all(self.store, execution, DRIFT_PREFIX)]
        return ReconcileReport(cause=summary.cause, particles=summary.particles, drifted=drifted,
                               observations_written=summary.observations_written, ec2_calls=summary.ec2_calls,
                               seconds=summary.seconds)

    # -- one particle ----------------------------------------------------------------------------
    def _judge(self, entry: Entry, resource: Mapping[str, Any] | None,
               request: PageRequest) -> tuple[DriftRecord | None, bool]:
        """Observe one particle (``act``); its drift, if it drifted, recorded in its history (``act``)."""
        record, _, table = entry
        spec = record.spec
        assert spec is not None
        state = _state(record, table, resource)
        differences = _differences(record, state, resource)
        view = ParticleView(pcf_id=record.pcf_id, spec=spec.summary(), observation=record.observation)
        action = drift_action(view, state, definition_equivalent=not differences)
        changed = request.act and self._observe(record, table, state, resource, request.cause)
        if action in (Action.done, Action.wait):
            return None, changed
        policy = spec.flags.drift
        drift = DriftRecord(pcf_id=record.pcf_id, observed=state.name, desired=spec.desired_state,
                            resource_id=table.resource_id(resource), differences=differences, action=action.value,
                            policy=policy, outcome="reported", parents=list(spec.definition.get("parents") or []),
                            reverting=policy == "revert" and not (spec.flags.rolled_back_by and action in _CREATING))
        if request.act:
            self.store.add_history(record.pcf_id, HistoryKind.drift, {
                "observed": state.name, "desired": spec.desired_state, "action": action.value, "policy": policy,
                "differences": {field: list(pair) for field, pair in differences.items()}}, request.cause)
        return drift, changed

    def _observe(self, record: ParticleRecord, table: ResourceTable, state: State,
                 resource: Mapping[str, Any] | None, cause: str) -> bool:
        """Write the observation when the state, the resource or its snapshot fields changed."""
        previous = record.observation
        resource_id = table.resource_id(resource) or (previous.resource_id if previous else None)
        snapshot = {**(previous.snapshot if previous else {}), **(table.snapshot(resource) if resource else {})}
        if previous and previous.state == state.name and previous.resource_id == resource_id \
                and previous.snapshot == snapshot:
            return False
        at = max(self.clock(), previous.observed_at + 1e-6) if previous else self.clock()
        observation = Observation(state=observed_name(state), observed_at=at, resource_id=resource_id,
                                  snapshot=snapshot, cause=cause)
        if not self.store.record_observation(record.pcf_id, observation):
            return False  # an event or a step wrote a newer one meanwhile
        if previous is None or previous.state != state.name:
            self.store.add_history(record.pcf_id, HistoryKind.observation,
                                   {"state": state.name, "resource_id": resource_id, "source": "reconcile"}, cause)
        return True

    # -- healing ---------------------------------------------------------------------------------
    def _heal(self, execution: str, cause: str, drifts: list[DriftRecord]) -> list[DriftRecord]:
        """Each drift reverted (a heal started, or why not), reported, or left to a reverting ancestor's heal."""
        assert self.healer is not None
        ancestry = _Ancestry(self.store)
        reverting = [d for d in drifts if d.policy == "revert"]
        covered = ancestry.covered(execution, reverting)
        current = self.store.get_many(d.pcf_id for d in reverting if d.pcf_id not in covered)
        handled = []
        for drift in drifts:
            update: dict[str, Any] = {"handled": True}
            if drift.pcf_id in covered:
                update["outcome"] = "covered by an ancestor's heal"
            elif drift.policy == "revert":
                record = current.get(drift.pcf_id) or ParticleRecord(pcf_id=drift.pcf_id)
                view = ParticleView(pcf_id=drift.pcf_id, spec=record.spec.summary() if record.spec else None,
                                    observation=record.observation, lease=self.store.current_lease(drift.pcf_id))
                heal = self.healer.consider(view, State[drift.observed],
                                            name=derived_execution_name("drift", cause, drift.pcf_id), cause=cause,
                                            definition_equivalent=not drift.differences)
                update.update(outcome=heal.status, heal=heal)
            handled.append(drift.model_copy(update=update))
        return handled

    # -- the run partition -----------------------------------------------------------------------
    def _meta(self, execution: str) -> ReconcileMeta:
        found = self.store.get_run_items(execution, [META_KEY]).get(META_KEY)
        if found is None:
            raise ValueError(f"execution: no reconciliation run {execution!r} was begun")
        return ReconcileMeta.model_validate(found)

    def _summary(self, execution: str, meta: ReconcileMeta) -> Summary:
        pages = [PageStats.model_validate(document) for _, document in _all(self.store, execution, PAGE_PREFIX)]
        return Summary(execution=execution, cause=meta.cause, act=meta.act, pages=len(pages),
                       particles=sum(p.particles for p in pages), drifted=sum(p.drifted for p in pages),
                       observations_written=sum(p.written for p in pages), ec2_calls=sum(p.ec2_calls for p in pages),
                       seconds=round(max(0.0, self.clock() - meta.started_at), 3))


class _Ancestry:
    """Which drifts have an ancestor being reverted in the same run: parents read from the store (specs of the
    drifted particles' ancestors only, each once) and the ancestors' drifts from the run partition."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.parents: dict[str, list[str]] = {}

    def covered(self, execution: str, drifts: Iterable[DriftRecord]) -> set[str]:
        drifts = list(drifts)
        ancestors = {drift.pcf_id: self._ancestors(drift) for drift in drifts}
        wanted = sorted({a for found in ancestors.values() for a in found})
        stored = self.store.get_run_items(execution, [drift_key(a) for a in wanted])
        reverting = {key.removeprefix(DRIFT_PREFIX) for key, doc in stored.items() if doc.get("reverting")}
        return {pcf_id for pcf_id, found in ancestors.items() if found & reverting}

    def _ancestors(self, drift: DriftRecord) -> set[str]:
        seen: set[str] = set()
        frontier = set(drift.parents)
        while frontier - seen:
            frontier -= seen
            seen |= frontier
            self._read([pcf_id for pcf_id in frontier if pcf_id not in self.parents])
            frontier = {parent for pcf_id in frontier for parent in self.parents.get(pcf_id, [])}
        return seen

    def _read(self, pcf_ids: list[str]) -> None:
        if not pcf_ids:
            return
        found = self.store.get_many(pcf_ids)
        for pcf_id in pcf_ids:
            spec = found[pcf_id].spec if pcf_id in found else None
            self.parents[pcf_id] = list(spec.definition.get("parents") or []) if spec else []


def _all(store: StateStore, execution: str, prefix: str) -> Iterable[tuple[str, dict[str, Any]]]:
    cursor: str | None = None
    while True:
        found, cursor = store.query_run_items(execution, prefix, cursor)
        yield from found
        if cursor is None:
            return


def _state(record: ParticleRecord, table: ResourceTable, resource: Mapping[str, Any] | None) -> State:
    assert record.spec is not None
    if resource is None:
        return State.terminated
    flavor = get_particle_flavor(record.spec.definition["flavor"])
    return flavor.state_lookup.get(table.status(resource), State.pending)


def _differences(record: ParticleRecord, state: State, resource: Mapping[str, Any] | None) -> dict[str, Any]:
    assert record.spec is not None
    if resource is None or state not in (State.running, State.stopped):
        return {}
    return config_differences(record.spec.definition["flavor"], record.spec.definition, resource)


