"""The local cloud: AWS emulated in-process by moto, made closer to EC2 where PCF depends on it.

See ``docs/local-cloud.md``. The names below are imported on first use (PEP 562): importing the package, or
a light module of it such as ``server_client``, does not import moto.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Clock": "clock",
    "RealClock": "clock",
    "VirtualClock": "clock",
    "LocalCloud": "cloud",
    "ExecutionResult": "deployment",
    "LocalDeployment": "deployment",
    "deploy_chalice_app": "deployment",
    "Delivery": "eventbridge_targets",
    "DeliveryLog": "eventbridge_targets",
    "LambdaContext": "lambda_dispatch",
    "LambdaDispatch": "lambda_dispatch",
    "InstalledPatches": "patching",
    "active_patches": "patching",
    "install_patches": "patching",
    "uninstall_patches": "patching",
    "EmulationState": "state",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
