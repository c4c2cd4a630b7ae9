"""``SendTaskSuccess``/``SendTaskFailure``/``SendTaskHeartbeat`` with the token of a task that is closed.

AWS (Step Functions API Reference, ``SendTaskSuccess``, ``SendTaskFailure``, ``SendTaskHeartbeat``, "Errors",
https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html) answers HTTP 400
``TaskTimedOut`` when "the task token has either expired or the task associated with the token has already been
closed", ``InvalidToken`` when "the provided token is not valid", and keeps ``TaskDoesNotExist`` ("the activity
does not exist") for activities. moto answers ``InvalidToken`` once the token's execution has ended (success,
heartbeat) and accepts, silently, an answer to a task that has already finished in a running execution (success,
failure, heartbeat) or to one in an ended execution (failure).

Here a token that belongs to a task of any execution is closed when the task has ended (answered, timed out,
failed, stopped: ``moto_private.callback_closes_on_end``), has already been answered, or its execution is no longer
running; such a token gets ``TaskTimedOut``. A token of a task still waiting goes to moto; a token no execution
knows stays ``InvalidToken``.

Patched (public backend methods): ``StepFunctionsParserBackend.send_task_success``, ``send_task_failure``,
``send_task_heartbeat``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.stepfunctions.parser.api import ExecutionStatus, TaskTimedOut
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from pcf_local_cloud.moto_private import callback_closed, callback_endpoint
from pcf_local_cloud.patchset import PatchSet

OPERATIONS = ("send_task_success", "send_task_failure", "send_task_heartbeat")
CLOSED_MESSAGE = "The task token has either expired or the task associated with the token has already been closed."


def token_is_closed(backend: Any, token: str) -> bool:
    """Whether ``token`` belongs to a task of one of ``backend``'s executions that is closed (see the docstring)."""
    for machine in list(backend.state_machines):
        for execution in list(getattr(machine, "executions", [])):
            endpoint = callback_endpoint(execution, token)
            if endpoint is not None:
                return execution.status != ExecutionStatus.RUNNING or callback_closed(endpoint)
    return False


class ClosedTaskTokens:
    """Installs the answers of the module docstring."""

    def install(self, patches: PatchSet) -> None:
        for name in OPERATIONS:
            patches.replace(StepFunctionsParserBackend, name, _refusing_closed(vars(StepFunctionsParserBackend)[name]))


def _refusing_closed(original: Callable[..., Any]) -> Callable[..., Any]:
    def operation(backend: Any, task_token: str, *args: Any, **kwargs: Any) -> Any:
        if token_is_closed(backend, task_token):
            raise TaskTimedOut(CLOSED_MESSAGE, "TaskTimedOut", 400)  # moto's class alone leaves the code blank
        return original(backend, task_token, *args, **kwargs)

    operation.__name__ = original.__name__
    operation.__doc__ = original.__doc__
    return operation
