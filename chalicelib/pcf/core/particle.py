"""``Particle``: the base class users subclass. A flavor fills in ``sync_state`` and the ``_start``,
``_stop``, ``_terminate`` (and ``_update``) hooks; the base class owns the workflow around them.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pcf.core import DESIRABLE_STATES, STATE_STRING_TO_ENUM, State
from pcf.core.decision import Action, Protection
from pcf.core.definition import ParticleSpec, load_definition
from pcf.core.pcf_exceptions import (
    InvalidCacheTTLException,
    InvalidStateError,
    InvalidValueReplaceException,
)
from pcf.core.references import InheritRef, dotted, find_references
from pcf.core.registry import register_flavor
from pcf.core.validation import normalize_particle
from pcf.util import pcf_util
from pcf.util.callbacks import run_callback

if TYPE_CHECKING:
    from pcf.core.apply_engine import ApplyResult
    from pcf.core.pcf import PCF
    from pcf.core.runtime import Runtime

logger = logging.getLogger(__name__)

MIN_CACHE_TTL = 10


class MetaParticle(type):
    """Registers every class that declares a ``flavor`` in the flavor registry."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> MetaParticle:
        cls = super().__new__(mcs, name, bases, namespace)
        if namespace.get("flavor"):
            register_flavor(cls)
        return cls


class Particle(metaclass=MetaParticle):
    """A cloud resource with a desired state and one transition function per move.

    Args:
        particle_definition: a definition dict (load files with ``Particle.from_file``); validated here,
            before anything touches AWS.
    """

    flavor: ClassVar[str | None] = None
    UNIQUE_KEYS: ClassVar[list[str]] = []
    state_lookup: ClassVar[dict[str, State]] = {}
    equivalent_states: ClassVar[dict[State, int]] = {}
    definition_model: ClassVar[type[ParticleSpec]] = ParticleSpec

    def __init__(self, particle_definition: Mapping[str, Any]) -> None:
        if isinstance(particle_definition, str | os.PathLike):
            raise TypeError(
                f"{type(self).__name__} takes a definition dict; load a file with "
                f"{type(self).__name__}.from_file({str(particle_definition)!r})"
            )
        self.particle_definition: dict[str, Any] = self._validate_definition(particle_definition)
        self.name: str = self.particle_definition["pcf_name"]
        self.persist_on_termination: bool = bool(self.particle_definition.get("persist_on_termination"))
        self.persist_on_update: bool = bool(self.particle_definition.get("persist_on_update"))
        self.callbacks: dict[str, Any] = dict(self.particle_definition.get("callbacks") or {})
        self.desired_state: State | None = None
        if self.particle_definition.get("desired_state"):
            self.desired_state = STATE_STRING_TO_ENUM[self.particle_definition["desired_state"]]
        self.state: State | None = None
        self.current_state_definition: dict[str, Any] = {}
        self.desired_state_definition: dict[str, Any] = {}
        self.custom_config: dict[str, Any] = {}
        self.pcf_id: str = self.get_pcf_id()
        self.parents: set[Particle] = set()
        self.children: set[Particle] = set()
        self.unique_keys: list[str] = []
        self.state_cache_ttl: float = 15
        self.state_last_refresh_time: float | None = None
        self.state_dirty = False
        self.clock: Callable[[], float] = time.monotonic
        self.idempotency_scope: str = uuid.uuid4().hex[:16]  # apply() sets a fresh one per call

    # -- definition -----------------------------------------------------------------------------
    def _validate_definition(self, particle_definition: Mapping[str, Any]) -> dict[str, Any]:
        """Parse and check the definition; subclasses with a different shape override this."""
        return normalize_particle(particle_definition, type(self))

    @classmethod
    def from_file(cls, path: str | Path) -> Particle:
        """Build the particle from a JSON or YAML definition file. Files it names (user data templates) are read
        from the file's folder, and only from under it; templates render in one batch (``pcf.util.templates``)."""
        from pcf.util.definition_files import template_root
        from pcf.util.templates import render_batch

        with template_root(Path(path).absolute().parent), render_batch():
            return cls(load_definition(path))

    def get_pcf_id(self) -> str:
        """``flavor:pcf_name``."""
        flavor = self.flavor or self.particle_definition.get("flavor", "")
        return pcf_util.generate_pcf_id(flavor, self.name)

    def _set_unique_keys(self) -> None:
        """Record the dotted paths that identify this particle's resource."""
        self.unique_keys = list(self.UNIQUE_KEYS)

    @property
    def protection(self) -> Protection:
        """The flags the decision function honours."""
        return Protection(self.persist_on_termination, self.persist_on_update)

    # -- state ----------------------------------------------------------------------------------
    def sync_state(self) -> None:
        """Read the resource from the cloud: set ``self.state`` and ``self.current_state_definition``."""
        raise NotImplementedError(f"{type(self).__name__} must implement sync_state()")

    def get_state(self) -> State | None:
        """The state, synced unless the cached one is younger than ``state_cache_ttl`` seconds."""
        if not self.use_cached_state():
            self.sync_state()
            self.state_last_refresh_time = self.clock()
        return self.state

    def use_cached_state(self) -> bool:
        """True while the last sync is fresh and nothing has marked the state dirty."""
        if self.state_dirty or self.state_last_refresh_time is None:
            self.state_dirty = False
            return False
        return self.clock() - self.state_last_refresh_time <= self.state_cache_ttl

    def set_desired_state(self, desired_state: State | str) -> None:
        """Set the desired state: ``running``, ``stopped`` or ``terminated`` (a name or a ``State``)."""
        state = STATE_STRING_TO_ENUM.get(desired_state) if isinstance(desired_state, str) else desired_state
        if state not in DESIRABLE_STATES:
            raise InvalidStateError(
                f"{self.pcf_id}.desired_state", f"{desired_state!r} is not one of running, stopped, terminated"
            )
        self.desired_state = state
        logger.info("%s: desired state %s", self.pcf_id, state)

    def is_state_equivalent(self, state1: State | None, state2: State | None) -> bool:
        """Equal, or in one class of this flavor's ``equivalent_states``."""
        from pcf.core.decision import states_equivalent

        if state1 is None or state2 is None:
            return state1 == state2
        return states_equivalent(state1, state2, self.equivalent_states)

    def is_state_definition_equivalent(self) -> bool:
        """Does the last synced definition already match the desired one?"""
        return not pcf_util.diff_dict(self.current_state_definition, self.get_desired_state_definition())

    def get_desired_state_definition(self) -> dict[str, Any]:
        return self.desired_state_definition

    def get_current_state_definition(self) -> dict[str, Any]:
        return self.current_state_definition

    def _validate_config(self) -> None:
        """Flavor-specific configuration checks for ``apply(validate_config=True)``; none by default."""

    def prepare(self) -> None:
        """Resolve what must be known before any transition (``$lookup$`` for AWS particles)."""

    # -- transitions ----------------------------------------------------------------------------
    def start(self, sync: bool = True, cascade: bool = False) -> Any:
        """Sync, then ``_start()``; with ``cascade``, parents are applied to running first."""
        if cascade and self.parents:
            self._apply_relatives(self.ancestors(), State.running, sync)
        self.sync_state()
        return self._start()

    def stop(self, sync: bool = True, cascade: bool = False) -> Any:
        """Sync, then ``_stop()``; with ``cascade``, children are stopped first."""
        if cascade and self.children:
            self._apply_relatives(self.descendants(), State.stopped, sync)
        self.sync_state()
        return self._stop()

    def terminate(self, sync: bool = True, cascade: bool = False) -> Any:
        """Sync, then ``_terminate()``; with ``cascade``, children are terminated first."""
        if cascade and self.children:
            self._apply_relatives(self.descendants(), State.terminated, sync)
        self.sync_state()
        return self._terminate()

    def update(self, sync: bool = True, cascade: bool = False) -> Any:
        """``_update()`` the running resource to the desired definition."""
        return self._update()

    def _start(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _start()")

    def _stop(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _stop()")

    def _terminate(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _terminate()")

    def _update(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not support updates")

    def run_transition(self, action: Action) -> Any:
        """Carry out one transition on a particle the caller has just synced (the hook itself, without the
        second ``sync_state()`` that ``start()``/``stop()``/``terminate()`` make), then its callback."""
        hook = {
            Action.start: self._start,
            Action.stop: self._stop,
            Action.terminate: self._terminate,
            Action.update: self._update,
        }[action]
        response = hook()
        self.state_dirty = True
        run_callback(self.callbacks.get(action.value), self, f"{self.pcf_id}.callbacks.{action.value}")
        return response

    # -- apply ----------------------------------------------------------------------------------
    def apply(
        self,
        sync: bool = True,
        cascade: bool = False,
        validate_config: bool = False,
        max_timeout: float | None = None,
        rollback: bool = False,
        cache_ttl: float = 15,
        runtime: Runtime | None = None,
    ) -> ApplyResult:
        """Converge to the desired state. Parents are brought to running first when starting; with
        ``cascade``, children are stopped/terminated first. See ``pcf.core.apply_engine``."""
        from pcf.core.apply_engine import ApplyOptions, apply_particles

        if cache_ttl < MIN_CACHE_TTL:
            raise InvalidCacheTTLException(f"cache_ttl must be at least {MIN_CACHE_TTL} seconds, got {cache_ttl}")
        self.state_cache_ttl = cache_ttl
        options = ApplyOptions(sync, max_timeout, validate_config, rollback)
        return apply_particles(self.apply_family(cascade), options, runtime)

    def apply_family(self, cascade: bool) -> list[Particle]:
        """The particles an apply of this one touches: its ancestors when starting (unset desired states
        default to running), its descendants with ``cascade`` when stopping/terminating (set to ours)."""
        family: list[Particle] = [self]
        if self.desired_state is State.running:
            for parent in sorted(self.ancestors(), key=lambda p: p.pcf_id):
                if parent.desired_state is None:
                    parent.desired_state = State.running
                family.append(parent)
        elif cascade and self.desired_state in (State.stopped, State.terminated):
            for child in sorted(self.descendants(), key=lambda p: p.pcf_id):
                child.desired_state = self.desired_state  # children cannot outlive their parent's stop
                family.append(child)
        return family

    def _apply_relatives(self, relatives: Iterable[Particle], state: State, sync: bool) -> None:
        from pcf.core.apply_engine import ApplyOptions, apply_particles

        chosen = sorted(relatives, key=lambda p: p.pcf_id)
        for relative in chosen:
            relative.desired_state = state
        apply_particles(chosen, ApplyOptions(sync=sync))

    # -- relatives ------------------------------------------------------------------------------
    def ancestors(self) -> set[Particle]:
        return _reach(self, lambda p: p.parents)

    def descendants(self) -> set[Particle]:
        return _reach(self, lambda p: p.children)

    def link_relatives(self, pcf: PCF) -> None:
        """Link to the parents and children the definition names, found in the field ``pcf``."""
        for parent in self.particle_definition.get("parents") or []:
            self.link_to_parent(pcf, parent)
        for child in self.particle_definition.get("children") or []:
            self.link_to_child(pcf, child)

    def link_to_parent(self, pcf: PCF, parent_pcf_id: str) -> None:
        parent = pcf.require_particle(parent_pcf_id, f"{self.pcf_id}.parents")
        self.parents.add(parent)
        parent.children.add(self)

    def link_to_child(self, pcf: PCF, child_pcf_id: str) -> None:
        child = pcf.require_particle(child_pcf_id, f"{self.pcf_id}.children")
        self.children.add(child)
        child.parents.add(self)

    # -- $inherit$ ------------------------------------------------------------------------------
    def inherit_references(self) -> list[tuple[tuple[str | int, ...], InheritRef]]:
        """The ``$inherit$`` references of the desired definition, as written in the definition."""
        if not hasattr(self, "_inherit_refs"):
            self._inherit_refs = [
                (path, ref)
                for path, ref in find_references(self.desired_state_definition)
                if isinstance(ref, InheritRef)
            ]
        return self._inherit_refs

    def check_inherit_references(self) -> None:
        """Every ``$inherit$`` names one of this particle's parents."""
        parents = {p.pcf_id for p in self.parents}
        for path, ref in self.inherit_references():
            if ref.parent_pcf_id not in parents:
                raise InvalidValueReplaceException(
                    f"{self.pcf_id}.aws_resource.{dotted(path)}",
                    f"$inherit$ names {ref.parent_pcf_id}, which is not a parent of {self.pcf_id} "
                    f"(parents: {', '.join(sorted(parents)) or 'none'})",
                )

    def get_and_replace_parent_variables(self) -> None:
        """Fill every ``$inherit$`` value from the parent's current state definition (0 and "" count)."""
        by_id = {p.pcf_id: p for p in self.parents}
        for path, ref in self.inherit_references():
            field = f"{self.pcf_id}.aws_resource.{dotted(path)}"
            parent = by_id.get(ref.parent_pcf_id)
            if parent is None:
                raise InvalidValueReplaceException(field, f"{ref.parent_pcf_id} is not a parent of {self.pcf_id}")
            value = pcf_util.get_path(parent.current_state_definition, ref.key_path)
            if value is pcf_util.MISSING:
                raise InvalidValueReplaceException(
                    field, f"{ref.parent_pcf_id} has no {ref.key_path!r} in its current state definition"
                )
            pcf_util.set_path(self.desired_state_definition, path, value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.pcf_id} state={self.state} desired={self.desired_state}>"


def _reach(start: Particle, step: Callable[[Particle], set[Particle]]) -> set[Particle]:
    seen: set[Particle] = set()
    frontier = list(step(start))
    while frontier:
        current = frontier.pop()
        if current not in seen and current is not start:
            seen.add(current)
            frontier.extend(step(current))
    return seen
