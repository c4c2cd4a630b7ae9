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
        raise unplanned(pcf_id)
    return spec


def rebuild(spec: StoredSpec, parents: Mapping[str, ParticleRecord], clients: ClientFactory) -> Particle:
    """The particle of ``spec``, its parents (built from ``parents``, not synced) linked, using ``clients``."""
    particle = _from_spec(spec, clients)
    for parent_id in spec.definition.get("parents") or []:
        record = parents.get(parent_id)
        if record is None or record.spec is None:
            raise unplanned(parent_id)
        parent = _from_spec(record.spec, clients)
        particle.parents.add(parent)
        parent.children.add(particle)
    return particle


def unplanned(pcf_id: str) -> UnknownParticleError:
    """The error of a step given a particle with no stored spec."""
    return UnknownParticleError(f"{pcf_id}: no desired spec is stored; run the plan step first")


def _from_spec(spec: StoredSpec, clients: ClientFactory) -> Particle:
    definition: dict[str, Any] = {**spec.definition, "parents": [], "children": []}
    particle = build(definition)
    if hasattr(particle, "client_factory"):
        particle.client_factory = clients
    particle.set_desired_state(spec.desired_state)
    return particle
