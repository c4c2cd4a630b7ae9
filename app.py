"""Lambda entry points (AWS Chalice). Thin: parse the event, call ``chalicelib``, return small JSON.

``chalicelib/`` is put on ``sys.path`` so the framework is imported as ``pcf`` here exactly as in tests
and the CLI: one module identity everywhere.
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

from pcf_control_plane.validate_step import validate_definition  # noqa: E402

app = Chalice(app_name="pcf-serverless")
logger = Logger(service="pcf-serverless")


@app.lambda_function(name="validate")
def validate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Validate a definition and return its planned levels, or the field at fault and why."""
    result = validate_definition(event)
    logger.info("validated", extra={"valid": result.valid, "pcf_id": result.pcf_id, "field": result.field})
    return result.model_dump(exclude_none=True)
