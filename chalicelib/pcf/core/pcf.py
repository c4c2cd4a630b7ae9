"""The PCF field: the particles of one definition, by flavor and name, linked to each other."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pcf.core.pcf_exceptions import UnknownParentError
from pcf.core.registry import get_particle_flavor
from pcf.util import pcf_util

if TYPE_CHECKING:
    from pcf.core.particle import Particle


class PCF:
    """A field of particles: ``particles[flavor][pcf_name]``.

    Args:
        pcf_definition_json: particle definitions to load and link (may be empty).
    """

    def __init__(self, pcf_definition_json: Iterable[Mapping[str, Any]] = ()) -> None:
        self.particles: dict[str, dict[str, Particle]] = {}
        self.load_pcf_definition(pcf_definition_json)

    def load_pcf_definition(self, pcf_definition_json: Iterable[Mapping[str, Any]]) -> None:
        definitions = list(pcf_definition_json)
        for definition in definitions:
            self.load_particle_definition(definition)
        if definitions:
            self.link_particles(self.particles)

    def load_particle_definition(self, particle_definition: Mapping[str, Any]) -> Particle:
        """Build the particle of the definition's flavor and add it to the field."""
        particle_class = get_particle_flavor(str(particle_definition.get("flavor", "")))
        particle = particle_class(particle_definition)
        self.add_particle(particle)
        return particle

    def link_particles(self, particles_dict: Mapping[str, Any] | None = None) -> None:
        """Link every particle to the parents and children its definition names."""
        for particle in self.all_particles() if particles_dict is None else _flatten(particles_dict):
            particle.link_relatives(self)

    def get_particle(self, flavor: str, pcf_name: str) -> Particle | None:
        return self.particles.get(flavor, {}).get(pcf_name)

    def get_particle_from_pcf_id(self, pcf_id: str) -> Particle | None:
        return self.get_particle(*pcf_util.extract_components_from_pcf_id(pcf_id))

    def require_particle(self, pcf_id: str, field: str) -> Particle:
        """The particle with ``pcf_id``; ``UnknownParentError`` naming ``field`` when absent."""
        particle = self.get_particle_from_pcf_id(pcf_id)
        if particle is None:
            known = [p.pcf_id for p in self.all_particles()]
            close = difflib.get_close_matches(pcf_id, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownParentError(field, f"{pcf_id!r} names no particle of this field{hint}")
        return particle

    def get_particles(self, flavor: str | None = None) -> dict[str, Any]:
        """``{pcf_name: particle}`` of one flavor, or ``{flavor: {pcf_name: particle}}`` of all."""
        if flavor:
            return self.particles.get(flavor, {})
        return self.particles

    def all_particles(self) -> list[Particle]:
        return [p for by_name in self.particles.values() for p in by_name.values()]

    def add_particle(self, particle: Particle) -> None:
        flavor, name = pcf_util.extract_components_from_pcf_id(particle.pcf_id)
        if name in self.particles.get(flavor, {}):
            raise ValueError(f"particle {particle.pcf_id} is already in the field")
        self.particles.setdefault(flavor, {})[name] = particle

    def add_particles(self, particles: Iterable[Particle]) -> None:
        for particle in particles:
            self.add_particle(particle)

    def apply(self, sync: bool = True, cascade: bool = False, validate_config: bool = False,
              max_timeout: float | None = None, particles_dict: Mapping[str, Any] | None = None,
              rollback: bool = False, runtime: Any = None) -> Any:
        """Apply every particle of the field (or of ``particles_dict``, ``{flavor: {name: particle}}``), in
        dependency order."""
        from pcf.core.apply_engine import ApplyOptions, apply_particles

        options = ApplyOptions(sync, max_timeout, validate_config, rollback)
        chosen = self.all_particles() if particles_dict is None else _flatten(particles_dict)
        return apply_particles(chosen, options, runtime)


def _flatten(particles_dict: Mapping[str, Any]) -> list[Particle]:
    found: list[Particle] = []
    for value in particles_dict.values():
        if isinstance(value, Mapping):
            found += _flatten(value)
        else:
            found.append(value)
    return found
