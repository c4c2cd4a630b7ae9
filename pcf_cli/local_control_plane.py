"""The control plane inside the in-process local cloud: deployed once per cloud, as ``chalice deploy`` would.

``pcf_local_cloud.control_plane.deploy_control_plane`` creates the state table, every Lambda function of
``app.py`` (run in this process) and the ``particle`` and ``apply`` state machines, and sets the stage's
environment variables, which the functions read as they would on Lambda. Here those variables are set for
the duration of the command only (then restored).

The functions run in this process but must not write over the command's output. So, for the block:
Powertools metrics and tracing are off (``POWERTOOLS_METRICS_DISABLED``, ``POWERTOOLS_TRACE_DISABLED``) and
logs at ERROR (``POWERTOOLS_LOG_LEVEL``; ``-v``: INFO, ``-vv``: DEBUG); what the functions still print (EMF
lines Powertools prints when its buffer fills, even when disabled) is captured: ``sys.stdout`` goes to
``function_output`` (discarded by default; the CLI's own streams are unaffected), Powertools' "no metrics"
warning is ignored, and moto's logger (which logs every failed state at length) is silenced unless ``-vv``.
"""

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
from pcf_cli.endpoint import ControlPlaneEndpoint
from pcf_cli.stages import DEFAULT_STAGE

QUIET_FUNCTIONS = {"POWERTOOLS_METRICS_DISABLED": "1", "POWERTOOLS_TRACE_DISABLED": "1"}
LOG_LEVELS = ("ERROR", "INFO", "DEBUG")
LOCAL_POLL_SECONDS = 0.5
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


@contextmanager
def quiet_logger(name: str, quiet: bool) -> Iterator[None]:
    """The logger ``name`` at CRITICAL for the block, when ``quiet``."""
    logger = logging.getLogger(name)
    previous = logger.level
    if quiet:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


class _Discard(io.TextIOBase):
    """A text stream that keeps nothing."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


@contextmanager
def captured_output(function_output: TextIO | None, quiet_moto: bool) -> Iterator[None]:
    """What the in-process functions print goes to ``function_output`` (``None``: nowhere), for the block."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(function_output or _Discard()), \
            quiet_logger("moto", quiet_moto):
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        yield


@contextmanager
def local_control_plane(
    cloud: Any,
    *,
    stage: str = DEFAULT_STAGE,
    verbose: int = 0,
    pending_seconds: float = 0.0,
    function_output: TextIO | None = None,
) -> Iterator[ControlPlaneEndpoint]:
    """The ``apply`` state machine of ``stage`` in ``cloud`` (deployed on first use), for the block; the
    functions' printed output goes to ``function_output`` (``None``: discarded)."""
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
            yield ControlPlaneEndpoint(
                sfn=cloud.client("stepfunctions"),
                apply_arn=deployment.state_machine_arns["apply"],
                description=f"state machine {deployment.state_machine_arns['apply'].rsplit(':', 1)[-1]} "
                            f"(in the local cloud, stage {stage})",
                default_wait_seconds=1 if pending_seconds > 0 else 0,
                poll_seconds=LOCAL_POLL_SECONDS,
                max_child_reads=None,
                lambda_client=cloud.client("lambda"),
            )
    finally:
        overlay.restore()
        wiring.reset()
