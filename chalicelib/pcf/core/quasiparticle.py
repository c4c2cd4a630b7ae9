"""``Quasiparticle``: a group of particles with parent -> child dependencies, applied as one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pcf.core import State
from pcf.core.particle import Particle
from pcf.core.pcf import PCF
from pcf.core.validation import expand_quasiparticle
from pcf.util import pcf_util

if TYPE_CHECKING:
    from pcf.core.apply_engine import ApplyResult
    from pcf.core.runtime import Runtime


class Quasiparticle(Particle):
    """A quasiparticle. Its definition has ``particles`` (each a particle definition), optional
    quasiparticle-level ``parents`` and ``custom_config``. Members are expanded (multipliers, base
    configs) and linked in ``pcf_field``; override ``_fuse_particles`` to change how.
    """

    flavor = "quasiparticle"
    is_quasiparticle: ClassVar[bool] = True

    def __init__(self, particle_definition: Mapping[str, Any]) -> None:
        super().__init__(particle_definition)
        self.custom_config = self.normalized_definition.setdefault("custom_config", {})
        self.member_particles: list[dict[str, Any]] = self.normalized_definition["particles"]
        self.pcf_field = PCF()
        self.fuse()

    def _validate_definition(self, particle_definition: Mapping[str, Any]) -> dict[str, Any]:
        return expand_quasiparticle(particle_definition).definition

    def fuse(self) -> None:
        """Load the member particles into the field and link them (override ``_fuse_particles``)."""
        self._fuse_particles()

    def _fuse_particles(self) -> None:
        for definition in self.member_particles:
            self.pcf_field.load_particle_definition(definition)
        self.pcf_field.link_particles(self.pcf_field.particles)
        for member, definition in zip(self.pcf_field.all_particles(), self.member_particles, strict=True):
            if definition.get("desired_state") is None and self.desired_state is not None:
                member.set_desired_state(self.desired_state)

    def members(self) -> list[Particle]:
        """Every member particle."""
        return self.pcf_field.all_particles()

    def apply(  # type: ignore[override]  # the original PCF's signature: rollback before max_timeout
        self,
        sync: bool = True,
        cascade: bool = True,
        validate_config: bool = False,
        rollback: bool = False,
        max_timeout: float | None = None,
        runtime: Runtime | None = None,
    ) -> ApplyResult:
        """Apply every member in dependency order (see ``pcf.core.apply_engine``). With ``rollback``,
        a failure terminates what this apply created, then the error is raised."""
        from pcf.core.apply_engine import ApplyOptions, apply_particles

        options = ApplyOptions(sync, max_timeout, validate_config, rollback)
        return apply_particles(self.members(), options, runtime)

    def sync_state(self) -> None:
        """Sync every member; the quasiparticle's state is their common state (see ``get_state``)."""
        for member in self.members():
            member.sync_state()
        self.state = self._aggregate_state()

    def get_state(self) -> State | None:
        """The members' common state; ``pending`` while they differ. A persisted member left running
        does not keep a terminated quasiparticle from counting as terminated."""
        for member in self.members():
            member.get_state()
        self.state = self._aggregate_state()
        return self.state

    def _aggregate_state(self) -> State | None:
        states = set()
        terminating = self.desired_state is State.terminated
        for member in self.members():
            if terminating and member.observed_state is State.running and member.persist_on_termination:
                continue
            states.add(member.observed_state)
        if not states:
            return State.terminated
        return states.pop() if len(states) == 1 else State.pending

    def set_desired_state(self, desired_state: State | str) -> None:
        """Set the desired state of the quasiparticle and every member."""
        super().set_desired_state(desired_state)
        state = self.desired_state
        assert state is not None  # set just above
        for member in self.members():
            member.set_desired_state(state)

    def set_particle_state(self, flavor: str, desired_state: State | str, pcf_name: str | None = None) -> None:
        """Set one member's desired state."""
        particle = self.pcf_field.require_particle(pcf_util.generate_pcf_id(flavor, pcf_name or self.name), "pcf_name")
        particle.set_desired_state(desired_state)

    def get_particle(self, flavor: str, pcf_name: str) -> Particle | None:
        return self.pcf_field.get_particle(flavor=flavor, pcf_name=pcf_name)

    def update_particle_definition(
        self, particle_definition: dict[str, Any], base_particle: Particle
    ) -> dict[str, Any]:
        """``base_particle``'s definition with ``particle_definition``'s fields merged over it."""
        merged, _diff = pcf_util.update_dict(base_particle.particle_definition, particle_definition)
        return merged

    def add_parents_to_particle(self, particle_definition: dict[str, Any]) -> dict[str, Any]:
        """Append the quasiparticle-level parents to a member definition."""
        parents = list(particle_definition.get("parents") or [])
        parents += [p for p in self.normalized_definition.get("parents") or [] if p not in parents]
        particle_definition["parents"] = parents
        return particle_definition
