"""EBS volume notifications for the ``DeleteVolume``, ``AttachVolume`` and ``DetachVolume`` API calls.

Patched: the three EC2 response handlers (``moto.ec2.responses.elastic_block_store.ElasticBlockStore``).
Each publishes its event (see ``ec2_events``) once moto has done the work; a refused call publishes nothing.
``createVolume`` is published by ``ebs_phases``, when the volume becomes ``available``. Volumes that moto
attaches, detaches or deletes on its own (the root volumes of ``run_instances``, termination) publish
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.ec2.responses import EC2Response

from pcf_local_cloud.ec2_events import Ec2Events
from pcf_local_cloud.patchset import PatchSet, defining_class

_HANDLERS = {"delete_volume": "deleteVolume", "attach_volume": "attachVolume", "detach_volume": "detachVolume"}


class EbsApiEvents:
    """Installs the three response-handler patches."""

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
            instance_id = None if event == "deleteVolume" else _instance_id(response, result)
            events.volume(response.ec2_backend, event, response._get_param("VolumeId"), instance_id)
            return result

        handler.__name__ = original.__name__
        handler.__doc__ = original.__doc__
        return handler


def _instance_id(response: Any, result: Any) -> str | None:
    """The instance named by the answer (moto fills it in for a detach without ``InstanceId``), else the request."""
    answer = getattr(result, "result", None)
    if isinstance(answer, dict) and answer.get("InstanceId"):
        return str(answer["InstanceId"])
    return response._get_param("InstanceId")
