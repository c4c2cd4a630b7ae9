"""How a level, and a whole execution, ended: the child executions' failures read back into named errors.

A particle runs in a child execution of the ``particle`` state machine. When that fails, the parent's Task
fails with ``States.TaskFailed`` and a cause holding the child's ``DescribeExecution`` output as JSON (its
keys capitalised on AWS, lower-case in moto: both are read). The particle's own error name and message are
taken from there, so the execution fails with ``ParticleTimeoutError`` rather than ``States.TaskFailed``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pcf.core.pcf_exceptions import PCFError
from pcf_control_plane.messages import LevelOutput, LevelResults, ParticleResult

MAX_CAUSE = 1000
"""Characters of a failure's cause kept in a level's results: a failed level of 1,000 particles stays
well inside Step Functions' 256 KB payload limit."""
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


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def failure_result(pcf_id: str, failure: dict[str, Any]) -> ParticleResult:
    error, message = read_failure(failure)
    return ParticleResult(pcf_id=pcf_id, error=error, cause=message[:MAX_CAUSE])


class LevelFailed(PCFError):
    """Raised under the failed particle's own error name (see :func:`named_error`)."""


def named_error(name: str, message: str) -> Exception:
    """An exception whose class is called ``name``, so Step Functions reports the particle's own error."""
    safe = name.replace(".", "_") if _NAME.match(name) else "ApplyFailed"
    return type(safe, (LevelFailed,), {"__module__": __name__})(message)


def check_level(level: LevelResults) -> LevelOutput:
    """Pass when every particle converged, else raise the first failure under its own name, naming all."""
    failed = [result for result in level.results if result.error]
    if failed:
        first = failed[0]
        detail = "; ".join(f"{r.pcf_id}: {r.error}: {r.cause}" for r in failed[:10])
        more = f"; and {len(failed) - 10} more" if len(failed) > 10 else ""
        raise named_error(first.error or "ApplyFailed",
                          f"{len(failed)} of {len(level.results)} particle(s) failed: {detail}{more}")
    return LevelOutput(particles=len(level.results), converged=len(level.results))
