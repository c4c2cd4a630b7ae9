"""Where the CLI finds the control plane: the Step Functions client and the ``apply`` state machine to start,
with the pacing that suits the place (the in-process local cloud, or AWS)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ControlPlaneEndpoint:
    """An ``apply`` state machine ready to start.

    ``default_wait_seconds`` is the executions' pause between polls of a particle when ``--wait-seconds`` is
    not given; ``poll_seconds`` how often the CLI reads the histories; ``max_child_reads`` how many particle
    executions' histories it reads per poll (``None``: all). ``lambda_client`` invokes the deployment's
    ``release_lease`` function when Ctrl-C stops a run (``pcf_cli.stop_run``; ``None``: leases are not
    released).
    """

    sfn: Any
    apply_arn: str
    description: str
    default_wait_seconds: int = 5
    poll_seconds: float = 2.0
    max_child_reads: int | None = 8
    lambda_client: Any = None
