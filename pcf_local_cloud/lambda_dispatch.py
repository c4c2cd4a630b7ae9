"""Lambda functions run in-process: moto's invocation calls the Python handler registered for the function.

moto runs a function's code in Docker (``LambdaFunction._invoke_lambda``), which is not available here. The
local cloud replaces that one method: the handler registered under the function's name is called in the
invoking thread (a test's ``lambda.invoke``, a Step Functions worker, a Map branch) with the decoded event and
a :class:`LambdaContext`. The result goes back JSON-encoded; an exception becomes the error payload the Python
runtime sends (``errorType`` = the exception's class name), with the function-error flag set, which Step
Functions turns into an error of that name for Retry/Catch.
"""

from __future__ import annotations

import decimal
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.core.utils import unix_time_millis

from pcf_local_cloud.clock import Clock
from pcf_local_cloud.lambda_limits import (
    RESPONSE_TOO_LARGE,
    SYNC_PAYLOAD_BYTES,
    TIMED_OUT,
    LambdaLimits,
    projected_seconds,
)
from pcf_local_cloud.moto_private import run_lambda_code
from pcf_local_cloud.patchset import PatchSet
from pcf_local_cloud.powertools_runtime import PowertoolsRuntime

LambdaHandler = Callable[[Any, Any], Any]
"""``handler(event, context)``, as the Lambda Python runtime calls it."""

RunAs = Callable[[str | None], AbstractContextManager[Any]]
"""``run_as(role_arn)``: a block in which the thread's AWS calls are made under that role."""

HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
MARSHAL_ERROR = "Runtime.MarshalError"
EXIT_ERROR = "Runtime.ExitError"


@dataclass(frozen=True)
class LambdaContext:
    """The context object of the Lambda Python runtime (the attributes handlers and Powertools read)."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float = field(repr=False)
    clock: Clock = field(repr=False, compare=False)
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout, on the local cloud's clock (never negative)."""
        return max(0, int((self.deadline - self.clock.now()) * 1000))


class LambdaDispatch:
    """The registry of in-process handlers and the patch of moto's ``LambdaFunction._invoke_lambda``.

    Handlers are registered by function name (``<app>-<stage>-<function>`` for a Chalice app). Registration
    and lookup are thread-safe; handlers themselves run concurrently, one call per invocation.
    """

    def __init__(self, clock: Clock, limits: LambdaLimits | None = None, run_as: RunAs | None = None) -> None:
        self._clock = clock
        self.limits = limits if limits is not None else LambdaLimits()
        self._run_as: RunAs = run_as if run_as is not None else _unchecked
        self.runtime = PowertoolsRuntime()
        self._handlers: dict[str, LambdaHandler] = {}
        self._lock = threading.Lock()
        self._logs_lock = threading.Lock()

    # -- registry -----------------------------------------------------------------------------------
    def register(self, function_name: str, handler: LambdaHandler) -> None:
        """Run ``handler(event, context)`` whenever the function ``function_name`` is invoked (replaces any)."""
        if not callable(handler):
            raise TypeError(f"the handler for {function_name!r} is not callable: {handler!r}")
        with self._lock:
            self._handlers[function_name] = handler

    def unregister(self, function_name: str) -> None:
        """Forget the handler of ``function_name`` (no error if there is none)."""
        with self._lock:
            self._handlers.pop(function_name, None)

    def handler(self, function_name: str) -> LambdaHandler | None:
        """The handler registered for ``function_name``, or ``None``."""
        with self._lock:
            return self._handlers.get(function_name)

    @property
    def handlers(self) -> Mapping[str, LambdaHandler]:
        """A snapshot of the registry: function name -> handler."""
        with self._lock:
            return dict(self._handlers)

    # -- the patch ----------------------------------------------------------------------------------
    def install(self, patches: PatchSet) -> None:
        """Make moto run every invocation through :meth:`invoke` (see ``moto_private``)."""
        run_lambda_code(patches, self.invoke)

    def invoke(self, function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        """Run the handler of ``function`` on ``event``, under the function's role (``run_as``):
        ``(payload JSON, is_error, log text)``, moto's contract.

        moto passes the request body already decoded, or the string ``"{}"`` for an empty body.
        """
        with self._run_as(function.role):
            return self._invoke(function, event)

    def _invoke(self, function: LambdaFunction, event: Any) -> tuple[str, bool, str]:
        request_id = str(uuid.uuid4())
        context = self._context(function, request_id)
        handler = self.handler(function.function_name)
        started = time.perf_counter()
        if handler is None:
            message = (
                f"No handler is registered for the Lambda function {function.function_name!r} in the local cloud "
                "(register one with LocalCloud.register_handler or deploy_chalice_app)."
            )
            payload, failed, trace = _error_payload(HANDLER_NOT_FOUND, message, request_id), True, ""
        else:
            cpu_started = time.thread_time()
            payload, failed, trace = _call(handler, _decode(event), context, self.runtime)
            payload, failed, trace = self._within_limits(function, request_id, time.thread_time() - cpu_started,
                                                         (payload, failed, trace))
        elapsed_ms = (time.perf_counter() - started) * 1000
        logs = _log_text(context, trace, elapsed_ms)
        self._save_logs(function, context, logs)
        return payload, failed, logs

    def _within_limits(self, function: LambdaFunction, request_id: str, cpu_s: float,
                       outcome: tuple[str, bool, str]) -> tuple[str, bool, str]:
        """``outcome``, unless the invocation ran past its timeout (projected) or answered over 6 MB."""
        timeout = float(function.timeout)
        projected = projected_seconds(cpu_s, int(function.memory_size))
        timed_out = self.limits.enforce_timeouts and projected > timeout
        self.limits.usage.record(function.function_name, cpu_s, projected, timed_out)
        if timed_out:
            message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            return _error_payload(TIMED_OUT, message, request_id), True, (
                f"projected {projected:.2f} s ({cpu_s:.3f} s of CPU at {function.memory_size} MB) > {timeout:g} s")
        if len(outcome[0].encode("utf-8")) > SYNC_PAYLOAD_BYTES:
            message = f"Response payload size exceeded maximum allowed payload size ({SYNC_PAYLOAD_BYTES} bytes)."
            return _error_payload(RESPONSE_TOO_LARGE, message, request_id), True, outcome[2]
        return outcome

    def _context(self, function: LambdaFunction, request_id: str) -> LambdaContext:
        return LambdaContext(
            function_name=function.function_name,
            function_version=str(function.version),
            invoked_function_arn=function.function_arn,
            memory_limit_in_mb=int(function.memory_size),
            aws_request_id=request_id,
            log_group_name=function.logs_group_name,
            log_stream_name=_log_stream_name(function.version, request_id),
            deadline=self._clock.now() + float(function.timeout),
            clock=self._clock,
        )

    def _save_logs(self, function: LambdaFunction, context: LambdaContext, logs: str) -> None:
        """Write the invocation's log lines to ``/aws/lambda/<name>``, one stream per invocation."""
        backend = function.logs_backend
        now = int(unix_time_millis())
        events = [{"timestamp": now, "message": line} for line in logs.splitlines()]
        with self._logs_lock:  # moto's logs backend creates groups and streams without a lock
            backend.ensure_log_group(context.log_group_name)
            backend.create_log_stream(context.log_group_name, context.log_stream_name)
            backend.put_log_events(context.log_group_name, context.log_stream_name, events)


def _unchecked(_role_arn: str | None) -> AbstractContextManager[Any]:
    return nullcontext()


def _decode(event: Any) -> Any:
    return {} if event is None or event == "{}" else event


def _call(handler: LambdaHandler, event: Any, context: LambdaContext,
          runtime: PowertoolsRuntime) -> tuple[str, bool, str]:
    """Call the handler, as its own invocation (``runtime``); ``(payload, is_error, traceback text)``."""
    request_id = context.aws_request_id
    try:
        result = runtime.run(handler, event, context)
    except Exception as error:
        return _exception_payload(error, request_id), True, _traceback_text(error)
    except SystemExit as error:
        message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {error.code}"
        return _error_payload(EXIT_ERROR, message, request_id), True, _traceback_text(error)
    try:
        return json.dumps(result, default=_json_default, ensure_ascii=False), False, ""
    except (TypeError, ValueError) as error:
        message = f"Unable to marshal response: {error}"
        return _error_payload(MARSHAL_ERROR, message, request_id), True, _traceback_text(error)


def _json_default(value: Any) -> Any:
    """Decimals are numbers, as in the Lambda runtime's encoder (DynamoDB resources return them)."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _handler_frames(error: BaseException) -> TracebackType | None:
    """The traceback from the handler's frame on (without the dispatch's own frames)."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code in _DISPATCH_FRAMES:
        tb = tb.tb_next
    return tb


_DISPATCH_FRAMES = frozenset({_call.__code__, PowertoolsRuntime.run.__code__})


def _exception_payload(error: BaseException, request_id: str) -> str:
    stack = traceback.format_list(traceback.extract_tb(_handler_frames(error)))
    return json.dumps(
        {"errorMessage": str(error), "errorType": type(error).__name__, "requestId": request_id, "stackTrace": stack},
        ensure_ascii=False,
    )


def _error_payload(error_type: str, message: str, request_id: str) -> str:
    return json.dumps({"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": []})


def _traceback_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, _handler_frames(error))).rstrip("\n")


def _log_stream_name(version: Any, request_id: str) -> str:
    date = time.strftime("%Y/%m/%d", time.gmtime())
    return f"{date}/[{version}]{request_id.replace('-', '')}"


def _log_text(context: LambdaContext, trace: str, elapsed_ms: float) -> str:
    request_id = context.aws_request_id
    lines = [f"START RequestId: {request_id} Version: {context.function_version}"]
    if trace:
        lines.append(trace)
    lines.append(f"END RequestId: {request_id}")
    lines.append(
        f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\t"
        f"Billed Duration: {max(1, round(elapsed_ms))} ms\tMemory Size: {context.memory_limit_in_mb} MB"
    )
    return "\n".join(lines)
