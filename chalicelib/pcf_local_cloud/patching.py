"""Install and remove every moto patch of the local cloud, in-process or in a moto server launcher.

The patches change moto classes, so they are process-wide and at most one set is installed at a time.
``LocalCloud`` calls these itself; a launcher of ``moto.server.ThreadedMotoServer`` calls
``install_patches(EmulationState(...))`` before serving and ``uninstall_patches()`` after.
"""

from __future__ import annotations

import threading

from pcf_local_cloud.client_token import ClientTokens
from pcf_local_cloud.dynamodb_atomic import AtomicDynamoDB
from pcf_local_cloud.ebs_phases import VolumePhases
from pcf_local_cloud.ec2_phases import InstancePhases
from pcf_local_cloud.lambda_dispatch import LambdaDispatch
from pcf_local_cloud.patchset import PatchSet
from pcf_local_cloud.sfn_integration import StepFunctionsIntegration
from pcf_local_cloud.state import EmulationState
from pcf_local_cloud.waits import CloudWaits

_lock = threading.Lock()
_active: InstalledPatches | None = None


class InstalledPatches:
    """A live set of patches: what they read (``state``), the instance helpers, the Lambda handler registry
    (``lambdas``), and how to undo them."""

    def __init__(self, state: EmulationState) -> None:
        self.state = state
        self.instances = InstancePhases(state)
        self.volumes = VolumePhases(state)
        self.lambdas = LambdaDispatch(state.clock)
        self._patches = PatchSet()

    @property
    def targets(self) -> list[str]:
        """Dotted names of every patched moto attribute."""
        return self._patches.targets

    @property
    def installed(self) -> bool:
        return len(self._patches) > 0

    def _install(self) -> None:
        try:
            self.instances.install(self._patches)
            self.volumes.install(self._patches)
            ClientTokens().install(self._patches)  # wraps the phase-patched create_volume handler
            AtomicDynamoDB().install(self._patches)
            self.lambdas.install(self._patches)
            CloudWaits(self.state.clock).install(self._patches)
            StepFunctionsIntegration().install(self._patches)
        except BaseException:
            self._patches.restore()
            raise

    def uninstall(self) -> None:
        """Put every original moto attribute back (idempotent)."""
        global _active
        with _lock:
            self._patches.restore()
            if _active is self:
                _active = None


def install_patches(state: EmulationState) -> InstalledPatches:
    """Patch moto to honour ``ClientToken``, to time EC2 transitions by ``state``'s clock and to run Lambda
    functions in-process (``patches.lambdas``).

    Raises ``RuntimeError`` if a set is already installed.
    """
    global _active
    with _lock:
        if _active is not None:
            raise RuntimeError("local-cloud patches are already installed in this process")
        patches = InstalledPatches(state)
        patches._install()
        _active = patches
        return patches


def uninstall_patches() -> None:
    """Remove the installed set, if any."""
    patches = active_patches()
    if patches is not None:
        patches.uninstall()


def active_patches() -> InstalledPatches | None:
    """The installed set, or ``None``."""
    with _lock:
        return _active
