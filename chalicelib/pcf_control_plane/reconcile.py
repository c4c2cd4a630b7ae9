"""Scheduled reconciliation: every managed particle read in batches, drift recorded, reverted or reported.

One run reads the deployment's particles from the store (a page per 500) and, for each flavor among them that
has a resource table (``pcf.core.resource_table``), its resources tagged with the deployment (the table's
paginated describe call: ``describe_instances`` a page per 1,000, ``describe_volumes`` per 500). Each particle's
resource is found by its observed resource id, else by its name (``PCFName``; a name still to be looked up finds
nothing); its state comes from the flavor's ``state_lookup`` and its configuration drift from the flavor
(``drift``). A particle of a flavor without a table cannot be described and is left alone. An
observation is written only when something changed (one write; a history item too when the state changed).
A particle the decision function would act on is drifted: recorded (history ``drift``), then reverted by a
healing ``apply`` (policy ``drift: revert``, the default) or only reported (``drift: report``). A drifted
particle whose ancestor is being reverted is left to that ancestor's heal, which runs its dependants after it.
A particle a rollback left out (``rolled_back_by``) is recorded, never started, created or updated (history
``heal``, status ``rolled_back``) until a new apply plans it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, Field

from pcf.core import State
from pcf.core.decision import Action
from pcf.core.registry import get_particle_flavor
from pcf.core.resource_table import ResourceTable, resource_tables
from pcf.util import pcf_util
from pcf.util.aws.tag_specifications import DEPLOYMENT_TAG, NAME_TAG
from pcf_control_plane.drift import config_differences, unresolved
from pcf_control_plane.healing import Healer, HealOutcome, derived_execution_name, drift_action
from pcf_control_plane.store import HistoryKind, Observation, ParticleRecord, ParticleView, StateStore
from pcf_control_plane.store.models import observed_name, spec_graph


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


class _Seen(NamedTuple):
    record: ParticleRecord
    table: ResourceTable
    state: State
    resource: Mapping[str, Any] | None
    differences: dict[str, Any]
    action: Action


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
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.ec2 = ec2
        self.healer = healer
        self.deployment = deployment
        self.clock = clock

    def run(self, cause: str, *, act: bool = True) -> ReconcileReport:
        """One pass over every particle; ``act=False`` records nothing and starts nothing (a dry run)."""
        started = time.perf_counter()
        records = [record for page in self.store.list_particles(self.deployment) for record in page if record.spec]
        specs = {record.pcf_id: spec for record in records if (spec := record.spec) is not None}
        held = {spec.definition["flavor"] for spec in specs.values()}
        tables = {flavor: table for flavor, table in resource_tables().items() if flavor in held}
        graph = spec_graph(specs)
        described, calls = self._describe(tables)
        seen: list[_Seen] = []
        written = 0
        for record in records:
            table = tables.get(specs[record.pcf_id].definition["flavor"])
            if table is None:
                continue  # nothing to describe it with
            resource = self._resource_of(record, table, described)
            state = self._state(record, table, resource)
            differences = self._differences(record, state, resource)
            view = ParticleView(pcf_id=record.pcf_id, spec=specs[record.pcf_id].summary(),
                                observation=record.observation)
            action = drift_action(view, state, definition_equivalent=not differences)
            if act and self._observe(record, table, state, resource, cause):
                written += 1
            if action not in (Action.done, Action.wait):
                seen.append(_Seen(record, table, state, resource, differences, action))
        flags = {pcf_id: spec.flags for pcf_id, spec in specs.items()}
        creating = (Action.start, Action.update)
        reverting = {item.record.pcf_id for item in seen if flags[item.record.pcf_id].drift == "revert"
                     and not (flags[item.record.pcf_id].rolled_back_by and item.action in creating)}
        drifted = [self._drifted(item, cause, act, covered=bool(graph.ancestors(item.record.pcf_id) & reverting))
                   for item in seen]
        return ReconcileReport(cause=cause, particles=len(records), drifted=drifted, observations_written=written,
                               ec2_calls=calls, seconds=round(time.perf_counter() - started, 3))

    # -- reading --------------------------------------------------------------------------------
    def _describe(self, tables: Mapping[str, ResourceTable]) -> tuple[dict[str, dict[str, Any]], int]:
        """Each flavor's resources tagged with the deployment, by id and by ``flavor:PCFName``; the calls made."""
        tagged = [{"Name": f"tag:{DEPLOYMENT_TAG}", "Values": [self.deployment]}]
        described: dict[str, dict[str, Any]] = {}
        calls = 0
        for flavor, table in tables.items():
            pages = self.ec2.get_paginator(table.describe.operation).paginate(
                Filters=tagged, PaginationConfig={"PageSize": table.describe.page_size})
            for page in pages:
                calls += 1
                for resource in table.describe.resources(page):
                    _index(described, flavor, table, resource)
        return described, calls

    @staticmethod
    def _resource_of(record: ParticleRecord, table: ResourceTable,
                     described: Mapping[str, dict[str, Any]]) -> dict[str, Any] | None:
        assert record.spec is not None
        resource_id = record.observation.resource_id if record.observation else None
        if resource_id and resource_id in described:
            return described[resource_id]
        name = ((record.spec.definition.get("aws_resource") or {}).get("custom_config") or {}).get(table.name_key)
        if not name or unresolved(name):
            return None  # a name looked up at apply time: only the observed id finds the resource
        return described.get(f"{record.spec.definition['flavor']}:{name}")

    @staticmethod
    def _state(record: ParticleRecord, table: ResourceTable, resource: Mapping[str, Any] | None) -> State:
        assert record.spec is not None
        if resource is None:
            return State.terminated
        flavor = get_particle_flavor(record.spec.definition["flavor"])
        return flavor.state_lookup.get(table.status(resource), State.pending)

    # -- writing --------------------------------------------------------------------------------
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

    @staticmethod
    def _differences(record: ParticleRecord, state: State, resource: Mapping[str, Any] | None) -> dict[str, Any]:
        assert record.spec is not None
        if resource is None or state not in (State.running, State.stopped):
            return {}
        return config_differences(record.spec.definition["flavor"], record.spec.definition, resource)

    def _drifted(self, item: _Seen, cause: str, act: bool, *, covered: bool) -> ParticleDrift:
        record, table, state, resource, differences, action = item
        spec = record.spec
        assert spec is not None
        drift = ParticleDrift(pcf_id=record.pcf_id, observed=state.name, desired=spec.desired_state,
                              resource_id=table.resource_id(resource), differences=differences, action=action.value,
                              policy=spec.flags.drift, outcome="reported")
        if not act:
            return drift
        self.store.add_history(record.pcf_id, HistoryKind.drift, {
            "observed": state.name, "desired": spec.desired_state, "action": action.value, "policy": spec.flags.drift,
            "differences": {field: list(pair) for field, pair in differences.items()}}, cause)
        if spec.flags.drift == "report" or self.healer is None:
            return drift
        if covered:
            return drift.model_copy(update={"outcome": "covered by an ancestor's heal"})
        view = ParticleView(pcf_id=record.pcf_id, spec=spec.summary(), observation=record.observation,
                            lease=self.store.current_lease(record.pcf_id))
        name = derived_execution_name("drift", cause, record.pcf_id)
        heal = self.healer.consider(view, state, name=name, cause=cause, definition_equivalent=not differences)
        return drift.model_copy(update={"outcome": heal.status, "heal": heal})


def _index(described: dict[str, dict[str, Any]], flavor: str, table: ResourceTable,
           resource: dict[str, Any]) -> None:
    """``resource`` by its id, and by ``flavor:PCFName`` unless a live resource already holds that name."""
    described[str(resource[table.id_key])] = resource
    name = pcf_util.tags_to_dict(resource.get("Tags")).get(NAME_TAG)
    if name and (table.status(resource) not in table.gone or f"{flavor}:{name}" not in described):
        described[f"{flavor}:{name}"] = resource
