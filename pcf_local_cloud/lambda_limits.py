"""Lambda's refusals that moto does not make: payload sizes and the function's timeout.

- **Payloads** (Lambda quotas): a synchronous request or response is at most 6 MB (6,291,456 bytes), an
  asynchronous request at most 256 KB (262,144 bytes). A request over its limit is refused at the API with
  ``RequestEntityTooLargeException`` (HTTP 413) and runs nothing; a response over 6 MB becomes the function error
  ``Function.ResponseSizeTooLarge``.
- **Timeout.** On Lambda a function gets CPU in proportion to its memory (one vCPU at 1,769 MB), and is stopped at
  its configured timeout with ``Sandbox.Timedout``. Here the handler runs on this machine's CPU; the CPU time of
  the invoking thread, scaled to the function's share (``cpu * max(1, 1769 / memory)``), is its **projected
  duration**. Past the timeout, the invocation fails with ``Sandbox.Timedout`` ("Task timed out after N seconds").
  The handler has run to its end (Lambda would have stopped it part-way): what it wrote stays written.
  The projection is only as good as this machine's single-thread speed relative to Lambda's; it counts the
  handler's CPU, not the time it waits for the (in-process, instant) services.

Every invocation's CPU and projected duration are kept per function (:class:`LambdaUsage`), for the sizing
benchmark.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.awslambda.models import LambdaBackend
from moto.core.exceptions import JsonRESTError

from pcf_local_cloud.patchset import PatchSet

SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
ASYNC_PAYLOAD_BYTES = 256 * 1024
FULL_VCPU_MB = 1769
TIMED_OUT = "Sandbox.Timedout"
RESPONSE_TOO_LARGE = "Function.ResponseSizeTooLarge"


class RequestEntityTooLarge(JsonRESTError):
    """Lambda's answer to an ``Invoke`` whose payload is over its limit."""

    code = 413

    def __init__(self, limit: int) -> None:
        super().__init__("RequestEntityTooLargeException",
                         f"Request must be smaller than {limit} bytes for the InvokeFunction operation")


def projected_seconds(cpu_seconds: float, memory_mb: int) -> float:
    """How long ``cpu_seconds`` of this machine's CPU take on a function with ``memory_mb``."""
    return cpu_seconds * max(1.0, FULL_VCPU_MB / max(memory_mb, 1))


def payload_limit(headers: Any) -> int:
    """The request limit of the invocation type in ``headers``."""
    kind = (headers or {}).get("x-amz-invocation-type", "RequestResponse")
    return ASYNC_PAYLOAD_BYTES if kind == "Event" else SYNC_PAYLOAD_BYTES


@dataclass
class FunctionUsage:
    """The invocations of one function: how many, the most CPU one took and its projected duration."""

    invocations: int = 0
    peak_cpu_s: float = 0.0
    peak_projected_s: float = 0.0
    timed_out: int = 0


@dataclass
class LambdaUsage:
    """Per function name: :class:`FunctionUsage`. Thread-safe."""

    functions: dict[str, FunctionUsage] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, function_name: str, cpu_s: float, projected_s: float, timed_out: bool) -> None:
        with self._lock:
            usage = self.functions.setdefault(function_name, FunctionUsage())
            usage.invocations += 1
            usage.peak_cpu_s = max(usage.peak_cpu_s, cpu_s)
            usage.peak_projected_s = max(usage.peak_projected_s, projected_s)
            usage.timed_out += int(timed_out)

    def clear(self) -> None:
        with self._lock:
            self.functions.clear()


class LambdaLimits:
    """The payload patch on moto's ``LambdaBackend.invoke``; the timeout is applied by ``lambda_dispatch``
    (``enforce_timeouts``; a benchmark measuring past the limits turns it off for its own cloud)."""

    def __init__(self) -> None:
        self.enforce_timeouts = True
        self.usage = LambdaUsage()

    def install(self, patches: PatchSet) -> None:
        original = vars(LambdaBackend)["invoke"]

        def invoke(backend: LambdaBackend, function_name: str, qualifier: str | None, body: Any, headers: Any,
                   response_headers: Any) -> Any:
            limit = payload_limit(headers)
            size = len(body.encode("utf-8") if isinstance(body, str) else (body or b""))
            if size > limit:
                raise RequestEntityTooLarge(limit)
            return original(backend, function_name, qualifier, body, headers, response_headers)

        invoke.__doc__ = original.__doc__
        patches.replace(LambdaBackend, "invoke", invoke)

    @contextmanager
    def unenforced(self) -> Iterator[None]:
        """Timeouts measured but not enforced inside the block."""
        before, self.enforce_timeouts = self.enforce_timeouts, False
        try:
            yield
        finally:
            self.enforce_timeouts = before
