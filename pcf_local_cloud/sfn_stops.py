"""``StopExecution`` as Step Functions does it: the execution is ``ABORTED`` when the call returns, and stays so.

AWS (API Reference, StopExecution, https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html)
answers with the ``stopDate`` of the stopped execution; its task tokens are closed from then on (a later
``SendTaskSuccess`` gets ``TaskTimedOut``: "the task associated with the token has already been closed",
API_SendTaskSuccess.html). moto only marks the program stopped: the status stays ``RUNNING`` until the state in
progress returns, which for a callback task waiting for its token is never (no heartbeat) or at its deadline; a
task that fails meanwhile is still retried (with its Retry interval) and, uncaught, turns the execution ``FAILED``.

Here ``StopExecution`` also ends every wait of the execution's callback tasks, then returns once the execution
has ended (at most ``wait_s`` real seconds: a state in another kind of work, such as a Lambda invocation, is not
interrupted, as on AWS, and the call then returns with the execution still finishing). Once stopped, a state
retries nothing and an error no longer changes the outcome (``moto_private.no_retry_once_ended``,
``stopped_stays_stopped``). ``executions.stop_all`` relies on this for executions waiting for a token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from pcf_local_cloud.execution_signal import ExecutionEndSignal
from pcf_local_cloud.moto_private import end_callback_tasks, no_retry_once_ended, stopped_stays_stopped
from pcf_local_cloud.patchset import PatchSet

STOP_WAIT_SECONDS = 5.0
"""The longest ``StopExecution`` waits, in real time, for an execution whose callback waits it ended."""


class StoppedExecutions:
    """Installs the changes of the module docstring."""

    def __init__(self, ends: ExecutionEndSignal, wait_s: float = STOP_WAIT_SECONDS) -> None:
        self.ends = ends
        self.wait_s = wait_s

    def install(self, patches: PatchSet) -> None:
        no_retry_once_ended(patches)
        stopped_stays_stopped(patches)
        original = StepFunctionsParserBackend.stop_execution
        patches.replace(StepFunctionsParserBackend, "stop_execution", self._stopping(original))

    def _stopping(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def stop_execution(backend: Any, execution_arn: str) -> Any:
            execution = original(backend, execution_arn)
            if end_callback_waits(execution):
                self.ends.wait_until(lambda: execution.status != ExecutionStatus.RUNNING, self.wait_s)
            return execution

        stop_execution.__doc__ = original.__doc__
        return stop_execution


def end_callback_waits(execution: Any) -> int:
    """End the wait of every callback task of ``execution`` (moto's model); how many tasks it had."""
    worker = getattr(execution, "exec_worker", None)
    return end_callback_tasks(getattr(worker, "env", None))
