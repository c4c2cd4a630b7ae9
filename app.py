"""Lambda entry points (AWS Chalice). Thin: parse the event, call ``chalicelib``, return small JSON.

``chalicelib/`` is put on ``sys.path`` so the framework is imported as ``pcf`` here exactly as in tests
and the CLI: one module identity everywhere. Errors propagate: their class names (``LeaseHeldError``,
``UnknownFlavorError``, ``ParticleTimeoutError``…) become the Step Functions error names Retry/Catch match;
AWS throttling and 5xx errors are renamed ``ThrottlingError`` / ``TransientAWSError`` for the Retry clauses.
No handler reads a file a definition names (``no_definition_files``): templates arrive as text.

Importing this module loads only Chalice and Powertools' Logger and Metrics: each step imports the control
plane when first called, so a cold start pays for what its function uses. The Tracer is built on the first
invocation too (the X-Ray SDK alone takes ~0.25 s to import), and only where the SDK is installed: the Lambda
package leaves it out (it would bring botocore along; see docs/deploying.md for turning tracing on).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_LIB = str(Path(__file__).resolve().parent / "chalicelib")
if _LIB not in sys.path:
    sys.path.insert(0, _LIB)

from aws_lambda_powertools import Logger, Metrics  # noqa: E402
from aws_lambda_powertools.logging import correlation_paths  # noqa: E402
from aws_lambda_powertools.metrics import MetricUnit  # noqa: E402
from chalice import Chalice  # noqa: E402
from chalice.app import CloudWatchEvent  # noqa: E402

SERVICE = "pcf-serverless"
RECONCILE_RATE = os.environ.get("PCF_RECONCILE_RATE", "rate(5 minutes)")
"""How often the scheduled reconciliation runs (read when packaging: ``PCF_RECONCILE_RATE="rate(15 minutes)"``)."""
EC2_EVENTS = {"source": ["aws.ec2"], "$or": [
    {"detail-type": ["EC2 Instance State-change Notification"],
     "detail": {"state": ["running", "stopped", "terminated"]}},
    {"detail-type": ["EBS Volume Notification"]},
]}
"""The flavors' events (their resource tables' ``events``, held equal by ``tests/core/test_resource_tables.py``): an
instance's stable states only (a transition's start is known to whoever caused it: no invocation for it)."""
app = Chalice(app_name=SERVICE)
logger = Logger(service=SERVICE)
NAMESPACE = "PCFServerless"
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

Step = Callable[[dict[str, Any]], dict[str, Any]]
Handler = Callable[[Any, Any], dict[str, Any]]


@functools.cache
def tracer() -> Any:
    """Powertools' Tracer, built on first use; ``None`` where the X-Ray SDK is not installed."""
    if importlib.util.find_spec("aws_xray_sdk") is None:
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


def _traced(handler: Handler) -> Handler:
    """``handler`` inside an X-Ray subsegment (Powertools' ``capture_lambda_handler``) when tracing is on."""

    @functools.wraps(handler)
    def call(event: Any, context: Any) -> dict[str, Any]:
        active = tracer()
        if active is None:
            return handler(event, context)
        return active.capture_lambda_handler(handler, capture_response=False)(event, context)

    return call


def observed(correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """Powertools' own decorators around a handler: the Lambda context and the correlation id (read from the
    event at ``correlation_id_path``, or set by the handler) on every log line, from a clean state; the
    invocation's metrics flushed as one EMF document at its end (``POWERTOOLS_METRICS_DISABLED`` turns them off);
    an X-Ray subsegment where tracing is on."""

    def decorate(handler: Handler) -> Handler:
        logged = logger.inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)
        return logged(metrics.log_metrics(_traced(handler)))

    return decorate


@contextmanager
def no_definition_files() -> Iterator[None]:
    """This invocation reads no file a definition names (a definition is data: the CLI sends a template's text
    as ``custom_config.userdata_template``); such a name alone is an ``InvalidConfigException``. Scoped to the
    invocation's context, not the process, so the local cloud's in-process Lambdas refuse as AWS's do while
    library code beside them keeps its files."""
    from pcf.util.definition_files import file_reads_disabled

    with file_reads_disabled():
        yield


def _correlation_of(event: dict[str, Any]) -> str | None:
    """The execution's name (the last part of its ARN): the correlation id of a step's log lines."""
    return str(event.get("execution", "")).rsplit(":", 1)[-1] or None


def step(name: str) -> Callable[[Step], Step]:
    """Register ``function(event)`` as the Lambda ``name``: correlated logs, EMF metrics, tracing, and
    retryable AWS errors renamed for the workflow's Retry clauses."""

    def register(function: Step) -> Step:
        @functools.wraps(function)
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            logger.set_correlation_id(_correlation_of(event))
            logger.append_keys(pcf_id=event.get("pcf_id"))
            metrics.add_metadata("step", name)
            with no_definition_files():
                return _run(name, function, event)

        return app.lambda_function(name=name)(observed()(handler))

    return register


def _run(name: str, function: Step, event: dict[str, Any]) -> dict[str, Any]:
    """One step invocation: its duration, and a failure counted, logged and renamed when AWS throttled or failed."""
    started = time.perf_counter()
    try:
        return function(event)
    except Exception as error:
        from pcf_control_plane.aws_errors import retryable_error

        metrics.add_metric(name="StepErrors", unit=MetricUnit.Count, value=1)
        retryable = retryable_error(error)
        logger.warning("step failed", extra={"step": name, "error": type(retryable or error).__name__,
                                             "reason": str(error)})
        if retryable is not None:
            raise retryable from error
        raise
    finally:
        metrics.add_metric(name="StepDuration", unit=MetricUnit.Milliseconds,
                           value=(time.perf_counter() - started) * 1000)


@step("validate")
def validate(event: dict[str, Any]) -> dict[str, Any]:
    """Validate a definition and return its planned levels, or the field at fault and why."""
    from pcf_control_plane.validate_step import validate_definition

    result = validate_definition(event)
    logger.info("validated", extra={"valid": result.valid, "pcf_id": result.pcf_id, "field": result.field})
    return result.model_dump(exclude_none=True)


@step("plan")
def plan(event: dict[str, Any]) -> dict[str, Any]:
    """Check the execution input and plan it into pages of the run partition; return the levels (page numbers,
    never particle ids) and the settings. The state machine sends ``{"request": <execution input>, "execution":
    <its ARN>}``."""
    from pcf_control_plane.messages import PlanInput, parse
    from pcf_control_plane.run_steps import plan_run
    from pcf_control_plane.wiring import control_plane

    payload = {**event["request"], "execution": event.get("execution", "manual")} if "request" in event else event
    return plan_run(control_plane(), parse(PlanInput, payload)).model_dump()


@step("plan_page")
def plan_page(event: dict[str, Any]) -> dict[str, Any]:
    """Store one page's desired specs and their generations."""
    from pcf_control_plane.messages import PageStep, parse
    from pcf_control_plane.run_steps import plan_page as store_page
    from pcf_control_plane.wiring import control_plane

    return store_page(control_plane(), parse(PageStep, event)).model_dump()


@step("load_page")
def load_page(event: dict[str, Any]) -> dict[str, Any]:
    """One page's particles, with the generation the run planned and their parents."""
    from pcf_control_plane.messages import PageStep, parse
    from pcf_control_plane.run_steps import load_page as read_page
    from pcf_control_plane.wiring import control_plane

    return read_page(control_plane(), parse(PageStep, event)).model_dump()


@step("release_page")
def release_page(event: dict[str, Any]) -> dict[str, Any]:
    """Give back the leases a stopped run still holds on one page's particles (the CLI calls it on Ctrl-C)."""
    from pcf_control_plane.messages import PageStep, parse
    from pcf_control_plane.run_steps import release_page as release
    from pcf_control_plane.wiring import control_plane

    return release(control_plane(), parse(PageStep, event)).model_dump()


@step("converge")
def converge(event: dict[str, Any]) -> dict[str, Any]:
    """Visit one particle: observe it, act once if it needs it, record the visit; ``done`` or ``later``."""
    from pcf_control_plane.converge import converge as visit
    from pcf_control_plane.messages import ConvergeInput, parse
    from pcf_control_plane.wiring import control_plane

    result = visit(control_plane(), parse(ConvergeInput, event))
    if result.acted:
        metrics.add_metric(name="Transitions", unit=MetricUnit.Count, value=1)
        logger.info("transition", extra={"action": result.acted, "generation": result.generation,
                                         "state": result.state})
    return result.model_dump()


@step("particle_failed")
def particle_failed(event: dict[str, Any]) -> dict[str, Any]:
    """Record why a particle failed (in the run partition, for its level's check) and give its lease back; return
    its error name and message, small."""
    from pcf_control_plane.messages import ParticleFailure, parse
    from pcf_control_plane.wiring import control_plane

    return control_plane().particle_failed(parse(ParticleFailure, event)).model_dump(exclude_none=True)


@step("check_level")
def check_level(event: dict[str, Any]) -> dict[str, Any]:
    """Pass a level none of whose particles failed; otherwise raise the first failed particle's error."""
    from pcf_control_plane.messages import LevelCheck, parse
    from pcf_control_plane.run_steps import check_level as check
    from pcf_control_plane.wiring import control_plane

    return check(control_plane(), parse(LevelCheck, event)).model_dump()


@step("rollback")
def rollback(event: dict[str, Any]) -> dict[str, Any]:
    """Begin rolling back: set the run rolling back, return the rollback's levels (the run's, reversed) and pages."""
    from pcf_control_plane.messages import RollbackInput, parse
    from pcf_control_plane.rollback import begin_rollback
    from pcf_control_plane.wiring import control_plane

    return begin_rollback(control_plane().store, parse(RollbackInput, event)).model_dump()


@step("rollback_page")
def rollback_page(event: dict[str, Any]) -> dict[str, Any]:
    """Roll back one page of the run: mark what it left, set what it created to be terminated, write the rollback's
    page of those; return how many it terminates."""
    from pcf_control_plane.messages import RollbackPageStep, parse
    from pcf_control_plane.rollback import rollback_page as roll_back
    from pcf_control_plane.wiring import control_plane

    return roll_back(control_plane().store, parse(RollbackPageStep, event)).model_dump()


@step("summarize")
def summarize(event: dict[str, Any]) -> dict[str, Any]:
    """The closing summary, a page of the run at a time: how many particles ended in each state so far."""
    from pcf_control_plane.messages import SummaryStep, parse
    from pcf_control_plane.run_steps import summarize_page
    from pcf_control_plane.wiring import control_plane

    return summarize_page(control_plane(), parse(SummaryStep, event)).model_dump()


class RawEvent(CloudWatchEvent):
    """An EventBridge event as delivered, unread. Chalice's ``CloudWatchEvent`` reads every envelope field with
    ``[]``, so a malformed event would fail the function with a ``KeyError`` before its handler runs; these
    handlers parse the event themselves (``pcf_control_plane.aws_events``) and refuse what is malformed."""

    def _extract_attributes(self, event_dict: Any) -> None:
        """Nothing is read here: ``to_dict()`` is the event."""


def raw_events(handler: Any) -> Any:
    """Give an event handler Chalice registered the event unread (``RawEvent``)."""
    handler.event_class = RawEvent
    return handler


def _function_arn(context: Any) -> str:
    """The invoked function's ARN (chalice types the Lambda context loosely)."""
    return str(getattr(context, "invoked_function_arn", ""))


def _event_id(raw: Any) -> str | None:
    found = raw.get("id") if isinstance(raw, dict) else None
    return str(found) if found else None


@raw_events
@app.on_cw_event(EC2_EVENTS, name="on_ec2_event")
def on_ec2_event(event: CloudWatchEvent) -> dict[str, Any]:
    """An EC2 instance state change or EBS volume notification: record it; heal a drifted particle. A malformed,
    forged or unknown event is refused (counted as ``EventsRefused``, logged with the reason), never raised."""
    return _on_ec2_event(event.to_dict(), event.context)


@observed(correlation_paths.EVENT_BRIDGE)
def _on_ec2_event(raw: Any, context: Any) -> dict[str, Any]:
    from pcf_control_plane.wiring import event_sync

    with no_definition_files():
        result = event_sync(_function_arn(context)).handle(raw)
    _count(f"Events{result.status.capitalize()}")
    if result.heal is not None and result.heal.status == "started":
        _count("HealsStarted")
    if result.resumed is not None:
        _count("WaitsResumed")
    log = logger.warning if result.status == "refused" else logger.info
    log("event", extra={"status": result.status, "reason": result.reason, "pcf_id": result.pcf_id,
                        "state": result.state, "heal": result.heal.model_dump() if result.heal else None,
                        "resumed": result.resumed})
    return result.model_dump(exclude_none=True)


def _count(name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@raw_events
@app.schedule(RECONCILE_RATE, name="reconcile")
def reconcile(event: CloudWatchEvent) -> dict[str, Any]:
    """Start a run of the ``reconcile`` state machine, named after the schedule event (a redelivered event starts
    nothing: ``duplicate``), unless a run is still going (``skipped``). ``{"detail": {"act": false}}``: a dry run."""
    raw = event.to_dict()
    return _reconcile(raw if isinstance(raw, dict) else {}, event.context)


@observed()
def _reconcile(raw: dict[str, Any], context: Any) -> dict[str, Any]:
    from pcf_control_plane.reconcile_start import execution_name, start_run
    from pcf_control_plane.settings import Settings
    from pcf_control_plane.wiring import control_plane

    run = _event_id(raw) or "manual"
    logger.set_correlation_id(run)
    detail = raw.get("detail")
    act = not (isinstance(detail, dict) and detail.get("act") is False)
    machine = Settings.from_env().reconcile_machine_arn(_function_arn(context))
    started = start_run(control_plane().clients.client("stepfunctions"), machine, execution_name(run), act=act,
                        cause=f"reconcile:{run}")
    _count(f"Reconcile{started.status.capitalize()}")
    logger.info("reconcile", extra={"status": started.status, "execution": started.execution,
                                    "reason": started.reason, "act": act})
    return started.model_dump()


@step("reconcile_begin")
def reconcile_begin(event: dict[str, Any]) -> dict[str, Any]:
    """Begin a reconciliation run: the deployment's listing cut into pages (ranges of keys, small)."""
    from pcf_control_plane.messages import parse
    from pcf_control_plane.reconcile_items import RunRequest
    from pcf_control_plane.wiring import reconciler

    return reconciler().begin(parse(RunRequest, event)).model_dump()


@step("reconcile_page")
def reconcile_page(event: dict[str, Any]) -> dict[str, Any]:
    """Reconcile one page: its resources described in batches, observations and drifts recorded; its figures."""
    from pcf_control_plane.messages import parse
    from pcf_control_plane.reconcile_items import PageRequest
    from pcf_control_plane.wiring import reconciler

    return reconciler().page(parse(PageRequest, event)).model_dump()


@step("reconcile_end")
def reconcile_end(event: dict[str, Any]) -> dict[str, Any]:
    """Hand a batch of the run's drifts to healing; at the last, the run's totals (``cursor`` null)."""
    from pcf_control_plane.messages import parse
    from pcf_control_plane.reconcile_items import EndRequest
    from pcf_control_plane.wiring import healer_beside, reconciler

    request = parse(EndRequest, event)
    ended = reconciler(healer_beside(request.machine) if request.machine else None).end(request.execution,
                                                                                      request.cursor)
    if ended.summary is not None:
        _count("ReconciledParticles", ended.summary.particles)
        _count("DriftedParticles", ended.summary.drifted)
        logger.info("reconciled", extra=ended.summary.model_dump())
    return ended.model_dump()
