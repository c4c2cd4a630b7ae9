"""Lambda entry points (AWS Chalice). Thin: parse the event, call ``chalicelib``, return small JSON.

``chalicelib/`` is put on ``sys.path`` so the framework is imported as ``pcf`` here exactly as in tests
and the CLI: one module identity everywhere. Errors propagate: their class names (``LeaseHeldError``,
``UnknownFlavorError``, ``ParticleTimeoutError``…) become the Step Functions error names Retry/Catch match.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_LIB = str(Path(__file__).resolve().parent / "chalicelib")
if _LIB not in sys.path:
    sys.path.insert(0, _LIB)

from aws_lambda_powertools import Logger  # noqa: E402
from chalice import Chalice  # noqa: E402

from pcf_control_plane.messages import (  # noqa: E402
    LeaseInput,
    ParticleStep,
    PlanInput,
    TransitionInput,
)
from pcf_control_plane.validate_step import validate_definition  # noqa: E402
from pcf_control_plane.wiring import control_plane  # noqa: E402

app = Chalice(app_name="pcf-serverless")
logger = Logger(service="pcf-serverless")


def _correlate(event: dict[str, Any]) -> None:
    """The execution (name or ARN) is the correlation id of every log line of this invocation."""
    execution = str(event.get("execution", ""))
    logger.set_correlation_id(execution.rsplit(":", 1)[-1] or None)
    logger.append_keys(pcf_id=event.get("pcf_id"))


@app.lambda_function(name="validate")
def validate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Validate a definition and return its planned levels, or the field at fault and why."""
    result = validate_definition(event)
    logger.info("validated", extra={"valid": result.valid, "pcf_id": result.pcf_id, "field": result.field})
    return result.model_dump(exclude_none=True)


@app.lambda_function(name="plan")
def plan(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Validate, store every particle's desired spec, return the levels of pcf_ids."""
    _correlate(event)
    return control_plane().plan(PlanInput.model_validate(event)).model_dump()


@app.lambda_function(name="sync_state")
def sync_state(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Observe one particle, store the observation, return its state and next action."""
    _correlate(event)
    return control_plane().sync_state(ParticleStep.model_validate(event)).model_dump()


def _transition(action: str, event: dict[str, Any]) -> dict[str, Any]:
    _correlate(event)
    request = TransitionInput.model_validate({**event, "action": action})
    result = control_plane().transition(request)
    logger.info("transition", extra={"action": action, "generation": result.generation})
    return result.model_dump()


@app.lambda_function(name="start")
def start(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Start (or create) one particle."""
    return _transition("start", event)


@app.lambda_function(name="stop")
def stop(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Stop one particle."""
    return _transition("stop", event)


@app.lambda_function(name="terminate")
def terminate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Terminate one particle."""
    return _transition("terminate", event)


@app.lambda_function(name="update")
def update(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Update one running particle to its desired definition."""
    return _transition("update", event)


@app.lambda_function(name="acquire_lease")
def acquire_lease(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Take the particle's lease for this execution (``LeaseHeldError`` when another holds it)."""
    _correlate(event)
    return control_plane().acquire_lease(LeaseInput.model_validate(event)).model_dump()


@app.lambda_function(name="release_lease")
def release_lease(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Give the particle's lease back."""
    _correlate(event)
    return control_plane().release_lease(ParticleStep.model_validate(event)).model_dump()
