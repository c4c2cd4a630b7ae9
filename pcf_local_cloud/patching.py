"""Install and remove every moto patch of the local cloud, in-process or in a moto server launcher.

The patches change moto classes, so they are process-wide and at most one set is installed at a time.
``LocalCloud`` calls these itself; a launcher of ``moto.server.ThreadedMotoServer`` calls
``install_patches(EmulationState(...))`` before serving and ``uninstall_patches()`` after.
"""

from __future__ import annotations

import threading

from moto.ec2.responses import EC2Response

from pcf_local_cloud.async_invocations import AsyncInvoker, default_sqs_client
from pcf_local_cloud.client_token import ClientTokens
from pcf_local_cloud.dynamodb_atomic import AtomicDynamoDB
from pcf_local_cloud.dynamodb_idempotency import TransactionIdempotency
from pcf_local_cloud.dynamodb_index_changes import IndexChanges
from pcf_local_cloud.ebs_events import EbsApiEvents
from pcf_local_cloud.ebs_phases import VolumePhases
from pcf_local_cloud.ec2_events import Ec2Events
from pcf_local_cloud.ec2_phases import InstancePhases
from pcf_local_cloud.event_bus import EventPublisher
from pcf_local_cloud.eventbridge_targets import DeliveryLog, EventBridgeTargets
from pcf_local_cloud.execution_signal import ExecutionEndSignal
from pcf_local_cloud.iam_enforcement import IamEnforcement, acting_as, bind_state_role
from pcf_local_cloud.lambda_dispatch import LambdaDispatch
from pcf_local_cloud.map_run_api import MapRunApi
from pcf_local_cloud.map_run_children import MapRunChildren
from pcf_local_cloud.map_runs import MapRuns
from pcf_local_cloud.moto_private import observe_interpreter_clients
from pcf_local_cloud.outbox import defer_during
from pcf_local_cloud.patchset import PatchSet
from pcf_local_cloud.profile_associations import ProfileAssociations
from pcf_local_cloud.schedules import Schedules
from pcf_local_cloud.sfn_execution_end import ExecutionEndPatch
from pcf_local_cloud.sfn_integration import StepFunctionsIntegration
from pcf_local_cloud.sfn_limits import StepFunctionsLimits
from pcf_local_cloud.state import EmulationState
from pcf_local_cloud.ticker import Ticker
from pcf_local_cloud.waits import SYNC_FALLBACK_SECONDS, CloudWaits

_lock = threading.Lock()
_active: InstalledPatches | None = None


class InstalledPatches:
    """A live set of patches: what they read (``state``), the instance helpers, the Lambda handler registry
    (``lambdas``), EventBridge's deliveries (``deliveries``) and schedules, and how to undo them."""

    def __init__(self, state: EmulationState) -> None:
        self.state = state
        self.ec2_events = Ec2Events(EventPublisher(state))
        self.instances = InstancePhases(state, self.ec2_events)
        self.volumes = VolumePhases(state, self.ec2_events)
        self.lambdas = LambdaDispatch(state.clock, run_as=acting_as)  # an invocation runs under its function's role
        self.deliveries = DeliveryLog()
        self.eventbridge = EventBridgeTargets(self.deliveries, AsyncInvoker(state.wall_time, default_sqs_client))
        self.schedules = Schedules(state, self.eventbridge)
        self.execution_ends = ExecutionEndSignal(SYNC_FALLBACK_SECONDS)
        self.iam = IamEnforcement()
        self.sfn_limits = StepFunctionsLimits()
        self.map_run_children = MapRunChildren()
        self.map_runs = MapRuns(self.map_run_children, self.execution_ends.notify)
        self._ticker: Ticker | None = None
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
            TransactionIdempotency(self.state.clock).install(self._patches)  # wraps the locked call_action
            IndexChanges(self.state).install(self._patches)
            self.lambdas.install(self._patches)
            self.lambdas.limits.install(self._patches)
            self.iam.install()
            sfn_integration = StepFunctionsIntegration()
            observe_interpreter_clients(self._patches, (bind_state_role, sfn_integration.observe_client))
            CloudWaits(self.state.clock, self.execution_ends).install(self._patches)
            sfn_integration.install(self._patches)
            self.sfn_limits.install(self._patches)
            ExecutionEndPatch(self.execution_ends).install(self._patches)
            self.map_runs.install(self._patches)  # distributed map runs: children, threshold, IAM
            MapRunApi(self.map_run_children).install(self._patches)
            EbsApiEvents(self.ec2_events).install(self._patches)
            ProfileAssociations().install(self._patches)
            defer_during(self._patches, EC2Response, "call_action", self.state.outbox)  # events after the request
            self.eventbridge.install(self._patches)
            self.schedules.install(self._patches)
        except BaseException:
            self.iam.uninstall()
            self.lambdas.runtime.restore()
            self._patches.restore()
            raise

    # -- time-driven work ---------------------------------------------------------------------------
    def settle_due(self) -> int:
        """Apply every instance transition and volume creation whose time has come, publishing their events
        now (in the calling thread); the number settled."""
        return self.instances.settle_due() + self.volumes.settle_due()

    def fire_schedules(self) -> int:
        """Fire every scheduled rule whose time has come (once per missed time); the number of events."""
        return self.schedules.fire_due()

    def tick(self) -> None:
        """What the ticker does: :meth:`settle_due`, then :meth:`fire_schedules`."""
        self.settle_due()
        self.fire_schedules()

    def start_ticker(self, interval_s: float = 1.0) -> Ticker:
        """Run :meth:`tick` every ``interval_s`` real seconds on a background thread (replaces a running one);
        :meth:`uninstall` stops it."""
        self.stop_ticker()
        self._ticker = Ticker(self.tick, interval_s).start()
        return self._ticker

    def stop_ticker(self) -> None:
        """Stop the background ticker, if any (idempotent)."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.stop()

    @property
    def ticker(self) -> Ticker | None:
        return self._ticker

    def uninstall(self) -> None:
        """Stop the ticker and put every original moto attribute back (idempotent)."""
        global _active
        self.stop_ticker()
        with _lock:
            self.iam.uninstall()
            self.lambdas.runtime.restore()
            self._patches.restore()
            if _active is self:
                _active = None


def install_patches(state: EmulationState) -> InstalledPatches:
    """Patch moto to honour ``ClientToken`` (and DynamoDB's ``ClientRequestToken``), to build DynamoDB indexes as
    AWS does, to time EC2 transitions by ``state``'s clock, to run Lambda
    functions in-process (``patches.lambdas``), to publish EC2's events and deliver EventBridge rules to Lambda
    and Step Functions (``patches.deliveries``), and to fire scheduled rules (``fire_schedules``).

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
