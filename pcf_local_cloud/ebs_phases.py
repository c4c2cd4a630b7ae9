"""The ``creating`` phase of EBS volumes made by ``CreateVolume``, timed by a clock.

moto makes every volume ``available`` at once. Here a volume created through the ``CreateVolume`` API
(not the root volumes ``run_instances`` makes) gets a deadline ``clock.now() + volume_pending_seconds``
and reads ``creating`` until then.

Patched:

- ``Volume.status`` (a property): ``creating`` before the deadline, moto's value after. Both
  ``describe_volumes`` and its ``status`` filter read it.
- ``ElasticBlockStore.create_volume`` (the EC2 response handler): stamps the deadline on the new volume
  before the response is serialized, so ``create_volume`` itself answers ``creating``.
- ``EBSBackend.attach_volume``: a volume still ``creating`` cannot be attached (``IncorrectState``), as in EC2.

When such a volume becomes ``available`` (at once with no delay, else at its deadline: ``deadlines`` runs it then,
or a read that comes first) an ``EBS Volume Notification`` ``createVolume`` event is published, once (see
``ec2_events``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.ec2.models import EC2Backend, ec2_backends
from moto.ec2.models.elastic_block_store import Volume
from moto.ec2.responses import EC2Response

from pcf_local_cloud.deadlines import Deadlines
from pcf_local_cloud.ec2_events import Ec2Events
from pcf_local_cloud.errors import volume_not_available
from pcf_local_cloud.patchset import PatchSet, defining_class
from pcf_local_cloud.state import EmulationState

READY_ATTR = "_pcf_available_at"
_NONE = object()


class VolumePhases:
    """Installs the volume-phase patches."""

    def __init__(self, state: EmulationState, events: Ec2Events, deadlines: Deadlines) -> None:
        self._emu = state
        self._events = events
        self._deadlines = deadlines

    def install(self, patches: PatchSet) -> None:
        """Patch moto (see the module docstring); undone by ``patches.restore()``."""
        emu = self._emu
        events = self._events
        original_status = defining_class(Volume, "status").__dict__["status"]

        def status(volume: Volume) -> str:
            ready_at = volume.__dict__.get(READY_ATTR)
            if ready_at is not None:
                if emu.clock.now() < ready_at:
                    return "creating"
                if volume.__dict__.pop(READY_ATTR, _NONE) is not _NONE:  # only one reader publishes
                    events.volume(volume.ec2_backend, "createVolume", volume.id)  # delivered after the request
            return original_status.fget(volume)

        patches.replace(Volume, "status", property(status, doc="Volume state, ``creating`` until its deadline."))

        owner = defining_class(EC2Response, "create_volume")
        patches.replace(owner, "create_volume",
                        _make_create_volume(vars(owner)["create_volume"], emu, events, self._deadlines))

        owner = defining_class(EC2Backend, "attach_volume")
        original_attach = vars(owner)["attach_volume"]

        def attach_volume(backend: Any, volume_id: str, *args: Any, **kwargs: Any) -> Any:
            if backend.get_volume(volume_id).status == "creating":
                raise volume_not_available(volume_id)
            return original_attach(backend, volume_id, *args, **kwargs)

        attach_volume.__doc__ = original_attach.__doc__
        patches.replace(owner, "attach_volume", attach_volume)

    def settle_due(self) -> int:
        """Make every volume whose ``creating`` deadline has passed ``available`` now, in every account and
        region (publishing ``createVolume``); the number settled. Deliveries follow the scan."""
        settled = 0
        with self._emu.outbox.deferred():
            for volume in _creating_volumes():
                ready_at = volume.__dict__.get(READY_ATTR)
                if ready_at is not None and self._emu.clock.now() >= ready_at:
                    volume.status  # noqa: B018 - reading settles it
                    settled += 1
        return settled


def _creating_volumes() -> list[Volume]:
    """The volumes of every moto EC2 backend still counting down to ``available`` (a snapshot)."""
    found: list[Volume] = []
    for accounts in list(dict.values(ec2_backends)):
        for backend in list(dict.values(accounts)):
            found.extend(v for v in list(backend.volumes.values()) if READY_ATTR in v.__dict__)
    return found


def _make_create_volume(original: Callable[[Any], Any], emu: EmulationState, events: Ec2Events,
                        deadlines: Deadlines) -> Callable[[Any], Any]:
    def create_volume(response: Any) -> Any:
        result = original(response)
        volume = result.result
        seconds = emu.volume_pending_seconds
        if seconds > 0:
            ready_at = emu.clock.now() + seconds
            volume.__dict__[READY_ATTR] = ready_at
            deadlines.at(ready_at, lambda: volume.status)  # reading it at the deadline settles and announces it
        else:
            events.volume(volume.ec2_backend, "createVolume", volume.id)
        return result

    create_volume.__doc__ = original.__doc__
    return create_volume
