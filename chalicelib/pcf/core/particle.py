"""``Particle``: the base class users subclass. A flavor fills in ``sync_state`` and the ``_start``,
``_stop``, ``_terminate`` (and ``_update``) hooks; the base class owns the workflow around them.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pcf.core import DESIRABLE_STATES, STATE_STRING_TO_ENUM, State
from pcf.core.decision import Action, Protection
from pcf.core.definition import ParticleDefinitionModel, load_definition
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
    """Registers every class that declares a ``flavor`` in the flavor registry, and lets any particle class be
    built from a definition file's path (``EC2Instance("web.json")``) as in the original PCF."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> MetaParticle:
        cls = super().__new__(mcs, name, bases, namespace)
        if namespace.get("flavor"):
            register_flavor(cls)
        return cls

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        given = args[0] if args else kwargs.get("particle_definition")
        if not isinstance(given, str | os.PathLike) or not _takes_definition_first(cls):
            return super().__call__(*args, **kwargs)
        from pcf.util.definition_files import reading_definitions

        path = Path(given)
        with reading_definitions(path.absolute().parent):
            loaded = load_definition(path)
            if args:
                return super().__call__(loaded, *args[1:], **kwargs)
            return super().__call__(**{**kwargs, "particle_definition": loaded})

    @property
    def registry(cls) -> dict[str, type[Any]]:
        """Every flavor, built-in and user-defined, by its lower-cased name (the original ``Particle.registry``)."""
        from pcf.core.registry import load_builtin_flavors

        return load_builtin_flavors()


class Particle(metaclass=MetaParticle):
    """A cloud resource with a desired state and one transition function per move.

    Args:
        particle_definition: a definition dict, or the path of a JSON (comments allowed) or YAML file holding
            one; validated here, before anything touches AWS. ``particle_definition`` keeps it as given; the
            framework reads the validated copy, ``normalized_definition``.
    """

    flavor: ClassVar[str | None] = None
    UNIQUE_KEYS: ClassVar[list[str]] = []
    UNIQUE_KEYS_BIND_RESOURCE: ClassVar[bool] = False
    """True when the ``UNIQUE_KEYS`` values name the resource itself (an instance's ``PCFName`` tag): then no two
    particles of the flavor in one file may share them. False (the original PCF's rule) lets them repeat."""
    state_lookup: ClassVar[dict[str, State]] = {}
    equivalent_states: ClassVar[dict[State, int]] = {}
    definition_model: ClassVar[type[ParticleDefinitionModel]] = ParticleDefinitionModel

    def __init__(self, particle_definition: Mapping[str, Any] | str | os.PathLike[str]) -> None:
        if isinstance(particle_definition, str | os.PathLike):  # a subclass that passed a path on (MetaParticle
            particle_definition = load_definition(Path(particle_definition))  # reads it before __init__ otherwise)
        self.particle_definition: Any = getattr(particle_definition, "given_definition", particle_definition)
        self.normalized_definition: dict[str, Any] = self._validate_definition(particle_definition)
        definition = self.normalized_definition
        self.name: str = definition["pcf_name"]
        self.persist_on_termination: bool = bool(definition.get("persist_on_termination"))
        self.persist_on_update: bool = bool(definition.get("persist_on_update"))
        self.callbacks: dict[str, Any] = dict(definition.get("callbacks") or {})
        self.desired_state: State | None = None
        if definition.get("desired_state"):
            self.desired_state = STATE_STRING_TO_ENUM[definition["desired_state"]]
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
        self.state_transition_table: dict[tuple[State, State], Callable[..., Any]] = {
            (State.terminated, State.running): self.start,
            (State.stopped, State.running): self.start,
            (State.stopped, State.terminated): self.terminate,
            (State.running, State.stopped): self.stop,
            (State.running, State.terminated): self.terminate,
        }
        self._default_transitions = dict(self.state_transition_table)

    # -- definition -----------------------------------------------------------------------------
    def _validate_definition(self, particle_definition: Mapping[str, Any]) -> dict[str, Any]:
        """Parse and check the definition; subclasses with a different shape override this."""
        return normalize_particle(particle_definition, type(self))

    @classmethod
    def from_file(cls, path: str | Path) -> Particle:
        """Build the particle from a JSON or YAML definition file. Files it names (user data templates) are read
        from the file's folder, and only from under it; templates render in one batch (``pcf.util.templates``)."""
        return cls(Path(path))

    def get_pcf_id(self) -> str:
        """``flavor:pcf_name``."""
        flavor = self.flavor or self.normalized_definition.get("flavor", "")
        return pcf_util.generate_pcf_id(flavor, self.name)

    def _set_unique_keys(self) -> None:
        """Record the dotted paths that identify this particle's resource."""
        self.unique_keys = list(self.UNIQUE_KEYS)

    @property
    def protection(self) -> Protection:
        """The flags the decision function honours."""
        return Protection(self.persist_on_termination, self.persist_on_update)

    # -- state ----------------------------------------------------------------------------------
    @property
    def state(self) -> State | None:
        """The state the last ``sync_state()`` found. As in the original PCF it is unset until the first sync:
        reading it raises ``AttributeError`` (``try: self.state`` / ``except: ...`` in a flavor works)."""
        try:
            return self.__dict__["_state"]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} {self.pcf_id}: state is unset until sync_state()") from None

    @state.setter
    def state(self, value: State | None) -> None:
        self.__dict__["_state"] = value

    @state.deleter
    def state(self) -> None:
        self.__dict__.pop("_state", None)

    @property
    def observed_state(self) -> State | None:
        """The state the last sync found, ``None`` before the first: for code that may run before a sync."""
        return self.__dict__.get("_state")

    def sync_state(self) -> None:
        """Read the resource from the cloud: set ``self.state`` and ``self.current_state_definition``."""
        raise NotImplementedError(f"{type(self).__name__} must implement sync_state()")

    def get_state(self) -> State | None:
        """The state, synced unless the cached one is younger than ``state_cache_ttl`` seconds."""
        if not self.use_cached_state():
            self.sync_state()
            self.state_last_refresh_time = self.clock()
        return self.observed_state

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

    def register_state_transition(
        self, start_state: State, end_state: State, transition_function: Callable[..., Any]
    ) -> None:
        """Use ``transition_function(sync=..., cascade=...)`` for the move from ``start_state`` to ``end_state``
        instead of the flavor's hook (the original PCF's extension point)."""
        self.state_transition_table[(start_state, end_state)] = transition_function

    def get_state_transition_function(self, start_state: State, end_state: State) -> Callable[..., Any] | None:
        """The function registered for the move, ``None`` when there is none."""
        return self.state_transition_table.get((start_state, end_state))

    def run_transition(self, action: Action) -> Any:
        """Carry out one transition on a particle the caller has just synced (the hook itself, without the
        second ``sync_state()`` that ``start()``/``stop()``/``terminate()`` make), then its callback. A function
        registered for the move (``register_state_transition``) runs instead of the hook."""
        key = (self.observed_state or State.terminated, self.desired_state or State.running)
        registered = self.state_transition_table.get(key)
        if action is not Action.update and registered is not None and registered != self._default_transitions.get(key):
            response = registered(sync=True, cascade=False)
        else:
            response = {
                Action.start: self._start,
                Action.stop: self._stop,
                Action.terminate: self._terminate,
                Action.update: self._update,
            }[action]()
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
        src_cascade: str | None = None,
        cache_ttl: float = 15,
        rollback: bool = False,
        runtime: Runtime | None = None,
    ) -> ApplyResult:
        """Converge to the desired state. Parents are brought to running first when starting; with
        ``cascade``, children are stopped/terminated first. See ``pcf.core.apply_engine``. ``src_cascade`` (the
        original's internal recursion direction) is accepted and has no effect: one loop applies the family."""
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

    def apply_cascade(self, direction: str, desired_state: State | None = None, sync: bool = True,
                      src_cascade: str | None = None) -> bool:
        """Apply the parents (``direction="parent"``) or children (``"child"``) first, as the original PCF's
        cascade did: relatives with no desired state get ``desired_state`` (this particle's by default). True when
        they all reached their desired states."""
        if not direction or (src_cascade and src_cascade != direction):
            return True
        relatives = self.parents if direction.lower() == "parent" else self.children
        state = desired_state or self.desired_state
        for relative in relatives:
            if relative.desired_state is None and state is not None:
                relative.set_desired_state(state)
        if direction.lower() == "child" and state is State.terminated:
            relatives = {r for r in relatives if not r.persist_on_termination}
        if relatives:
            from pcf.core.apply_engine import ApplyOptions, apply_particles

            apply_particles(sorted(relatives, key=lambda p: p.pcf_id), ApplyOptions(sync=sync))
        return all(r.is_state_equivalent(r.desired_state, r.observed_state) for r in relatives)

    def wait(self) -> None:
        """The original's one-second pause between two looks. The apply loop does not call it: its ``Runtime``
        (``PollPolicy``) schedules the looks, with backoff."""
        time.sleep(1)

    def measure(self) -> dict[str, Any]:
        """The particle's attributes (the original's ``measure``)."""
        return self.__dict__

    def validate_unique_id(self) -> None:
        """``FlavorMissingException`` without a flavor, ``InvalidUniqueKeysException`` when a ``UNIQUE_KEYS`` path
        holds no value (checked when the particle is built; callable again)."""
        from pcf.core.pcf_exceptions import FlavorMissingException
        from pcf.core.validation import check_unique_keys

        if not self.normalized_definition.get("flavor"):
            raise FlavorMissingException()
        check_unique_keys(self.normalized_definition, type(self))

    def get_attribute_value(self, attribute_key: str, state_definition_to_use: str = "c>d", default: Any = None) -> Any:
        """The value of ``attribute_key`` in the current (``c``) then desired (``d``) definition, in the order
        ``state_definition_to_use`` gives; ``default`` when none holds it."""
        definitions = []
        for which in state_definition_to_use.split(">"):
            if which[:1].lower() == "d":
                definitions.append(self.get_desired_state_definition())
            elif which[:1].lower() == "c":
                definitions.append(self.get_current_state_definition())
        value = pcf_util.get_item_from_dicts(attribute_key, *definitions)
        return default if value is None else value

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
        for parent in self.normalized_definition.get("parents") or []:
            self.link_to_parent(pcf, parent)
        for child in self.normalized_definition.get("children") or []:
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
        return f"<{type(self).__name__} {self.pcf_id} state={self.observed_state} desired={self.desired_state}>"


@functools.cache
def _takes_definition_first(cls: type) -> bool:
    """Does the class's constructor take ``particle_definition`` first (so a path there is a definition file)?"""
    try:
        parameters = list(inspect.signature(getattr(cls, "__init__")).parameters)  # noqa: B009 - the class's own
    except (TypeError, ValueError):
        return False
    return parameters[1:2] == ["particle_definition"]


def _reach(start: Particle, step: Callable[[Particle], set[Particle]]) -> set[Particle]:
    seen: set[Particle] = set()
    frontier = list(step(start))
    while frontier:
        current = frontier.pop()
        if current not in seen and current is not start:
            seen.add(current)
            frontier.extend(step(current))
    return seen
