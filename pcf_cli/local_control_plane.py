"""The control plane deployed inside the in-process local cloud, as ``chalice deploy`` would (once per cloud and
stage), with the stage's environment variables set for the command only. The functions run in this process, so for
the block they are kept quiet (Powertools metrics and tracing off, logs at ERROR, or INFO/DEBUG with ``-v``/``-vv``)
and what they print goes to ``function_output`` (discarded by default): ``docs/cli.md``, "The local target"."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.endpoint import LOCAL_POLL_SECONDS, ControlPlaneEndpoint
from pcf_cli.stages import DEFAULT_STAGE

QUIET_FUNCTIONS = {"POWERTOOLS_METRICS_DISABLED": "1", "POWERTOOLS_TRACE_DISABLED": "1"}
LOG_LEVELS = ("ERROR", "INFO", "DEBUG")
_deployments: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
"""The control plane deployed in each open local cloud, by stage (a test may run several commands on one)."""


class EnvironmentOverlay:
    """Sets variables in ``os.environ`` and puts back what was there before on ``restore``."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, name: str, value: str) -> None:
        self._saved.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def restore(self) -> None:
        for name, value in reversed(list(self._saved.items())):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved.clear()


def function_environment(verbose: int, heal_wait_seconds: int = 1) -> dict[str, str]:
    """What the in-process functions get on top of the stage's variables: quiet Powertools, and healing
    executions that poll their particles as often as the CLI's own do on the local cloud."""
    return {**QUIET_FUNCTIONS, "POWERTOOLS_LOG_LEVEL": LOG_LEVELS[min(verbose, len(LOG_LEVELS) - 1)],
            "PCF_HEAL_WAIT_SECONDS": str(heal_wait_seconds)}


class _Discard(io.TextIOBase):
    """A text stream that keeps nothing."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


@contextmanager
def captured_output(function_output: TextIO | None, quiet_moto: bool) -> Iterator[None]:
    """What the in-process functions print goes to ``function_output`` (``None``: nowhere), Powertools' "no
    metrics" warning is ignored and, when ``quiet_moto``, moto's logger (every failed state at length) is silenced."""
    moto = logging.getLogger("moto")
    previous = moto.level
    if quiet_moto:
        moto.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(function_output or _Discard()):
            warnings.filterwarnings("ignore", message="No application metrics to publish")
            yield
    finally:
        moto.setLevel(previous)


@contextmanager
def local_control_plane(cloud: Any, *, stage: str = DEFAULT_STAGE, verbose: int = 0, pending_seconds: float = 0.0,
                        function_output: TextIO | None = None) -> Iterator[ControlPlaneEndpoint]:
    """The ``apply`` state machine of ``stage`` in ``cloud`` (deployed on first use), for the block."""
    try:
        from pcf_control_plane import wiring
        from pcf_local_cloud.control_plane import deploy_control_plane, local_heal_wait_seconds, stage_environment
    except ImportError as error:
        needs = f"stepfunctions on the local target needs the dev dependencies ({error.name}): pip install -e '.[dev]'"
        raise DefinitionError("--engine", needs) from None
    overlay = EnvironmentOverlay()
    extra = function_environment(verbose, local_heal_wait_seconds(pending_seconds))
    try:
        with captured_output(function_output, quiet_moto=verbose < 2):
            deployed = _deployments.setdefault(cloud, {})
            deployment = deployed.get(stage)
            if deployment is None:
                deployment = deployed[stage] = deploy_control_plane(cloud, stage=stage, environment=extra,
                                                                    setenv=overlay.set)
            else:
                for name, value in {**stage_environment(stage), **extra}.items():
                    overlay.set(name, value)
                wiring.reset()
            yield ControlPlaneEndpoint.of(cloud.client, deployment.state_machine_arns["apply"],
                                          f"in the local cloud, stage {stage}", 1 if pending_seconds > 0 else 0,
                                          LOCAL_POLL_SECONDS, None)
    finally:
        overlay.restore()
        wiring.reset()
