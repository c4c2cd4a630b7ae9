"""How a level, and a whole execution, ended: the child executions' failures read back into named errors.

A particle runs in a child execution of the ``particle`` state machine. When that fails, the parent's Task
fails with ``States.TaskFailed`` and a cause holding the child's ``DescribeExecution`` output as JSON (its
keys capitalised on AWS, lower-case in moto: both are read). The particle's own error name and message are
taken from there, so the execution fails with ``ParticleTimeoutError`` rather than ``States.TaskFailed``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from pcf.core.pcf_exceptions import PCFError
from pcf_control_plane.messages import LevelOutput, LevelResults, ParticleResult

MAX_CAUSE = 2000
"""Characters of a failure's cause recorded in the particle's history (and shown by the CLI's follower, which reads
the ``RecordFailure`` Lambda's own output). The level's Map results carry only ``pcf_id`` and ``error`` (the
state's ``ResultSelector``): a level that fails entirely is no larger than one that succeeds, far inside Step
Functions' 256 KiB state limit, so the failure is caught, rolled back and summarized."""
MAX_ERROR_NAME = 128
MAX_CAUSE_IN_MESSAGE = 240
"""Characters of each of the first failures' causes in the level's error message (which the workflow state
carries through the rollback: bounded whatever the level's size, about 1.5 KB)."""
NAMED_FAILURES = 5
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,127}$")


def read_failure(failure: dict[str, Any]) -> tuple[str, str]:
    """``(error name, message)`` of a caught failure, unwrapping a failed child execution."""
    error = str(failure.get("Error") or failure.get("error") or "States.TaskFailed")
    cause = failure.get("Cause") or failure.get("cause") or ""
    child = _json(cause)
    if isinstance(child, dict) and (child.get("Status") or child.get("status")):
        error = str(child.get("Error") or child.get("error") or error)
        cause = child.get("Cause") or child.get("cause") or ""
    return error, lambda_message(cause)


def lambda_message(cause: Any) -> str:
    """The ``errorMessage`` of a Lambda error payload, else the cause as text."""
    parsed = _json(cause)
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])
    return str(cause)


def lambda_error_text(payload: str | bytes) -> str:
    """``errorType: errorMessage`` of a Lambda function's error payload, else the payload as text."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    error = _json(text)
    if isinstance(error, dict) and "errorType" in error and "errorMessage" in error:
        return f"{error['errorType']}: {error['errorMessage']}"
    return text


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def failure_result(pcf_id: str, failure: dict[str, Any]) -> ParticleResult:
    """The particle's error name and cause, each bounded."""
    error, message = read_failure(failure)
    return ParticleResult(pcf_id=pcf_id, error=error[:MAX_ERROR_NAME], cause=message[:MAX_CAUSE])


class LevelFailed(PCFError):
    """Raised under the failed particle's own error name (see :func:`named_error`)."""


def named_error(name: str, message: str) -> Exception:
    """An exception whose class is called ``name``, so Step Functions reports the particle's own error."""
    safe = name.replace(".", "_") if _NAME.match(name) else "ApplyFailed"
    return type(safe, (LevelFailed,), {"__module__": __name__})(message)


def check_level(level: LevelResults,
                causes: Callable[[list[str]], Mapping[str, str]] = lambda pcf_ids: {}) -> LevelOutput:
    """Pass when every particle converged, else raise the first failure under its own name, naming the first
    :data:`NAMED_FAILURES` with their causes (``causes`` reads them from where they were recorded, since the
    results carry none)."""
    failed = [result for result in level.results if result.error]
    if failed:
        named = failed[:NAMED_FAILURES]
        known = causes([r.pcf_id for r in named if not r.cause])
        raise level_failed([(r.pcf_id, r.error or "", r.cause or known.get(r.pcf_id, "")) for r in named],
                           len(failed), len(level.results))
    return LevelOutput(particles=len(level.results), converged=len(level.results))


def level_failed(first: list[tuple[str, str, str]], failed: int, particles: int) -> Exception:
    """The error a level with ``failed`` failed particles of ``particles`` ends in: the first failure's own name,
    the first :data:`NAMED_FAILURES` (``(pcf_id, error, cause)``) named with their causes."""
    detail = "; ".join(_failure_text(pcf_id, error, cause) for pcf_id, error, cause in first[:NAMED_FAILURES])
    more = f"; and {failed - NAMED_FAILURES} more" if failed > NAMED_FAILURES else ""
    return named_error(first[0][1] or "ApplyFailed", f"{failed} of {particles} particle(s) failed: {detail}{more}")


def _failure_text(pcf_id: str, error: str, cause: str) -> str:
    cause = cause if len(cause) <= MAX_CAUSE_IN_MESSAGE else cause[: MAX_CAUSE_IN_MESSAGE - 1] + "…"
    return f"{pcf_id}: {error}: {cause}" if cause else f"{pcf_id}: {error}"
