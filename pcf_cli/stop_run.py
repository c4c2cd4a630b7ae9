"""Ctrl-C during an ``apply`` execution: stop it and every ``page`` execution it started (found in its history
and among the ``page`` machine's running executions naming it), wait for them (at most ``SETTLE_SECONDS``), then
release the leases the particles of those that ended without succeeding still hold: ``docs/cli.md``, "Ctrl-C"."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pcf_cli.follow import ExecutionFollower, json_object

STOP_ERROR = "pcf.Interrupted"
STOP_CAUSE = "interrupted from the pcf command line"
SETTLE_SECONDS = 30.0
SETTLE_POLL_SECONDS = 0.05
LOAD_STATE, LOAD_FUNCTION, RELEASE_FUNCTION = "LoadPage", "load_page", "release_page"
"""The page machine's state whose function names the stage's functions (``<app>-<stage>-load_page``), and the
function that gives back a page's leases (same prefix)."""


@dataclass
class StopReport:
    """What stopping a run did: the execution's name, page executions stopped, leases released, problems."""

    name: str
    stopped: bool = False
    children: int = 0
    released: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line, e.g. ``stopped execution pcf-run-x and 3 page executions, released 30 leases``."""
        head = f"stopped execution {self.name}" if self.stopped else f"execution {self.name} was not running"
        text = f"{head} and {self.children} page execution{'' if self.children == 1 else 's'}"
        if self.released:
            text += f", released {self.released} lease{'' if self.released == 1 else 's'}"
        if self.problems:
            text += f" ({'; '.join(self.problems)})"
        return text


def stop_run(sfn: Any, follower: ExecutionFollower, *, lambda_client: Any = None,
             sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
             timeout_s: float = SETTLE_SECONDS) -> StopReport:
    """Stop the execution ``follower`` follows and its page executions, wait for them, release their particles'
    leases. Never raises: what failed is in the report."""
    parent = follower.execution_arn
    report = StopReport(parent.rsplit(":", 1)[-1])
    try:
        report.stopped = _stop(sfn, parent, report)
    except Exception as error:
        report.problems.append(f"{type(error).__name__}: {error}")
        return report
    children: dict[str, dict[str, Any]] = {}  # child ARN -> its description
    swept: set[str] = set()
    deadline = clock() + timeout_s
    while True:
        try:
            new = set(follower.discover_children()) - children.keys()
            while new:  # a child just found names its machine: sweep it for the ones the history misses
                for arn in new:
                    children[arn] = sfn.describe_execution(executionArn=arn)
                    if children[arn]["status"] == "RUNNING" and _stop(sfn, arn, report):
                        report.children += 1
                new = _swept_children(sfn, parent, children, swept) - children.keys()
            running = [arn for arn in [parent, *children]
                       if sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"]
        except Exception as error:  # the interrupt is reported anyway; say what failed
            report.problems.append(f"{type(error).__name__}: {error}")
            return report
        if not running:
            break
        if clock() >= deadline:
            report.problems.append(f"{len(running)} still running after {timeout_s:g}s")
            break
        sleep(SETTLE_POLL_SECONDS)
    _release(sfn, lambda_client, parent, children, report)
    return report


def _stop(sfn: Any, arn: str, report: StopReport) -> bool:
    """Stop ``arn``; whether it was stopped (one that had ended meanwhile is no problem)."""
    try:
        sfn.stop_execution(executionArn=arn, error=STOP_ERROR, cause=STOP_CAUSE)
    except Exception as error:
        if sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            report.problems.append(f"{arn.rsplit(':', 1)[-1]}: {type(error).__name__}: {error}")
        return False
    return True


def _swept_children(sfn: Any, parent: str, children: dict[str, dict[str, Any]], swept: set[str]) -> set[str]:
    """The running executions of the ``page`` machine (known from a child) started for ``parent``."""
    machines = {child["stateMachineArn"] for child in children.values()}
    found: set[str] = set()
    for machine in machines:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine, statusFilter="RUNNING"):
            for execution in page["executions"]:
                arn = execution["executionArn"]
                if arn in children or arn in swept:
                    continue
                swept.add(arn)
                described = sfn.describe_execution(executionArn=arn)
                if _input(described).get("execution") == parent:
                    found.add(arn)
    return found


def _release(sfn: Any, lambda_client: Any, parent: str, children: dict[str, dict[str, Any]],
             report: StopReport) -> None:
    """Invoke the stage's ``release_page`` function for each page that ended without succeeding. A page still
    running keeps its leases: it may still act on its resources, and the leases keep another run away."""
    holders = []
    for described in children.values():
        if _input(described).get("execution") != parent:
            continue
        status = sfn.describe_execution(executionArn=described["executionArn"])["status"]
        if status == "RUNNING":
            report.problems.append(f"{_page_name(described)}: leases kept: still running")
        elif status != "SUCCEEDED":
            holders.append(described)
    if not holders:
        return
    if lambda_client is None:
        report.problems.append("leases not released: no Lambda client")
        return
    functions: dict[str, str] = {}
    for described in holders:
        page = {key: _input(described).get(key) for key in ("run", "execution", "phase", "level", "page")}
        try:
            machine = described["stateMachineArn"]
            if machine not in functions:
                definition = json.loads(sfn.describe_state_machine(stateMachineArn=machine)["definition"])
                load = str(definition["States"][LOAD_STATE]["Resource"])
                functions[machine] = load[: load.rindex(LOAD_FUNCTION)] + RELEASE_FUNCTION
            response = lambda_client.invoke(FunctionName=functions[machine], Payload=json.dumps(page).encode())
            released = json_object(response["Payload"].read())
            if response.get("FunctionError"):
                report.problems.append(f"{_page_name(described)}: leases not released ({response['FunctionError']})")
                continue
        except Exception as error:
            report.problems.append(f"{_page_name(described)}: leases not released: {type(error).__name__}: {error}")
            continue
        report.released += int(released.get("released") or 0)


def _page_name(described: dict[str, Any]) -> str:
    page = _input(described)
    return f"{page.get('phase')} level {int(page.get('level') or 0) + 1} page {int(page.get('page') or 0) + 1}"


def _input(described: dict[str, Any]) -> dict[str, Any]:
    return dict(json_object(described.get("input")))
