"""One ``apply`` execution of the deployed control plane on a fresh local cloud, with its whole history tree.

The cloud runs on the real clock: instances really stay ``pending``, Wait states really wait (moto's Wait
uses real time), and moto runs every execution and every Map iteration in its own thread of this process,
so the makespan is wall time on this machine. The Lambda handlers run in-process too.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from benchmarks.apply_bench import count_running, first_amazon_image
from benchmarks.counting import ApiCallCounter, CallCounts
from benchmarks.sfn_history import Tree, duration
from benchmarks.sfn_probes import DescribeExecutionCalls, HandlerTimes, UnitCosts, unit_costs
from pcf_local_cloud import LocalCloud, RealClock

QUIET_ENVIRONMENT = {
    "POWERTOOLS_METRICS_DISABLED": "1",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}
"""Set in this process before the handlers run, so that logging, metrics and tracing do not dominate."""
APPLY = "apply"
STATUS_POLL_SECONDS = 0.1
"""How often the benchmark asks moto whether the execution ended (each ask costs CPU under the GIL)."""


def quiet() -> None:
    """Powertools and moto as quiet as they go: environment variables, Python logging levels, warnings."""
    os.environ.update(QUIET_ENVIRONMENT)
    for name in ("moto", "botocore", "boto3", "urllib3", "aws_lambda_powertools", "pcf-serverless"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="No application metrics to publish")


@dataclass
class ExecutionRun:
    """What one ``apply`` execution did and how long it took."""

    status: str
    output: Any
    particles: int
    level_sizes: list[int]
    pending_seconds: float
    wait_seconds: int
    concurrency: int
    wall_seconds: float
    """``start_execution`` until ``describe_execution`` said it ended (polled every 0.1 s)."""
    cpu_seconds: float
    parent_arn: str
    tree: Tree
    running: int
    peak_threads: int
    sync_check_seconds: float | None
    """The fixed ``.sync`` check interval; ``None``: a check on each execution's end (the local cloud's)."""
    handlers: HandlerTimes
    describe_calls: int
    """``describe_execution`` calls moto's backend answered during the run, from any client."""
    costs: UnitCosts
    stdout_lines: int
    """Lines the handlers printed to stdout (Powertools prints metrics every 100 values even when disabled)."""
    calls: CallCounts
    """AWS calls made through the cloud's client factory, by (service, operation, handler making it)."""
    throttling: Throttling | None = None
    """With ``throttle``: requests and injected throttles per service, and instances per ``PCFName``."""

    @property
    def parent(self) -> list[Mapping[str, Any]]:
        return list(self.tree[self.parent_arn])

    @property
    def makespan(self) -> float:
        """The parent execution's first event to its last (history timestamps, millisecond resolution)."""
        return duration(self.parent)

    @property
    def children(self) -> dict[str, list[Mapping[str, Any]]]:
        return {arn: list(events) for arn, events in self.tree.items() if arn != self.parent_arn}

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED" and self.running == self.particles

    @property
    def sync_checks(self) -> int:
        """``describe_execution`` calls made by waiting ``.sync`` Tasks (those through the factory taken out)."""
        own = sum(self.calls.by_operation("stepfunctions").get("DescribeExecution", {}).values())
        return max(0, self.describe_calls - own)


@dataclass(frozen=True)
class Throttle:
    """Throttle ``rate`` of the requests to ``services`` during the measured execution (``faults``)."""

    rate: float
    services: tuple[str, ...]
    seed: int = 0


@dataclass(frozen=True)
class Throttling:
    """What a throttled run saw: the fault counters and how many instances carry each ``PCFName``."""

    requests: dict[str, int]
    injected: dict[str, int]
    instances_per_name: dict[str, int]


def instances_per_name(cloud: LocalCloud) -> dict[str, int]:
    """How many instances (any state) carry each ``PCFName`` tag value."""
    pages = cloud.client("ec2").get_paginator("describe_instances").paginate()
    counts: dict[str, int] = {}
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                for tag in instance.get("Tags", []):
                    if tag["Key"] == "PCFName":
                        counts[tag["Value"]] = counts.get(tag["Value"], 0) + 1
    return counts


class ThreadSampler:
    """The most threads alive at once, sampled every ``interval`` seconds on a daemon thread."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak = threading.active_count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-thread-sampler", daemon=True)

    def __enter__(self) -> ThreadSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, threading.active_count())


def run_apply(
    build: Callable[[str], dict[str, Any]],
    *,
    name: str,
    pending_seconds: float,
    wait_seconds: int,
    concurrency: int,
    max_polls: int = 200,
    timeout_s: float = 1800.0,
    sync_check_seconds: float | None = None,
    waits: str = "events",
    throttle: Throttle | None = None,
) -> ExecutionRun:
    """Deploy the control plane into a fresh local cloud and run one ``apply`` of ``build(image_id)``.

    A one-instance apply runs first, with no pending phase, so that one-off costs (the handlers' lazy
    imports, moto's first use of each service) are not in the measured execution. ``sync_check_seconds``
    replaces the local cloud's ``.sync`` wait (on each execution's end) with polling at that interval, for this
    cloud only. ``waits``: the apply's ``waits`` setting (``events``: a particle in a transition waits for its
    event; ``poll``: it is visited every ``wait_seconds``). ``throttle``: the measured execution's calls (the
    handlers' and Step Functions' own, not the benchmark's polling) are throttled as it says.
    """
    from pcf_control_plane import wiring
    from pcf_local_cloud.control_plane import deploy_control_plane
    from pcf_local_cloud.deployment import execution_tree_history

    quiet()
    printed = io.StringIO()
    with LocalCloud(pending_seconds=0.0, volume_pending_seconds=0.0, clock=RealClock()) as cloud, \
            contextlib.redirect_stdout(printed), \
            fixed_sync_checks(sync_check_seconds) if sync_check_seconds is not None else contextlib.nullcontext():
        try:
            deployment = deploy_control_plane(cloud, environment=QUIET_ENVIRONMENT)
            handlers = HandlerTimes()
            handlers.install(cloud, deployment.function_names)
            counter = ApiCallCounter(handlers.current)  # type: ignore[arg-type]  # the phase is the handler
            cloud.client_factory.add_hook(counter.hook)
            image_id = first_amazon_image(cloud)
            _warm_up(deployment, image_id)
            handlers.reset()
            counter.reset()
            cloud.pending_seconds = pending_seconds
            cloud.volume_pending_seconds = pending_seconds
            request = {"definition": build(image_id), "desired_state": "running", "wait_seconds": wait_seconds,
                       "max_polls": max_polls, "concurrency": concurrency, "waits": waits}
            faults = cloud.inject_throttling(throttle.rate, throttle.services, throttle.seed) if throttle else None
            with ThreadSampler() as threads, DescribeExecutionCalls().installed() as describes, \
                    faults.unthrottled() if faults else contextlib.nullcontext():
                cpu_started = time.process_time()
                started = time.monotonic()
                result = deployment.run_execution(APPLY, request, name=name, timeout_s=timeout_s,
                                                  poll=STATUS_POLL_SECONDS)
                wall = time.monotonic() - started
                cpu = time.process_time() - cpu_started
            throttling = None
            if faults is not None:
                faults.off()
                throttling = Throttling(dict(faults.requests), dict(faults.injected), instances_per_name(cloud))
            calls = counter.snapshot()
            sfn = cloud.client("stepfunctions")
            arn = deployment.execution_arn(APPLY, name)
            tree = execution_tree_history(sfn, arn)
            running = count_running(cloud) - 1  # the warm-up instance
            costs = unit_costs(sfn, arn, _definitions(sfn, deployment.state_machine_arns))
            check = current_sync_check_seconds()
        finally:
            wiring.reset()
    levels = _level_sizes(tree[arn])
    return ExecutionRun(
        status=result.status, output=result.output, particles=sum(levels), level_sizes=levels,
        pending_seconds=pending_seconds, wait_seconds=wait_seconds, concurrency=concurrency,
        wall_seconds=wall, cpu_seconds=cpu, parent_arn=arn, tree=tree, running=running,
        peak_threads=threads.peak, sync_check_seconds=check, handlers=handlers, describe_calls=describes.count,
        costs=costs, stdout_lines=printed.getvalue().count("\n"), calls=calls, throttling=throttling,
    )


def current_sync_check_seconds() -> float | None:
    """How often a waiting ``.sync`` Task asks moto whether its child execution ended: ``None`` when it asks
    as soon as an execution ends (the local cloud's own ``.sync`` wait), else the fixed interval in seconds."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback

    if state_task_service_callback.time is not time:
        return None
    return float(state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK)


@contextlib.contextmanager
def fixed_sync_checks(seconds: float) -> Iterator[None]:
    """Inside a started local cloud: ``.sync`` Tasks check their child every ``seconds`` (moto's own polling,
    interval changed) instead of on each execution's end; the local cloud's wait comes back afterwards."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback

    saved = state_task_service_callback.time, state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK
    state_task_service_callback.time = time
    state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK = seconds
    try:
        yield
    finally:
        state_task_service_callback.time, state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK = saved


def _warm_up(deployment: Any, image_id: str) -> None:
    from benchmarks.definitions import instance

    request = {"definition": instance("bench-warm-up", image_id), "desired_state": "running",
               "wait_seconds": 0, "max_polls": 10}
    result = deployment.run_execution(APPLY, request, name="bench-warm-up", timeout_s=120.0, poll=0.05)
    if result.status != "SUCCEEDED":
        raise RuntimeError(f"the warm-up execution ended {result.status}: {result.output}")


def _definitions(sfn: Any, machine_arns: Mapping[str, str]) -> dict[str, str]:
    return {key: sfn.describe_state_machine(stateMachineArn=arn)["definition"] for key, arn in machine_arns.items()}


def _level_sizes(parent: list[Mapping[str, Any]]) -> list[int]:
    """The size of each level the plan made (from the ``Plan`` step's output in the parent history: levels of
    pages with their particle counts)."""
    for event in parent:
        if event["type"] == "LambdaFunctionSucceeded":
            plan = json.loads(event["lambdaFunctionSucceededEventDetails"]["output"])
            if "levels" in plan:
                return [int(level["particles"]) for level in plan["levels"]]
            if "phases" in plan:
                return [len(level) for phase in plan["phases"] for level in phase["levels"]]
    return []
