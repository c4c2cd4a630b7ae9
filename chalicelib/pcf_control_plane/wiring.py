"""The one ``ControlPlane`` of a Lambda process, built on first use (never at import)."""

from __future__ import annotations

import threading

from pcf.util.aws.clients import get_default_factory
from pcf_control_plane.event_sync import EventSync
from pcf_control_plane.healing import Healer, step_functions_starter
from pcf_control_plane.reconcile import Reconciler
from pcf_control_plane.resume import step_functions_resumer
from pcf_control_plane.settings import Settings
from pcf_control_plane.steps import ControlPlane
from pcf_control_plane.store import DynamoDBStateStore

_lock = threading.Lock()
_control_plane: ControlPlane | None = None


def control_plane() -> ControlPlane:
    """The process's control plane: settings from the environment, the default client factory."""
    global _control_plane
    with _lock:
        if _control_plane is None:
            settings = Settings.from_env()
            clients = get_default_factory()
            store = DynamoDBStateStore(clients.client("dynamodb"), settings.table_name)
            _control_plane = ControlPlane(store, clients, deployment=settings.deployment)
        return _control_plane


def healer(function_arn: str) -> Healer:
    """Starts healing executions of the ``apply`` machine in the region and account of ``function_arn``."""
    return _healer(Settings.from_env().state_machine_arn(function_arn))


def healer_beside(machine_arn: str) -> Healer:
    """Starts healing executions of the ``apply`` machine in the region and account of the machine ``machine_arn``."""
    return _healer(Settings.from_env().apply_arn_beside(machine_arn))


def _healer(apply_arn: str) -> Healer:
    settings = Settings.from_env()
    plane = control_plane()
    start = step_functions_starter(plane.clients.client("stepfunctions"), apply_arn)
    return Healer(plane.store, start, wait_seconds=settings.heal_wait_seconds, max_polls=settings.heal_max_polls)


def event_sync(function_arn: str) -> EventSync:
    """Event handling for the deployment, accepting events of ``function_arn``'s account only."""
    account = function_arn.split(":")[4]
    plane = control_plane()
    return EventSync(plane.store, healer(function_arn), deployment=plane.deployment, account=account,
                     resume=step_functions_resumer(plane.clients.client("stepfunctions")))


def reset() -> None:
    """Forget the built control plane (tests, or a changed environment)."""
    global _control_plane
    with _lock:
        _control_plane = None


def reconciler(healing: Healer | None = None) -> Reconciler:
    """Reconciliation of the deployment; ``healing`` starts its heals (``None``: a step that heals nothing)."""
    plane = control_plane()
    return Reconciler(plane.store, plane.clients.client("ec2"), healing, deployment=plane.deployment,
                      clock=plane.clock)
