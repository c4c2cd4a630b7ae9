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
from pcf_local_cloud.deadlines import Deadlines
from pcf_local_cloud.dynamodb_answers import ItemAnswers
from pcf_local_cloud.dynamodb_atomic import AtomicDynamoDB
from pcf_local_cloud.dynamodb_idempotency import TransactionIdempotency
from pcf_local_cloud.dynamodb_index_changes import IndexChanges
from pcf_local_cloud.dynamodb_indexes import HashKeyIndexes
from pcf_local_cloud.dynamodb_transactions import TransactionUndo
from pcf_local_cloud.ebs_events import EbsApiEvents
from pcf_local_cloud.ebs_phases import VolumePhases
from pcf_local_cloud.ec2_events import Ec2Events
from pcf_local_cloud.ec2_instance_index import InstanceIdIndex
from pcf_local_cloud.ec2_phases import InstancePhases
from pcf_local_cloud.ec2_tag_index import TagIndex
from pcf_local_cloud.event_bus import EventPublisher
from pcf_local_cloud.eventbridge_targets import DeliveryLog, EventBridgeTargets
from pcf_local_cloud.execution_signal import ExecutionEndSignal
from pcf_local_cloud.faults import ThrottlingFaults
from pcf_local_cloud.iam_enforcement import IamEnforcement, acting_as, bind_state_role
from pcf_local_cloud.lambda_dispatch import LambdaDispatch
from pcf_local_cloud.map_run_api import MapRunApi
from pcf_local_cloud.map_run_children import MapRunChildren
from pcf_local_cloud.map_runs import MapRuns
from pcf_local_cloud.moto_private import (
    jsonpaths_parsed_once,
    moto_answers_unanswered,
    observe_interpreter_clients,
    sync_check_clients_marked,
)
from pcf_local_cloud.outbox import defer_during
from pcf_local_cloud.patchset import PatchSet
from pcf_local_cloud.profile_associations import ProfileAssociations
from pcf_local_cloud.schedules import Schedules
from pcf_local_cloud.sfn_callbacks import CallbackTasks
from pcf_local_cloud.sfn_execution_end import ExecutionEndPatch
from pcf_local_cloud.sfn_execution_names import UnnamedExecutions
from pcf_local_cloud.sfn_integration import StepFunctionsIntegration
from pcf_local_cloud.sfn_lambda_errors import LambdaTaskErrors
from pcf_local_cloud.sfn_limits import StepFunctionsLimits
from pcf_local_cloud.sfn_stops import StoppedExecutions
from pcf_local_cloud.sfn_task_timeouts import TaskTimeouts
from pcf_local_cloud.sfn_task_tokens import ClosedTaskTokens
from pcf_local_cloud.state import EmulationState
from pcf_local_cloud.ticker import Ticker
from pcf_local_cloud.waits import SYNC_FALLBACK_SECONDS, CloudWaits

_lock = threading.Lock()
_active: InstalledPatches | None = None


class InstalledPatches:
    """A live set of patches: what they read (``state``), the deadlines of timed phases (``deadlines``), the
    instance helpers, the Lambda handler registry (``lambdas``), EventBridge's deliveries (``deliveries``) and
    schedules, and how to undo them."""

    def __init__(self, state: EmulationState, faults: ThrottlingFaults | None = None) -> None:
        self.state = state
        self.faults = faults if faults is not None else ThrottlingFaults()
        self.deadlines = Deadlines(state.clock, batch=state.outbox.deferred)
        self.callback_tasks = CallbackTasks(self.deadlines)
        self.ec2_events = Ec2Events(EventPublisher(state))
        self.instances = InstancePhases(state, self.ec2_events, self.deadlines)
        self.volumes = VolumePhases(state, self.ec2_events, self.deadlines)
        self.lambdas = LambdaDispatch(state.clock, run_as=acting_as)  # an invocation runs under its function's role
        self.deliveries = DeliveryLog()
        self.eventbridge = EventBridgeTargets(self.deliveries, AsyncInvoker(state.wall_time, default_sqs_client))
        self.schedules = Schedules(state, self.eventbridge)
        self.execution_ends = ExecutionEndSignal(SYNC_FALLBACK_SECONDS)
        self.iam = IamEnforcement()
        self.sfn_limits = StepFunctionsLimits()
        self.dynamodb_indexes = HashKeyIndexes()  # issue 13: Query by partition key without a table scan
        self.instance_index = InstanceIdIndex()  # issue 13: instances by id, tags by resource, without scans
        self.tag_index = TagIndex(self.instance_index)  # issue 13: tag filters over their candidates only
        self.dynamodb_transactions = TransactionUndo(self.dynamodb_indexes.written)  # issue 13: no table copies
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
            moto_answers_unanswered(self._patches, self.faults.answered)  # a throttled request is not carried out
            self.instances.install(self._patches)
            self.volumes.install(self._patches)
            ClientTokens().install(self._patches)  # wraps the phase-patched create_volume handler
            AtomicDynamoDB().install(self._patches)
            ItemAnswers().install(self._patches)
            TransactionIdempotency(self.state.clock).install(self._patches)  # wraps the locked call_action
            IndexChanges(self.state).install(self._patches)
            self.lambdas.install(self._patches)
            self.lambdas.limits.install(self._patches)
            self.iam.install()
            sfn_integration = StepFunctionsIntegration()
            observe_interpreter_clients(self._patches, (bind_state_role, sfn_integration.observe_client,
                                                        self.faults.observe_interpreter_client))
            sync_check_clients_marked(self._patches)  # those the faults leave alone
            jsonpaths_parsed_once(self._patches)
            CloudWaits(self.state.clock, self.execution_ends).install(self._patches)
            sfn_integration.install(self._patches)
            self.sfn_limits.install(self._patches)
            TaskTimeouts(self.deadlines).install(self._patches)  # TimeoutSeconds on the clock, no 60 s default
            self.callback_tasks.install(self._patches)
            ClosedTaskTokens().install(self._patches)
            StoppedExecutions(self.execution_ends).install(self._patches)
            UnnamedExecutions().install(self._patches)  # a stop ends token waits at once
            LambdaTaskErrors().install(self._patches)
            ExecutionEndPatch(self.execution_ends).install(self._patches)
            self.map_runs.install(self._patches)  # distributed map runs: children, threshold, IAM
            MapRunApi(self.map_run_children).install(self._patches)
            EbsApiEvents(self.ec2_events).install(self._patches)
            ProfileAssociations().install(self._patches)
            defer_during(self._patches, EC2Response, "call_action", self.state.outbox)  # events after the request
            self.eventbridge.install(self._patches)
            self.schedules.install(self._patches)
            self.dynamodb_indexes.install(self._patches)
            self.instance_index.install(self._patches)
            self.tag_index.install(self._patches)  # over the instance-id narrowing of describe_instances
            self.dynamodb_transactions.install(self._patches)
            self.deadlines.start()
        except BaseException:
            self.deadlines.stop()
            self.iam.uninstall()
            self.lambdas.runtime.restore()
            self._patches.restore()
            raise

    # -- time-driven work ---------------------------------------------------------------------------
    def settle_due(self) -> int:
        """Apply every instance transition and volume creation whose time has come and that ``deadlines`` has
        not settled yet, publishing their events now (in the calling thread); the number settled."""
        return self.instances.settle_due() + self.volumes.settle_due()

    def fire_schedules(self) -> int:
        """Fire every scheduled rule whose time has come (once per missed time); the number of events."""
        return self.schedules.fire_due()

    def tick(self) -> None:
        """What the ticker does: :meth:`fire_schedules` (transitions settle at their deadlines without it)."""
        self.fire_schedules()

    def start_ticker(self, interval_s: float = 1.0) -> Ticker:
        """Run :meth:`tick` every ``interval_s`` real seconds on a background thread (replaces a running one), so
        scheduled rules fire on a real clock; :meth:`uninstall` stops it."""
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
        """Stop the ticker and the deadlines and put every original moto attribute back (idempotent)."""
        global _active
        self.stop_ticker()
        self.deadlines.stop()
        self.callback_tasks.events.expire_all()  # callback waits on a stepped clock would never end
        with _lock:
            self.iam.uninstall()
            self.lambdas.runtime.restore()
            self._patches.restore()
            if _active is self:
                _active = None


def install_patches(state: EmulationState, faults: ThrottlingFaults | None = None) -> InstalledPatches:
    """Patch moto to honour ``ClientToken`` (and DynamoDB's ``ClientRequestToken``), to build DynamoDB indexes as
    AWS does, to time EC2 transitions by ``state``'s clock, to run Lambda
    functions in-process (``patches.lambdas``), to publish EC2's events and deliver EventBridge rules to Lambda
    and Step Functions (``patches.deliveries``), and to fire scheduled rules (``fire_schedules``).

    ``faults`` also throttles the clients moto's Step Functions interpreter makes (a fresh, idle set if omitted).
    Raises ``RuntimeError`` if a set is already installed.
    """
    global _active
    with _lock:
        if _active is not None:
            raise RuntimeError("local-cloud patches are already installed in this process")
        patches = InstalledPatches(state, faults)
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
