"""Particles rebuilt from their stored specs, with their parents linked, for one Lambda invocation."""

from __future__ import annotations

from typing import Any

from pcf.core.builder import build
from pcf.core.particle import Particle
from pcf.util.aws.clients import ClientFactory
from pcf_control_plane.errors import UnknownParticleError
from pcf_control_plane.store import StateStore, StoredSpec


def load_spec(store: StateStore, pcf_id: str) -> StoredSpec:
    spec = store.get_spec(pcf_id)
    if spec is None:
        raise UnknownParticleError(f"{pcf_id}: no desired spec is stored; run the plan step first")
    return spec


def rebuild(store: StateStore, spec: StoredSpec, clients: ClientFactory) -> Particle:
    """The particle of ``spec``, its parents (built, not synced) linked, using ``clients``."""
    particle = _from_spec(spec, clients)
    for parent_id in spec.definition.get("parents") or []:
        parent = _from_spec(load_spec(store, parent_id), clients)
        particle.parents.add(parent)
        parent.children.add(particle)
    return particle


def _from_spec(spec: StoredSpec, clients: ClientFactory) -> Particle:
    definition: dict[str, Any] = {**spec.definition, "parents": [], "children": []}
    particle = build(definition)
    if hasattr(particle, "client_factory"):
        particle.client_factory = clients
    particle.set_desired_state(spec.desired_state)
    return particle
