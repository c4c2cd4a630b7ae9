"""Resuming an execution that waits for a particle's event: ``SendTaskSuccess`` with the token its ``Await`` task
wrote on the particle's observation item.

A token whose task has already ended (resumed by an earlier delivery of the same event, timed out, or its execution
stopped) is answered ``TaskTimedOut``, ``InvalidToken`` or ``TaskDoesNotExist`` (Step Functions API Reference,
SendTaskSuccess): the waiter has moved on, so that is reported, not raised. Any other refusal (a throttle that
botocore's retries did not outlast) is raised before anything is recorded: the event's Lambda invocation is
retried, finds the wait still armed and resumes again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

from botocore.exceptions import ClientError

ResumeOutcome = Literal["resumed", "closed"]
Resume = Callable[[str, Mapping[str, Any]], ResumeOutcome]
"""``resume(token, output)``: resume the task waiting on ``token`` with ``output``."""

CLOSED_TOKEN_CODES = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


def step_functions_resumer(sfn: Any) -> Resume:
    """``SendTaskSuccess`` through the Step Functions client ``sfn``."""

    def resume(token: str, output: Mapping[str, Any]) -> ResumeOutcome:
        try:
            sfn.send_task_success(taskToken=token, output=json.dumps(dict(output)))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in CLOSED_TOKEN_CODES:
                return "closed"
            raise
        return "resumed"

    return resume
