"""What Lambda gives each invocation by running it alone in its process, for Powertools, in the local cloud.

On Lambda an execution environment runs one invocation at a time, so Powertools' process-wide state (the Logger's
keys, the Metrics set) is the invocation's own. The local cloud runs many invocations in threads of one process,
and runs an EventBridge delivery nested inside the call that caused it. So, for every invocation:

- it runs in its own copy of the caller's ``contextvars`` context (Powertools' thread-safe keys are a context
  variable: an invocation's keys are its own, and the caller's are there again when it returns);
- a Powertools Logger's keys (``append_keys``, ``inject_lambda_context``, ``set_correlation_id``) are kept in that
  context, not in the formatter shared by the process: :class:`InvocationKeys` takes the place of the Logger's
  ``LambdaPowertoolsFormatter`` (through ``logging.Handler.setFormatter``) while the local cloud is up, the keys
  appended to it before (by an invocation run without the local cloud) cleared, as the next invocation would;
- with metrics disabled (``POWERTOOLS_METRICS_DISABLED``, as ``deploy_control_plane`` sets by default), the metrics
  the invocation added are dropped at its end: Powertools keeps disabled metrics and prints them once 100 values
  have gathered;
- Powertools' warning that an invocation flushed no metrics is not shown: here it only means that another
  invocation of the process flushed (or dropped) them first.

Nothing here changes what a handler does on Lambda; the app uses Powertools' own decorators.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
import warnings
from collections.abc import Callable, Generator, Iterable
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter, LambdaPowertoolsFormatter

_METRICS_MODULE = "aws_lambda_powertools.metrics"
_NO_METRICS = ("ignore", r"No application metrics to publish", UserWarning)


class InvocationKeys(BasePowertoolsFormatter):
    """A Powertools formatter whose appended keys live in the current context (Powertools' thread-safe keys):
    formatting, and the keys set at construction, stay ``shared``'s."""

    def __init__(self, shared: Any) -> None:
        super().__init__()
        self.shared = shared

    def format(self, record: logging.LogRecord) -> str:
        return str(self.shared.format(record))

    def append_keys(self, **additional_keys: Any) -> None:
        self.shared.thread_safe_append_keys(**additional_keys)

    def get_current_keys(self) -> dict[str, Any]:
        return {**self.shared.get_current_keys(), **self.shared.thread_safe_get_current_keys()}

    def remove_keys(self, keys: Iterable[str]) -> None:
        self.thread_safe_remove_keys(keys)

    def clear_state(self) -> None:
        self.shared.thread_safe_clear_keys()

    @contextmanager
    def append_context_keys(self, **additional_keys: Any) -> Generator[None, None, None]:
        self.append_keys(**additional_keys)
        try:
            yield
        finally:
            self.remove_keys(additional_keys)

    def thread_safe_append_keys(self, **additional_keys: Any) -> None:
        self.shared.thread_safe_append_keys(**additional_keys)

    def thread_safe_get_current_keys(self) -> dict[str, Any]:
        return dict(self.shared.thread_safe_get_current_keys())

    def thread_safe_remove_keys(self, keys: Iterable[str]) -> None:
        """Without touching the dict the caller's context still holds (Powertools pops from it in place)."""
        gone = set(keys)
        kept = {key: value for key, value in self.shared.thread_safe_get_current_keys().items() if key not in gone}
        self.shared.thread_safe_clear_keys()
        self.shared.thread_safe_append_keys(**kept)

    def thread_safe_clear_keys(self) -> None:
        self.shared.thread_safe_clear_keys()


class PowertoolsRuntime:
    """Runs handlers as the module docstring says; :meth:`restore` gives the Loggers their formatters back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replaced: list[tuple[logging.Handler, logging.Formatter | None]] = []
        self._loggers_seen = -1
        self._warning_hidden = False

    def run(self, handler: Callable[[Any, Any], Any], event: Any, context: Any) -> Any:
        """``handler(event, context)`` in its own copy of the current context; quiet metrics dropped after."""
        self._isolate_new_loggers()
        self._hide_shared_metrics_warning()
        try:
            return contextvars.copy_context().run(handler, event, context)
        finally:
            _drop_disabled_metrics()

    def _hide_shared_metrics_warning(self) -> None:
        """Add the filter unless it is there (a test runner may have reset the filters since)."""
        if not any(_is_no_metrics_filter(entry) for entry in warnings.filters):
            action, message, category = _NO_METRICS
            warnings.filterwarnings(action, message=message, category=category)
            self._warning_hidden = True

    def _isolate_new_loggers(self) -> None:
        """Give every Powertools Logger made since the last look an :class:`InvocationKeys` formatter."""
        loggers = logging.Logger.manager.loggerDict
        if len(loggers) == self._loggers_seen:
            return
        with self._lock:
            self._loggers_seen = len(loggers)
            for candidate in list(loggers.values()):
                for handler in getattr(candidate, "handlers", ()):
                    if type(handler.formatter) is LambdaPowertoolsFormatter:
                        self._replaced.append((handler, handler.formatter))
                        handler.formatter.clear_state()  # keys of an earlier invocation in this process go
                        handler.setFormatter(InvocationKeys(handler.formatter))

    def restore(self) -> None:
        """Put every replaced formatter and the warning back (idempotent)."""
        with self._lock:
            while self._replaced:
                handler, formatter = self._replaced.pop()
                handler.setFormatter(formatter)
            self._loggers_seen = -1
            if self._warning_hidden:
                for entry in [f for f in warnings.filters if _is_no_metrics_filter(f)]:
                    warnings.filters.remove(entry)
                self._warning_hidden = False


def _is_no_metrics_filter(entry: Any) -> bool:
    action, message, category = _NO_METRICS
    return bool(entry[0] == action and entry[2] is category and getattr(entry[1], "pattern", None) == message)


def _drop_disabled_metrics() -> None:
    if _METRICS_MODULE not in sys.modules:
        return
    from aws_lambda_powertools.metrics import Metrics
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    if is_metrics_disabled():
        Metrics().clear_metrics()
