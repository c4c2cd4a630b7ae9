"""An execution's end, published as Step Functions publishes it: outcome first, status last.

moto sets a finished execution's status (``SUCCEEDED``, ``FAILED``) and then its output (or error and cause).
A reader in between, such as a parent's ``.sync`` Task polling ``DescribeExecution``, sees ``SUCCEEDED``
with no output and fails (``States.Runtime: '$.Output.pcf_id' could not be found``). On AWS the description
is consistent. The local cloud fills in the output, error and cause first, then the status, then signals the
end (``ExecutionEndSignal``: a parent's ``.sync`` Task waiting for it checks again at once).
Patched: ``BaseExecutionWorkerCommunication._reflect_execution_status``.
"""

from __future__ import annotations

import datetime
from typing import Any

from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramStopped,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

from pcf_local_cloud.execution_signal import ExecutionEndSignal
from pcf_local_cloud.patchset import PatchSet


def _reflect_execution_status(communication: Any, ends: ExecutionEndSignal) -> None:
    execution = communication.execution
    ended = execution.exec_worker.env.program_state()
    execution.stop_date = datetime.datetime.now(tz=datetime.UTC)
    if isinstance(ended, ProgramEnded):
        execution.output = execution.exec_worker.env.states.get_input()
        status = ExecutionStatus.SUCCEEDED
    elif isinstance(ended, ProgramStopped):
        status = ExecutionStatus.ABORTED
    elif isinstance(ended, ProgramError):
        execution.error = ended.error.get("error")
        execution.cause = ended.error.get("cause")
        status = ExecutionStatus.FAILED
    elif isinstance(ended, ProgramTimedOut):
        status = ExecutionStatus.TIMED_OUT
    else:
        raise RuntimeWarning(f"Execution ended with unsupported ProgramState type '{type(ended)}'.")
    execution.exec_status = status
    ends.notify()


class ExecutionEndPatch:
    """Installs the ordering and the signal (see the module docstring) on a ``PatchSet``."""

    def __init__(self, ends: ExecutionEndSignal) -> None:
        self.ends = ends

    def install(self, patches: PatchSet) -> None:
        ends = self.ends

        def reflect(communication: Any) -> None:
            _reflect_execution_status(communication, ends)

        patches.replace(BaseExecutionWorkerCommunication, "_reflect_execution_status", reflect)
