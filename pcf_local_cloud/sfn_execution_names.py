"""``StartExecution`` without a name, as Step Functions answers it: the execution is named by a fresh UUID.

AWS (API Reference, StartExecution, ``name``: "If you don't provide a name for the execution, Step Functions
automatically generates a universally unique identifier (UUID) as the execution name",
https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html). moto's interpreter backend
names it ``None``, so a second nameless start of the same machine is refused as ``ExecutionAlreadyExists`` (or,
with the same input, answered with the first execution).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from pcf_local_cloud.patchset import PatchSet


class UnnamedExecutions:
    """Installs the naming of the module docstring on moto's Step Functions backend."""

    def install(self, patches: PatchSet) -> None:
        patches.replace(StepFunctionsParserBackend, "start_execution",
                        _named(StepFunctionsParserBackend.start_execution))


def _named(original: Callable[..., Any]) -> Callable[..., Any]:
    def start_execution(backend: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original(backend, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    start_execution.__doc__ = original.__doc__
    return start_execution
