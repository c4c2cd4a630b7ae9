"""The local cloud: AWS emulated in-process by moto, made closer to EC2 where PCF depends on it.

See ``docs/local-cloud.md``.
"""

from pcf_local_cloud.clock import Clock, RealClock, VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.patching import InstalledPatches, active_patches, install_patches, uninstall_patches
from pcf_local_cloud.state import EmulationState

__all__ = [
    "Clock",
    "EmulationState",
    "InstalledPatches",
    "LocalCloud",
    "RealClock",
    "VirtualClock",
    "active_patches",
    "install_patches",
    "uninstall_patches",
]
