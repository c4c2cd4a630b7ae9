"""An execution's end, published as Step Functions publishes it: outcome first, status last.

moto sets a finished execution's status (``SUCCEEDED``, ``FAILED``) and then its output (or error and cause).
A reader in between, such as a parent's ``.sync`` Task polling ``DescribeExecution``, sees ``SUCCEEDED``
with no output and fails (``States.Runtime: '$.Output.pcf_id' could not be found``). On AWS the description
is consistent. The local cloud fills in the output, error and cause first, then lets moto set the status, then
signals the end (``ExecutionEndSignal``: a parent's ``.sync`` Task waiting for it checks again at once).
The hook is ``moto_private.on_execution_end``.
"""

from __future__ import annotations

from pcf_local_cloud.execution_signal import ExecutionEndSignal
from pcf_local_cloud.moto_private import on_execution_end
from pcf_local_cloud.patchset import PatchSet


class ExecutionEndPatch:
    """Installs the ordering and the signal (see the module docstring) on a ``PatchSet``."""

    def __init__(self, ends: ExecutionEndSignal) -> None:
        self.ends = ends

    def install(self, patches: PatchSet) -> None:
        on_execution_end(patches, self.ends.notify)
