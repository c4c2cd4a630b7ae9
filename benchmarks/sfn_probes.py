"""Where the local cloud's CPU goes during an execution: Lambda handlers, ``.sync`` status checks, ASL parses.

Everything runs in this process under one GIL, so process CPU near one core's worth of the makespan means
the execution was CPU-bound: steps waited for the interpreter, not for the cloud. These probes split it:

- ``HandlerTimes`` wraps every deployed function's handler (``LocalCloud.register_handler``) and records its
  wall time and its thread's CPU time per invocation;
- ``DescribeExecutionCalls`` counts ``describe_execution`` calls reaching moto's Step Functions backend: a
  waiting ``startExecution.sync`` Task makes one every ``sync check`` interval, through a boto3 client;
- ``unit_costs`` measures, in isolation, the CPU of one such call and of one parse of each state machine
  (moto parses the ASL at the start of every execution).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.stepfunctions.models import StepFunctionBackend


@dataclass
class HandlerStats:
    """Invocations of one function: count, total wall seconds, total CPU seconds of the invoking thread."""

    count: int = 0
    wall: float = 0.0
    cpu: float = 0.0

    @property
    def mean_wall(self) -> float:
        return self.wall / self.count if self.count else 0.0

    @property
    def mean_cpu(self) -> float:
        return self.cpu / self.count if self.count else 0.0


@dataclass
class HandlerTimes:
    """Per-function wall and CPU time of the in-process Lambda handlers (thread-safe)."""

    stats: dict[str, HandlerStats] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def current(self) -> str:
        """The handler running in this thread (the innermost: an EC2 event handler can run inside ``start``)."""
        stack = getattr(self._local, "stack", None)
        return stack[-1][0] if stack else "other"

    def install(self, cloud: Any, function_names: Mapping[str, str]) -> None:
        """Wrap the handler of each ``{app name: deployed name}`` function (re-registering it)."""
        dispatch = cloud.patches.lambdas
        for short, deployed in function_names.items():
            handler = dispatch.handler(deployed)
            if handler is not None:
                cloud.register_handler(deployed, self._wrap(short, handler))

    def reset(self) -> None:
        with self._lock:
            self.stats.clear()

    def _wrap(self, name: str, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        """Time ``handler``; a handler invoked inside another counts for itself only (its time is taken out)."""

        def timed(event: Any, context: Any) -> Any:
            stack: list[list[Any]] = self._local.__dict__.setdefault("stack", [])
            frame = [name, 0.0, 0.0]  # name, wall and CPU of handlers nested in this one
            stack.append(frame)
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return handler(event, context)
            finally:
                wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
                stack.pop()
                if stack:
                    stack[-1][1] += wall
                    stack[-1][2] += cpu
                with self._lock:
                    stats = self.stats.setdefault(name, HandlerStats())
                    stats.count += 1
                    stats.wall += wall - frame[1]
                    stats.cpu += cpu - frame[2]

        return timed

    @property
    def total_cpu(self) -> float:
        return sum(s.cpu for s in self.stats.values())

    @property
    def invocations(self) -> int:
        return sum(s.count for s in self.stats.values())


class DescribeExecutionCalls:
    """Counts ``describe_execution`` calls reaching moto's Step Functions backend while installed."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator[DescribeExecutionCalls]:
        original = StepFunctionBackend.describe_execution

        def describe_execution(backend: Any, execution_arn: str) -> Any:
            with self._lock:
                self.count += 1
            return original(backend, execution_arn)

        StepFunctionBackend.describe_execution = describe_execution  # type: ignore[method-assign]
        try:
            yield self
        finally:
            StepFunctionBackend.describe_execution = original  # type: ignore[method-assign]


@dataclass(frozen=True)
class UnitCosts:
    """CPU seconds of one ``describe_execution`` through a boto3 client and of one parse of each machine."""

    describe_execution: float
    parse: dict[str, float]


def unit_costs(sfn: Any, execution_arn: str, definitions: Mapping[str, str], repeat: int = 30) -> UnitCosts:
    """Measure, in this thread and in isolation (the best of a few runs), the unit costs above."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    started = time.thread_time()
    for _ in range(repeat):
        sfn.describe_execution(executionArn=execution_arn)
    describe = (time.thread_time() - started) / repeat
    parse = {}
    for name, definition in definitions.items():
        best = float("inf")
        for _ in range(3):
            started = time.thread_time()
            AmazonStateLanguageParser.parse(definition)
            best = min(best, time.thread_time() - started)
        parse[name] = best
    return UnitCosts(describe, parse)
