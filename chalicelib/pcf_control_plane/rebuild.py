"""Particles rebuilt from their stored specs, with their parents linked, for one Lambda invocation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pcf.core.builder import build
from pcf.core.particle import Particle
from pcf.util.aws.clients import ClientFactory
from pcf_control_plane.errors import UnknownParticleError
from pcf_control_plane.store import ParticleRecord, StateStore, StoredSpec


def load_spec(store: StateStore, pcf_id: str) -> StoredSpec:
    """The particle's stored spec; ``UnknownParticleError`` when none is."""
    spec = store.get_spec(pcf_id)
    if spec is None:
        raise _unplanned(pcf_id)
    return spec


def load_particle(store: StateStore, pcf_id: str) -> tuple[StoredSpec, ParticleRecord]:
    """The particle's spec and last observation in one read; ``UnknownParticleError`` without a spec."""
    record = store.get_particle(pcf_id)
    if record is None or record.spec is None:
        raise _unplanned(pcf_id)
    return record.spec, record


def load_parents(store: StateStore, spec: StoredSpec) -> dict[str, ParticleRecord]:
    """The spec and observation of each of the particle's parents, in one read (none without parents)."""
    parent_ids = spec.definition.get("parents") or []
    return store.get_many(parent_ids) if parent_ids else {}


def rebuild(spec: StoredSpec, parents: Mapping[str, ParticleRecord], clients: ClientFactory) -> Particle:
    """The particle of ``spec``, its parents (built from ``parents``, not synced) linked, using ``clients``."""
    particle = _from_spec(spec, clients)
    for parent_id in spec.definition.get("parents") or []:
        record = parents.get(parent_id)
        if record is None or record.spec is None:
            raise _unplanned(parent_id)
        parent = _from_spec(record.spec, clients)
        particle.parents.add(parent)
        parent.children.add(particle)
    return particle


def _unplanned(pcf_id: str) -> UnknownParticleError:
    return UnknownParticleError(f"{pcf_id}: no desired spec is stored; run the plan step first")


def _from_spec(spec: StoredSpec, clients: ClientFactory) -> Particle:
    definition: dict[str, Any] = {**spec.definition, "parents": [], "children": []}
    particle = build(definition)
    if hasattr(particle, "client_factory"):
        particle.client_factory = clients
    particle.set_desired_state(spec.desired_state)
    return particle
