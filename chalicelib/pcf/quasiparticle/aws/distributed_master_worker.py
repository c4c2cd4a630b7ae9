"""``DistributedMasterWorker``: every EC2 instance whose name contains the master's name is a parent
of every other EC2 instance (the seed quickstart's quasiparticle)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pcf.core.pcf_exceptions import DefinitionError
from pcf.core.quasiparticle import Quasiparticle


class DistributedMasterWorker(Quasiparticle):
    """A cluster: ``custom_config.master`` names the master particle(s); the workers start after them."""

    flavor = "distributed_master_worker"

    def __init__(self, particle_definition: Mapping[str, Any]) -> None:
        super().__init__(particle_definition)
        self.master = self.normalized_definition["custom_config"].get("master")
        if not self.master:
            raise DefinitionError("custom_config.master", "is required: the pcf_name (or its prefix) of the master")
        self.set_parents()

    def set_parents(self) -> None:
        """Make the master EC2 instances parents of every other EC2 instance."""
        ec2_particles = self.pcf_field.get_particles(flavor="ec2_instance")
        masters = [p for name, p in ec2_particles.items() if self.master in name]
        if not masters:
            raise DefinitionError(
                "custom_config.master", f"{self.master!r} matches no ec2_instance of {self.pcf_id}"
            )
        for name, particle in ec2_particles.items():
            if self.master not in name:
                particle.parents.update(masters)
                for master in masters:
                    master.children.add(particle)
        self.pcf_field.link_particles(self.pcf_field.particles)
