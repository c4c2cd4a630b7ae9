"""The main job's self-healing act on an in-process local cloud: an instance stopped behind the framework's back,
healed by the control plane on its own, followed, then the particle's history (``docs/cli.md``, "The main job's
self-healing act")."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from pcf_cli.acting import ApplyReport, format_report
from pcf_cli.cancel import Cancellation
from pcf_cli.endpoint import ControlPlaneEndpoint
from pcf_cli.output import table_text
from pcf_cli.stages import DEFAULT_STAGE, read_stage
from pcf_cli.stepfunctions_engine import follow_started
from pcf_cli.store_commands import HISTORY_HEADER, history_rows

HEAL_PREFIX = "heal-"
TICK_SECONDS = 0.2
WAIT_LIMIT_SECONDS = 60.0
MIN_STOP_SECONDS = 1.0
"""EC2 events carry whole-second times and a recorded observation is replaced only by a later one: a stop
quicker than a second would publish ``stopped`` in the same second as ``stopping``, dropped as stale."""
PROGRESS_EVERY_SECONDS = 2.0


@dataclass
class HealAct:
    """What the act did: the instance stopped, the healing execution, its report, the particle's history."""

    pcf_id: str
    instance_id: str
    execution: str
    report: ApplyReport
    state: str = ""
    history: list[Any] = field(default_factory=list)


def heal_behind_the_back(out: TextIO, cloud: Any, endpoint: ControlPlaneEndpoint, pcf_id: str, *,
                         stage: str = DEFAULT_STAGE, quiet: bool = False, cancellation: Cancellation | None = None,
                         limit_seconds: float = WAIT_LIMIT_SECONDS,
                         sleep: Callable[[float], None] = time.sleep) -> HealAct:
    """Stop ``pcf_id``'s instance with a plain EC2 call, wait (at most ``limit_seconds``) for the heal
    execution the control plane starts, follow it, and read the particle's history since the stop."""
    from pcf_control_plane.store import DynamoDBStateStore

    store = DynamoDBStateStore(cloud.client("dynamodb"), read_stage(stage).table_name)
    record = store.get_particle(pcf_id)
    instance_id = record.observation.resource_id if record and record.observation else None
    if not instance_id:
        return HealAct(pcf_id, "-", "-", ApplyReport([], [], error=f"{pcf_id} has no instance to stop"))
    ec2 = cloud.client("ec2")
    known = set(heal_executions(endpoint))
    since = time.time()
    cloud.start_ticker(TICK_SECONDS)
    try:
        say(out, f"   {pcf_id} ({instance_id}) stopped behind pcf's back: ec2.stop_instances, not pcf stop")
        say(out, "   EC2 events -> EventBridge rule -> on_ec2_event Lambda -> a heal-<event id> apply execution")
        stop_taking_a_second(cloud, lambda: ec2.stop_instances(InstanceIds=[instance_id]))
        arn = wait_for_heal(out, endpoint, ec2, instance_id, known, limit_seconds, sleep)
        if arn is None:
            error = f"no heal execution started within {limit_seconds:g}s"
            return HealAct(pcf_id, instance_id, "-", ApplyReport([], [], error=error))
        name = arn.rsplit(":", 1)[-1]
        say(out, f"execution: {name} (started by on_ec2_event)")
        report = follow_started(endpoint, arn, out, quiet=quiet, note=lambda line: say(out, line),
                                cancellation=cancellation)
        out.write(format_report(report))
        state = instance_state(ec2, instance_id)
        if report.ok and state != "running":
            report.error = f"the heal execution succeeded but {instance_id} is {state}"
    finally:
        cloud.stop_ticker()
    history = [item for item in store.list_history(pcf_id, limit=200, newest_first=False) if _after(item, since)]
    say(out, f"\n{pcf_id} history since the stop (pcf history {pcf_id}):")
    out.write(table_text(HISTORY_HEADER, history_rows(history)))
    return HealAct(pcf_id, instance_id, name, report, state, history)


def stop_taking_a_second(cloud: Any, stop: Callable[[], Any]) -> None:
    """Call ``stop`` with the cloud's pending phase at least ``MIN_STOP_SECONDS`` (as on EC2)."""
    previous = cloud.pending_seconds
    cloud.pending_seconds = max(previous, MIN_STOP_SECONDS)
    try:
        stop()
    finally:
        cloud.pending_seconds = previous


def wait_for_heal(out: TextIO, endpoint: ControlPlaneEndpoint, ec2: Any, instance_id: str, known: set[str],
                  limit_seconds: float, sleep: Callable[[float], None]) -> str | None:
    """The ARN of the first heal execution not in ``known``, waiting at most ``limit_seconds``, or ``None``."""
    started = time.monotonic()
    said = -PROGRESS_EVERY_SECONDS
    while (elapsed := time.monotonic() - started) < limit_seconds:
        fresh = {name: arn for name, arn in heal_executions(endpoint).items() if name not in known}
        if fresh:
            return sorted(fresh.items())[0][1]
        if elapsed - said >= PROGRESS_EVERY_SECONDS:
            say(out, f"[{elapsed:6.1f}s] waiting for the heal: {instance_id} is {instance_state(ec2, instance_id)}")
            said = elapsed
        sleep(TICK_SECONDS)
    return None


def heal_executions(endpoint: ControlPlaneEndpoint) -> dict[str, str]:
    """Name -> ARN of the ``apply`` machine's executions named ``heal-…``."""
    pages = endpoint.sfn.get_paginator("list_executions").paginate(stateMachineArn=endpoint.apply_arn)
    return {execution["name"]: execution["executionArn"] for page in pages for execution in page["executions"]
            if execution["name"].startswith(HEAL_PREFIX)}


def instance_state(ec2: Any, instance_id: str) -> str:
    """EC2's state name of the instance."""
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservation["Instances"][0]["State"]["Name"])


def say(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


def _after(item: Any, since: float) -> bool:
    """Was the history ``item`` written since the stop at ``since``? An event's item counts from the stop's whole
    second (EC2 stamps its events to the second, so the stop's own event may read a little earlier)."""
    return bool(item.at >= since or (item.at >= math.floor(since) and str(item.cause).startswith("event:")))
