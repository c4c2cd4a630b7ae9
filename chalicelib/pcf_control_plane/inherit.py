"""``$inherit$`` through the store: a parent's observation keeps the values its children inherit.

At plan time each parent learns the key paths its children reference (its spec's ``exports``); every sync of
the parent stores their current values in its observation (``snapshot["exports"]``). A child's step then
fills its ``$inherit$`` values from that stored observation, without reading the parent from the cloud. When
the stored observation lacks a value (not observed yet, or planned before exports existed), the parent is
read from the cloud instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pcf.core.particle import Particle
from pcf.util import pcf_util
from pcf_control_plane.store import Observation

EXPORTS = "exports"
"""Observation snapshot key holding ``{key_path: value}`` of the particle's exports."""


def exports_by_parent(members: Iterable[Particle]) -> dict[str, tuple[str, ...]]:
    """pcf_id of each parent -> the key paths its children ``$inherit$``, sorted."""
    paths: dict[str, set[str]] = {}
    for particle in members:
        for _path, ref in particle.inherit_references():
            paths.setdefault(ref.parent_pcf_id, set()).add(ref.key_path)
    return {pcf_id: tuple(sorted(keys)) for pcf_id, keys in paths.items()}


def exported_values(particle: Particle, key_paths: Iterable[str]) -> dict[str, Any]:
    """The particle's current values at ``key_paths`` (those it has)."""
    current = particle.current_state_definition or {}
    values = {path: pcf_util.get_path(current, path) for path in key_paths}
    return {path: value for path, value in values.items() if value is not pcf_util.MISSING}


def stored_parent_view(observation: Observation | None, key_paths: Iterable[str]) -> dict[str, Any] | None:
    """A current state definition holding the stored values at ``key_paths``; ``None`` if any is missing."""
    stored: Mapping[str, Any] = (observation.snapshot.get(EXPORTS) or {}) if observation else {}
    view: dict[str, Any] = {}
    for path in key_paths:
        if path not in stored:
            return None
        pcf_util.set_path(view, path, stored[path])
    return view
