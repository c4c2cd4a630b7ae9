"""An in-memory particle flavor for engine tests: a dict stands in for the cloud.

Each transition passes through ``pending`` for ``pending_polls`` syncs, so waiting is exercised, and
any transition can be made to fail.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from pcf.core import State
from pcf.core.particle import Particle


@dataclass
class MemoryResource:
    state: State
    definition: dict[str, Any]
    pending_left: int = 0
    target: State | None = None


@dataclass
class MemoryCloud:
    """The resources of ``MemoryParticle``s, by pcf_id, plus a log of every transition."""

    pending_polls: int = 0
    resources: dict[str, MemoryResource] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    fail_on: dict[tuple[str, str], Exception] = field(default_factory=dict)
    stuck: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, pcf_id: str, action: str) -> None:
        with self.lock:
            self.log.append((pcf_id, action))
        error = self.fail_on.get((pcf_id, action))
        if error is not None:
            raise error

    def move(self, pcf_id: str, target: State, definition: dict[str, Any] | None = None) -> None:
        with self.lock:
            resource = self.resources.setdefault(pcf_id, MemoryResource(State.terminated, {}))
            if definition is not None:
                resource.definition = dict(definition)
            resource.target = target
            resource.pending_left = self.pending_polls
            resource.state = State.pending if self.pending_polls else target

    def observe(self, pcf_id: str) -> MemoryResource | None:
        with self.lock:
            resource = self.resources.get(pcf_id)
            if resource is None or pcf_id in self.stuck:
                return resource
            if resource.state is State.pending and resource.target is not None:
                resource.pending_left -= 1
                if resource.pending_left <= 0:
                    resource.state = resource.target
            return resource


CLOUD = MemoryCloud()


class MemoryParticle(Particle):
    """A particle whose resource is a ``MemoryCloud`` entry; its definition is ``aws_resource``."""

    flavor = "memory_particle"
    UNIQUE_KEYS = ["aws_resource.custom_config.name"]
    UNIQUE_KEYS_BIND_RESOURCE = True  # the name is the resource's identity
    cloud: MemoryCloud = CLOUD

    def __init__(self, particle_definition: dict[str, Any]) -> None:
        super().__init__(particle_definition)
        self.desired_state_definition = self.particle_definition["aws_resource"]
        self.custom_config = self.desired_state_definition.setdefault("custom_config", {})

    def _spec(self) -> dict[str, Any]:
        return {k: v for k, v in self.desired_state_definition.items() if k != "custom_config"}

    def sync_state(self) -> None:
        resource = self.cloud.observe(self.pcf_id)
        if resource is None:
            self.state = State.terminated
            self.current_state_definition = {}
            return
        self.state = resource.state
        self.current_state_definition = dict(resource.definition)

    def get_desired_state_definition(self) -> dict[str, Any]:
        return self._spec()

    def _start(self) -> str:
        self.cloud.record(self.pcf_id, "start")
        self.cloud.move(self.pcf_id, State.running, self._spec())
        return "started"

    def _stop(self) -> str:
        self.cloud.record(self.pcf_id, "stop")
        self.cloud.move(self.pcf_id, State.stopped)
        return "stopped"

    def _terminate(self) -> str:
        self.cloud.record(self.pcf_id, "terminate")
        self.cloud.move(self.pcf_id, State.terminated)
        return "terminated"

    def _update(self) -> str:
        self.cloud.record(self.pcf_id, "update")
        with self.cloud.lock:
            self.cloud.resources[self.pcf_id].definition = self._spec()
        return "updated"


def memory_definition(name: str, **extra: Any) -> dict[str, Any]:
    """A memory particle definition; ``spec`` keys go into ``aws_resource``."""
    spec = extra.pop("spec", {})
    return {
        "pcf_name": name,
        "flavor": "memory_particle",
        "aws_resource": {"custom_config": {"name": name}, **spec},
        **extra,
    }
