"""The local cloud: AWS emulated in-process by moto, made closer to EC2 where PCF depends on it.

See ``docs/local-cloud.md``.
"""

from pcf_local_cloud.clock import Clock, RealClock, VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.deployment import ExecutionResult, LocalDeployment, deploy_chalice_app
from pcf_local_cloud.lambda_dispatch import LambdaContext, LambdaDispatch
from pcf_local_cloud.patching import InstalledPatches, active_patches, install_patches, uninstall_patches
from pcf_local_cloud.state import EmulationState

__all__ = [
    "Clock",
    "EmulationState",
    "ExecutionResult",
    "InstalledPatches",
    "LambdaContext",
    "LambdaDispatch",
    "LocalCloud",
    "LocalDeployment",
    "RealClock",
    "VirtualClock",
    "active_patches",
    "deploy_chalice_app",
    "install_patches",
    "uninstall_patches",
]
