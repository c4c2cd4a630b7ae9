"""Starting a reconciliation run: one execution of the ``reconcile`` state machine, named after its cause.

The schedule's Lambda names the execution after the schedule event's id, so a redelivered event meets
``ExecutionAlreadyExists`` (reported as ``duplicate``, not an error); it starts nothing while another run is still
``RUNNING`` (``skipped``): runs never overlap. ``pcf drift`` and ``pcf reconcile`` start one the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel

NAME_PREFIX = "reconcile-"
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class Started(BaseModel):
    """What became of a start: ``started``, ``duplicate`` (that execution exists) or ``skipped`` (another runs)."""

    status: Literal["started", "duplicate", "skipped"]
    execution: str
    reason: str = ""


def execution_name(event_id: str) -> str:
    """``reconcile-<event id>``: at most 80 of ``[A-Za-z0-9_-]`` (Step Functions' execution names)."""
    return (NAME_PREFIX + _NAME_CHARS.sub("-", event_id))[:80]


def run_input(*, act: bool, cause: str) -> dict[str, Any]:
    """The execution input of a run."""
    return {"act": act, "cause": cause}


def start_run(sfn: Any, machine_arn: str, name: str, *, act: bool, cause: str,
              skip_if_running: bool = True) -> Started:
    """Start the run ``name`` of ``machine_arn`` (unless, with ``skip_if_running``, another one is running)."""
    arn = machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
    if skip_if_running:
        running = sfn.list_executions(stateMachineArn=machine_arn, statusFilter="RUNNING",
                                      maxResults=1).get("executions", [])
        if running and running[0]["executionArn"] == arn:
            return Started(status="duplicate", execution=arn, reason=f"{name} is running already")
        if running:
            return Started(status="skipped", execution=running[0]["executionArn"],
                           reason=f"{running[0]['name']} is still running: runs do not overlap")
    try:
        started = sfn.start_execution(stateMachineArn=machine_arn, name=name,
                                      input=json.dumps(run_input(act=act, cause=cause)))
    except sfn.exceptions.ExecutionAlreadyExists:
        return Started(status="duplicate", execution=arn, reason=f"{name} was started already")
    return Started(status="started", execution=str(started["executionArn"]))
