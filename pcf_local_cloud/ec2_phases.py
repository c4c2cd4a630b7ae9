"""Transitional EC2 instance states (``pending``, ``stopping``, ``shutting-down``) timed by a clock.

moto switches an instance's state instantly. Here a call that starts a transition leaves the instance
in the transitional state, with a deadline ``clock.now() + pending_seconds`` stored on the moto model
object and registered with ``deadlines``: the final state is applied, and its event published, at the deadline
(by the settler thread on a real clock, by ``advance()``/``sleep()`` on a virtual one), as EC2 announces a state
change when it happens, not when someone looks. A read after the deadline that comes first (the settler not yet
there) settles it too; either way the transition settles, and is announced, once. A read costs one dict lookup when
no transition is under way.

Patched (all at moto's model/backend level, so a moto server process gets them too):

- ``Instance._state`` (a new property, through ``moto_private``; moto stores the state in the instance
  ``__dict__``): every reader (``describe_instances``, the ``instance-state-name``/``-code`` filters,
  ``describe_instance_status``, moto's own checks) sees the settled state.
- ``Instance.start`` / ``Instance.stop`` / ``Instance.terminate``: start the ``pending``, ``stopping`` or
  ``shutting-down`` phase.
- ``Instance.reboot``: made atomic like the others (below).
- ``InstanceBackend.run_instances``: new instances are created ``pending`` (no reader sees moto's initial
  ``running`` first).
- ``InstanceBackend.start_instances`` / ``InstanceBackend.stop_instances``: refuse, as EC2 does, to start an
  instance that is ``stopping``, ``shutting-down`` or ``terminated``, or to stop one that is ``pending``,
  ``shutting-down`` or ``terminated`` (``IncorrectInstanceState``; moto allows both).

Each state change is atomic for every reader: a code always belongs to the name it is shown with (the pairs of
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceState.html), and no reader sees a state a change
only passes through inside the emulation (moto's final state before the transitional one is shown). moto writes
``name`` then ``code`` on the one object its serializer reads ``code`` then ``name`` from, and a transition here
rewrites moto's state at once; so every change runs inside ``moto_private.state_change`` (a private copy, shown
whole at the end) and an object a reader got never changes.

Every real change of an instance's state name (a transition starting, a phase settling, ``run_instances``,
the drift helpers) is published as an ``EC2 Instance State-change Notification`` (see ``ec2_events``);
an instant transition publishes both states (``stopping`` then ``stopped``), as EC2 does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.ec2.models import EC2Backend, ec2_backends
from moto.ec2.models.instances import Instance

from pcf_local_cloud.deadlines import Deadlines
from pcf_local_cloud.ec2_events import Ec2Events
from pcf_local_cloud.errors import incorrect_instance_state
from pcf_local_cloud.moto_private import (
    instance_state_property,
    new_instances_shown_as,
    state_change,
    store_state,
    stored_state,
)
from pcf_local_cloud.patchset import PatchSet, defining_class
from pcf_local_cloud.state import EmulationState

STATE_CODES: dict[str, int] = {
    "pending": 0,
    "running": 16,
    "shutting-down": 32,
    "terminated": 48,
    "stopping": 64,
    "stopped": 80,
}

StateName = tuple[str, int]
PENDING: StateName = ("pending", 0)
RUNNING: StateName = ("running", 16)
STOPPING: StateName = ("stopping", 64)
STOPPED: StateName = ("stopped", 80)
SHUTTING_DOWN: StateName = ("shutting-down", 32)
TERMINATED: StateName = ("terminated", 48)

CANNOT_START = frozenset({"stopping", "shutting-down", "terminated"})
CANNOT_STOP = frozenset({"pending", "shutting-down", "terminated"})

PHASE_ATTR = "_pcf_phase"


class Phase:
    """A transition under way: show ``shown`` until ``ready_at`` (forever while ``held``), then ``final``."""

    __slots__ = ("final", "held", "ready_at", "shown")

    def __init__(self, shown: StateName, final: StateName, ready_at: float, held: bool = False) -> None:
        self.shown = shown
        self.final = final
        self.ready_at = ready_at
        self.held = held

    def __repr__(self) -> str:
        return f"Phase({self.shown[0]}->{self.final[0]} at {self.ready_at}{', held' if self.held else ''})"


def _set(instance: Instance, state: StateName) -> None:
    store_state(instance, *state)


class InstancePhases:
    """Installs the instance-phase patches and offers the drift helpers built on them."""

    def __init__(self, state: EmulationState, events: Ec2Events, deadlines: Deadlines) -> None:
        self._emu = state
        self._events = events
        self._deadlines = deadlines
        self._originals: dict[str, Callable[[Instance], Any]] = {}
        self._settle = self._make_settler()

    # -- installation -------------------------------------------------------------------------------
    def install(self, patches: PatchSet) -> None:
        """Patch moto (see the module docstring); undone by ``patches.restore()``."""
        self._originals = {name: vars(Instance)[name] for name in ("start", "stop", "terminate", "reboot")}
        instance_state_property(patches, self._settle)
        patches.replace(Instance, "start", self._make_transition(self._originals["start"], PENDING, RUNNING))
        patches.replace(Instance, "stop", self._make_transition(self._originals["stop"], STOPPING, STOPPED))
        patches.replace(
            Instance,
            "terminate",
            self._make_transition(self._originals["terminate"], SHUTTING_DOWN, TERMINATED),
        )
        patches.replace(Instance, "reboot", _make_atomic(self._originals["reboot"], self._emu))
        owner = defining_class(EC2Backend, "run_instances")
        patches.replace(owner, "run_instances", self._make_run_instances(vars(owner)["run_instances"]))
        owner = defining_class(EC2Backend, "start_instances")
        patches.replace(
            owner, "start_instances", _make_guard(vars(owner)["start_instances"], self._emu, CANNOT_START, "started")
        )
        owner = defining_class(EC2Backend, "stop_instances")
        patches.replace(
            owner, "stop_instances", _make_guard(vars(owner)["stop_instances"], self._emu, CANNOT_STOP, "stopped")
        )

    def _make_settler(self) -> Callable[[Instance], None]:
        """What reading an instance's state does first: apply its final state if its phase is due."""
        emu = self._emu
        events = self._events

        def settle(instance: Instance) -> None:
            instance_dict = instance.__dict__
            with emu.lock:  # the event is delivered once the lock is released
                phase = instance_dict.get(PHASE_ATTR)
                if phase is not None and not phase.held and emu.clock.now() >= phase.ready_at:
                    before = stored_state(instance).name
                    _set(instance, phase.final)
                    del instance_dict[PHASE_ATTR]
                    events.instance_states(instance, before, [phase.final[0]])

        def settle_if_due(instance: Instance) -> None:
            phase = instance.__dict__.get(PHASE_ATTR)
            if phase is not None and not phase.held and emu.clock.now() >= phase.ready_at:
                settle(instance)

        return settle_if_due

    def _make_transition(
        self, original: Callable[[Instance], Any], shown: StateName, final: StateName
    ) -> Callable[[Instance], Any]:
        emu = self._emu
        events = self._events

        def transition(instance: Instance) -> Any:
            with emu.lock, state_change(instance):
                instance_dict = instance.__dict__
                before = instance.state  # settles a due phase first
                phase = instance_dict.get(PHASE_ATTR)
                previous = original(instance)  # moto sets ``final`` and does its side effects
                if phase is not None and phase.final == final:
                    _set(instance, phase.shown)  # already on its way there: keep the deadline
                    return previous
                instance_dict.pop(PHASE_ATTR, None)
                if before == final[0]:
                    return previous
                if emu.pending_seconds > 0:
                    _set(instance, shown)
                    self._start_phase(instance, Phase(shown, final, emu.clock.now() + emu.pending_seconds))
                    events.instance_states(instance, before, [shown[0]])
                else:
                    events.instance_states(instance, before, [shown[0], final[0]])
                return previous

        transition.__name__ = original.__name__
        transition.__doc__ = original.__doc__
        return transition

    def _make_run_instances(self, original: Callable[..., Any]) -> Callable[..., Any]:
        emu = self._emu
        events = self._events

        def run_instances(backend: Any, *args: Any, **kwargs: Any) -> Any:
            with emu.lock:
                seconds = emu.pending_seconds
                with new_instances_shown_as(PENDING if seconds > 0 else None):
                    reservation = original(backend, *args, **kwargs)
                if seconds > 0:
                    ready_at = emu.clock.now() + seconds
                    for instance in reservation.instances:
                        self._start_phase(instance, Phase(PENDING, RUNNING, ready_at))
                        events.instance_states(instance, None, [PENDING[0]])
                else:
                    for instance in reservation.instances:
                        events.instance_states(instance, None, [PENDING[0], RUNNING[0]])
                return reservation

        run_instances.__doc__ = original.__doc__
        return run_instances

    def _start_phase(self, instance: Instance, phase: Phase) -> None:
        """Show ``phase`` on ``instance`` and have it settle at its deadline (unless held)."""
        instance.__dict__[PHASE_ATTR] = phase
        if not phase.held:
            self._deadlines.at(phase.ready_at, functools.partial(self._settle, instance))

    # -- helpers for tests and drift ----------------------------------------------------------------
    def force(self, instance: Instance, state_name: str) -> None:
        """Put ``instance`` in ``state_name`` now, dropping any transition under way.

        ``running``, ``stopped`` and ``terminated`` go through moto's own model methods (so their side
        effects happen, e.g. volumes detached on termination); a transitional state is set as is and
        stays until the next call changes it.
        """
        if state_name not in STATE_CODES:
            raise ValueError(f"unknown instance state {state_name!r}; one of {sorted(STATE_CODES)}")
        if not self._originals:
            raise RuntimeError("the instance-phase patches are not installed")
        moto_method = {"running": "start", "stopped": "stop", "terminated": "terminate"}.get(state_name)
        with self._emu.lock, state_change(instance):
            instance.__dict__.pop(PHASE_ATTR, None)
            before = stored_state(instance).name  # as shown: a dropped phase never settles
            if moto_method is not None:
                self._originals[moto_method](instance)
            else:
                _set(instance, (state_name, STATE_CODES[state_name]))
            self._events.instance_states(instance, before, [state_name])

    def hold(self, instance: Instance) -> None:
        """Keep ``instance`` ``pending`` until :meth:`release`; a ``running`` one is put back to ``pending``."""
        with self._emu.lock, state_change(instance):
            name = instance.state
            if name not in ("pending", "running"):
                raise ValueError(f"instance {instance.id} is {name}: only a pending or running one can be held")
            phase = instance.__dict__.get(PHASE_ATTR)
            if name == "pending" and phase is not None:
                phase.held = True
                return
            _set(instance, PENDING)
            instance.__dict__[PHASE_ATTR] = Phase(PENDING, RUNNING, self._emu.clock.now(), held=True)
            self._events.instance_states(instance, name, [PENDING[0]])

    def release(self, instance: Instance) -> None:
        """End a :meth:`hold`: the instance turns ``running`` at its original deadline (now if it has passed)."""
        with self._emu.lock:
            phase = instance.__dict__.get(PHASE_ATTR)
            if phase is not None and phase.held:
                phase.held = False
                self._start_phase(instance, phase)

    def phase_of(self, instance: Instance) -> Phase | None:
        """The transition under way for ``instance``, if any (for inspection)."""
        return instance.__dict__.get(PHASE_ATTR)

    def settle_due(self) -> int:
        """Apply every transition whose deadline has passed, in every account and region, now (so their events
        go out now rather than at the next read); the number settled. Deliveries follow the scan."""
        settled = 0
        with self._emu.outbox.deferred():
            for instance in _phased_instances():
                phase = instance.__dict__.get(PHASE_ATTR)
                if phase is None or phase.held or self._emu.clock.now() < phase.ready_at:
                    continue
                instance.state  # noqa: B018 - reading settles it
                settled += PHASE_ATTR not in instance.__dict__
        return settled


def _phased_instances() -> list[Instance]:
    """The instances of every moto EC2 backend with a transition under way (a snapshot)."""
    found: list[Instance] = []
    for accounts in list(dict.values(ec2_backends)):
        for backend in list(dict.values(accounts)):
            for reservation in list(backend.reservations.values()):
                found.extend(i for i in list(reservation.instances) if PHASE_ATTR in i.__dict__)
    return found


def _make_atomic(original: Callable[[Instance], Any], emu: EmulationState) -> Callable[[Instance], Any]:
    """Wrap an ``Instance`` method that changes the state in place (``reboot``) so that readers see the change
    whole."""

    def atomic(instance: Instance) -> Any:
        with emu.lock, state_change(instance):
            return original(instance)

    atomic.__name__ = original.__name__
    atomic.__doc__ = original.__doc__
    return atomic


def _make_guard(
    original: Callable[..., Any], emu: EmulationState, refused: frozenset[str], action: str
) -> Callable[..., Any]:
    """Wrap a backend ``start_instances``/``stop_instances``: refuse the whole call if any instance is in
    a state in ``refused``, before touching any instance (unknown ids still fail as in moto)."""

    def guarded(backend: Any, instance_ids: list[str], *args: Any, **kwargs: Any) -> Any:
        with emu.lock:
            for instance in backend.get_multi_instances_by_id(instance_ids):
                if instance.state in refused:
                    raise incorrect_instance_state(instance.id, action)
            return original(backend, instance_ids, *args, **kwargs)

    guarded.__name__ = original.__name__
    guarded.__doc__ = original.__doc__
    return guarded
