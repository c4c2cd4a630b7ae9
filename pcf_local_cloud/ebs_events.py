"""The EBS volume notification of the ``DeleteVolume`` API call (``deleteVolume``, ``deleted``).

Patched: that EC2 response handler (``moto.ec2.responses.elastic_block_store.ElasticBlockStore``). It publishes
the event (see ``ec2_events``) once moto has done the work; a refused call publishes nothing. ``createVolume`` is
published by ``ebs_phases``, when the volume becomes ``available``. Attaching and detaching publish nothing: AWS
sends no notification when they succeed. Volumes that moto deletes on its own (the root volumes of terminated
instances) publish nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.ec2.responses import EC2Response

from pcf_local_cloud.ec2_events import Ec2Events
from pcf_local_cloud.moto_private import request_param
from pcf_local_cloud.patchset import PatchSet, defining_class

_HANDLERS = {"delete_volume": "deleteVolume"}


class EbsApiEvents:
    """Installs the response-handler patch."""

    def __init__(self, events: Ec2Events) -> None:
        self._events = events

    def install(self, patches: PatchSet) -> None:
        """Patch moto; undone by ``patches.restore()``."""
        for handler, event in _HANDLERS.items():
            owner = defining_class(EC2Response, handler)
            patches.replace(owner, handler, self._wrap(vars(owner)[handler], event))

    def _wrap(self, original: Callable[[Any], Any], event: str) -> Callable[[Any], Any]:
        events = self._events

        def handler(response: Any) -> Any:
            result = original(response)
            events.volume(response.ec2_backend, event, request_param(response, "VolumeId"))
            return result

        handler.__name__ = original.__name__
        handler.__doc__ = original.__doc__
        return handler

