"""``LocalCloud``: an in-process AWS (moto) with the local-cloud patches, as a context manager."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import boto3
from moto import mock_aws
from moto.core.config import default_user_config
from moto.ec2.models import ec2_backends

from pcf.util.aws.clients import ClientFactory, use_client_factory
from pcf_local_cloud.clock import Clock, RealClock
from pcf_local_cloud.eventbridge_targets import Delivery
from pcf_local_cloud.executions import stop_all
from pcf_local_cloud.faults import SERVICES, ThrottlingFaults
from pcf_local_cloud.lambda_dispatch import LambdaHandler
from pcf_local_cloud.patching import InstalledPatches, install_patches
from pcf_local_cloud.sessions import fake_session
from pcf_local_cloud.state import DEFAULT_INDEX_BACKFILL_SECONDS, EmulationState

DEFAULT_ACCOUNT_ID = "123456789012"
ACCOUNT_HEADER = "x-moto-account-id"


class LocalCloud:
    """moto's ``mock_aws`` plus the local-cloud patches, with a client factory bound to it.

    Entering starts the mock (Step Functions execution switched on), installs the patches, builds
    ``client_factory`` on a session with fake credentials that ignores the shell's AWS profile, files and
    endpoint settings (``os.environ`` is not changed unless ``mock_env_credentials``) and, with
    ``make_default``, makes it the default ``ClientFactory``.
    Leaving undoes all of it in reverse; each entry gives a new, empty cloud.

    Args:
        region: the region clients use by default.
        account_id: the account every request from ``client_factory`` is made in (sent to moto in the
            ``x-moto-account-id`` header).
        pending_seconds: how long instances stay ``pending``/``stopping``/``shutting-down``; each settles (and
            announces its new state) at its deadline, see ``deadlines``.
        volume_pending_seconds: how long a new volume stays ``creating``.
        clock: measures those durations; a ``RealClock`` by default, a ``VirtualClock`` in tests.
        make_default: install ``client_factory`` as the process default while the cloud is up.
        mock_env_credentials: let moto put fake credentials in ``os.environ`` (for code that builds its
            own boto3 clients).
        moto_config: extra ``mock_aws`` configuration, merged per service over the defaults.
        epoch: the Unix time the clock's current reading stands for (the wall time by default); events are
            stamped from it (``time``) and ``cron`` schedules are computed on it.
        index_backfill_seconds: how long a global secondary index added by ``UpdateTable`` stays ``CREATING`` and
            refuses reads, on ``clock`` (``state.DEFAULT_INDEX_BACKFILL_SECONDS`` by default).
    """

    def __init__(
        self,
        region: str = "us-east-1",
        account_id: str = DEFAULT_ACCOUNT_ID,
        pending_seconds: float = 0.0,
        volume_pending_seconds: float = 0.0,
        clock: Clock | None = None,
        *,
        make_default: bool = True,
        mock_env_credentials: bool = False,
        moto_config: Mapping[str, Mapping[str, Any]] | None = None,
        epoch: float | None = None,
        index_backfill_seconds: float = DEFAULT_INDEX_BACKFILL_SECONDS,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.clock: Clock = clock if clock is not None else RealClock()
        self.state = EmulationState(self.clock, pending_seconds, volume_pending_seconds, epoch,
                                    index_backfill_seconds=index_backfill_seconds)
        self.make_default = make_default
        self._mock_env_credentials = mock_env_credentials
        self._extra_config = {key: dict(value) for key, value in (moto_config or {}).items()}
        self._stack: ExitStack | None = None
        self._patches: InstalledPatches | None = None
        self._session: boto3.Session | None = None
        self._factory: ClientFactory | None = None
        self.faults = ThrottlingFaults()

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> LocalCloud:
        """Bring the cloud up (what entering the context does)."""
        if self._stack is not None:
            raise RuntimeError("this LocalCloud is already running")
        stack = ExitStack()
        try:
            mock = mock_aws(config=self.moto_config())
            mock.start()
            stack.callback(mock.stop)
            patches = install_patches(self.state, self.faults)
            stack.callback(patches.uninstall)
            session = fake_session(self.region)
            factory = ClientFactory(session, region_name=self.region, on_client_created=self._on_client_created)
            if self.make_default:
                stack.enter_context(use_client_factory(factory))
        except BaseException:
            stack.close()
            raise
        self._stack, self._patches, self._session, self._factory = stack, patches, session, factory
        return self

    def stop(self) -> None:
        """Tear the cloud down: running executions stopped (see ``executions``), default factory restored,
        patches removed, moto stopped and emptied."""
        if self._stack is not None and self._factory is not None:
            self.faults.off()  # tearing down is not throttled
            stop_all(self._factory.client("stepfunctions"))
        stack, self._stack = self._stack, None
        self._patches = self._session = self._factory = None
        if stack is not None:
            stack.close()

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._stack is not None

    def moto_config(self) -> dict[str, Any]:
        """The configuration passed to ``mock_aws``."""
        config: dict[str, Any] = {
            "core": {**copy.deepcopy(default_user_config.get("core", {})), "mock_credentials": False},
            "stepfunctions": {"execute_state_machine": True},
        }
        if self._mock_env_credentials:
            config["core"]["mock_credentials"] = True
        for service, settings in self._extra_config.items():
            config[service] = {**config.get(service, {}), **settings}
        return config

    # -- clients ------------------------------------------------------------------------------------
    @property
    def client_factory(self) -> ClientFactory:
        """The factory whose clients talk to this cloud."""
        if self._factory is None:
            raise RuntimeError("the LocalCloud is not running")
        return self._factory

    @property
    def session(self) -> boto3.Session:
        """The boto3 session (fake credentials, this cloud's region) behind ``client_factory``."""
        if self._session is None:
            raise RuntimeError("the LocalCloud is not running")
        return self._session

    def client(self, service: str, region_name: str | None = None) -> Any:
        """A cached boto3 client for ``service`` in this cloud."""
        return self.client_factory.client(service, region_name)

    def _on_client_created(self, service: str, client: Any) -> None:
        client.meta.events.register("before-sign", self._add_account_header)
        self.faults.attach(client)

    def inject_throttling(
        self, rate: float, services: tuple[str, ...] = SERVICES, seed: int | None = 0
    ) -> ThrottlingFaults:
        """Answer ``rate`` of the requests to ``services`` (EC2 and DynamoDB by default; also ``stepfunctions``
        and ``lambda``) made through ``client_factory`` or by Step Functions' states with the service's throttling
        error, as AWS sends it; ``rate=0`` stops. Returns the counters (``requests``, ``injected`` per service).
        See ``faults``."""
        self.faults.configure(rate, services, seed)
        return self.faults

    def _add_account_header(self, request: Any, **_: Any) -> None:
        request.headers[ACCOUNT_HEADER] = self.account_id

    # -- emulation settings -------------------------------------------------------------------------
    @property
    def pending_seconds(self) -> float:
        """Duration of instance transitions; settable, applies to transitions that start afterwards."""
        return self.state.pending_seconds

    @pending_seconds.setter
    def pending_seconds(self, value: float) -> None:
        if value < 0:
            raise ValueError("pending_seconds must be non-negative")
        self.state.pending_seconds = value

    @property
    def volume_pending_seconds(self) -> float:
        """How long new volumes stay ``creating``; settable, applies to volumes created afterwards."""
        return self.state.volume_pending_seconds

    @volume_pending_seconds.setter
    def volume_pending_seconds(self, value: float) -> None:
        if value < 0:
            raise ValueError("volume_pending_seconds must be non-negative")
        self.state.volume_pending_seconds = value

    @property
    def index_backfill_seconds(self) -> float:
        """How long an index added by ``UpdateTable`` backfills; settable, applies to indexes added afterwards."""
        return self.state.index_backfill_seconds

    @index_backfill_seconds.setter
    def index_backfill_seconds(self, value: float) -> None:
        if value < 0:
            raise ValueError("index_backfill_seconds must be non-negative")
        self.state.index_backfill_seconds = value

    @property
    def patches(self) -> InstalledPatches:
        """The patches installed by this cloud (``.targets`` lists the patched moto attributes)."""
        if self._patches is None:
            raise RuntimeError("the LocalCloud is not running")
        return self._patches

    # -- Lambda handlers ----------------------------------------------------------------------------
    def register_handler(self, function_name: str, handler: LambdaHandler) -> None:
        """Run ``handler(event, context)`` in-process whenever the Lambda function ``function_name`` is invoked
        (by ``lambda.invoke`` or a Step Functions Task). Handlers are forgotten when the cloud stops."""
        self.patches.lambdas.register(function_name, handler)

    def unregister_handler(self, function_name: str) -> None:
        """Forget the handler of ``function_name``; invoking it then fails with ``Runtime.HandlerNotFound``."""
        self.patches.lambdas.unregister(function_name)

    # -- events, schedules and time -----------------------------------------------------------------
    def settle_due(self) -> int:
        """Apply now every instance transition and volume creation whose deadline has passed and that is not
        settled yet, delivering their events in this thread; the number settled. Rarely needed: each settles at
        its deadline by itself (the clock's ``advance``/``sleep`` on a ``VirtualClock``, a thread on a real one)."""
        return self.patches.settle_due()

    def fire_schedules(self) -> int:
        """Fire every scheduled EventBridge rule whose time has come on the cloud's clock (once per missed
        time, oldest first), delivering in this thread; the number of events."""
        return self.patches.fire_schedules()

    def fire_rule(self, name: str, region_name: str | None = None) -> dict[str, Any]:
        """Fire the scheduled rule ``name`` (default bus, this account) now, on demand; the event delivered."""
        return self.patches.schedules.fire_now(name, self.account_id, region_name or self.region)

    def start_ticker(self, interval_s: float = 1.0) -> None:
        """Call :meth:`fire_schedules` every ``interval_s`` real seconds on a background thread, for use with a
        real clock; stopped by :meth:`stop_ticker` or when the cloud stops."""
        self.patches.start_ticker(interval_s)

    def stop_ticker(self) -> None:
        """Stop the background ticker, if any."""
        self.patches.stop_ticker()

    @property
    def deliveries(self) -> list[Delivery]:
        """The EventBridge deliveries made so far (the latest 10 000), oldest first: one per event, rule and
        target, with ``ok`` and ``error``."""
        return self.patches.deliveries.records()

    @property
    def delivery_failures(self) -> list[Delivery]:
        """The deliveries that failed (a handler raised, a target is missing), oldest first."""
        return self.patches.deliveries.failures()

    # -- moto internals, for tests and drift --------------------------------------------------------
    def ec2_backend(self, region_name: str | None = None) -> Any:
        """moto's EC2 backend for this cloud's account in ``region_name`` (the cloud's region by default)."""
        if not self.running:
            raise RuntimeError("the LocalCloud is not running")
        return ec2_backends[self.account_id][region_name or self.region]

    def instance_backend(self, instance_id: str, region_name: str | None = None) -> Any:
        """moto's model object for ``instance_id`` (raises moto's ``InvalidInstanceID.NotFound`` error)."""
        return self.ec2_backend(region_name).get_instance(instance_id)

    def force_instance_state(self, instance_id: str, state_name: str, region_name: str | None = None) -> None:
        """Set an instance's state behind the API's back (drift, a crash), with its matching code.

        ``running``, ``stopped`` and ``terminated`` run moto's own transition (with its side effects);
        ``pending``, ``stopping`` and ``shutting-down`` stay until an API call moves the instance on.
        """
        self.patches.instances.force(self.instance_backend(instance_id, region_name), state_name)

    def hold_pending(self, instance_id: str, region_name: str | None = None) -> None:
        """Keep an instance ``pending`` until :meth:`release_pending` (a ``running`` one goes back to it)."""
        self.patches.instances.hold(self.instance_backend(instance_id, region_name))

    def release_pending(self, instance_id: str, region_name: str | None = None) -> None:
        """Let a held instance become ``running`` (at once if its pending time is already over)."""
        self.patches.instances.release(self.instance_backend(instance_id, region_name))

    def __repr__(self) -> str:
        status = "running" if self.running else "stopped"
        return f"LocalCloud(region={self.region!r}, account_id={self.account_id!r}, {status})"
