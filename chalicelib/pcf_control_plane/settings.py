"""The control plane's settings, read once from the environment, failing fast on what is missing."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pcf.util.aws.tag_specifications import DEFAULT_DEPLOYMENT


class SettingsError(ValueError):
    """A required environment variable is missing or malformed."""


DEFAULT_APPLY_STATE_MACHINE = "pcf-serverless-dev-apply"
DEFAULT_RECONCILE_STATE_MACHINE = "pcf-serverless-dev-reconcile"


@dataclass(frozen=True)
class Settings:
    """``PCF_TABLE_NAME`` (required), ``PCF_DEPLOYMENT``, ``PCF_LEASE_SECONDS``, ``PCF_APPLY_STATE_MACHINE`` (the
    name of the ``apply`` state machine healing starts), ``PCF_RECONCILE_STATE_MACHINE`` (the one the schedule
    starts), ``PCF_HEAL_WAIT_SECONDS`` and ``PCF_HEAL_MAX_POLLS`` (the healing executions' polling)."""

    table_name: str
    deployment: str = DEFAULT_DEPLOYMENT
    lease_seconds: float = 900.0
    apply_state_machine: str = DEFAULT_APPLY_STATE_MACHINE
    heal_wait_seconds: int = 5
    heal_max_polls: int = 120
    reconcile_state_machine: str = DEFAULT_RECONCILE_STATE_MACHINE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        table = env.get("PCF_TABLE_NAME", "").strip()
        if not table:
            raise SettingsError("PCF_TABLE_NAME: is required (the DynamoDB state table)")
        try:
            lease = float(env.get("PCF_LEASE_SECONDS", "900"))
        except ValueError:
            raise SettingsError("PCF_LEASE_SECONDS: must be a number of seconds") from None
        if lease <= 0:
            raise SettingsError("PCF_LEASE_SECONDS: must be positive")
        return cls(table_name=table, deployment=env.get("PCF_DEPLOYMENT") or DEFAULT_DEPLOYMENT,
                   lease_seconds=lease,
                   apply_state_machine=env.get("PCF_APPLY_STATE_MACHINE") or DEFAULT_APPLY_STATE_MACHINE,
                   heal_wait_seconds=_whole(env, "PCF_HEAL_WAIT_SECONDS", 5, minimum=0),
                   heal_max_polls=_whole(env, "PCF_HEAL_MAX_POLLS", 120, minimum=1),
                   reconcile_state_machine=env.get("PCF_RECONCILE_STATE_MACHINE") or DEFAULT_RECONCILE_STATE_MACHINE)

    def state_machine_arn(self, function_arn: str) -> str:
        """The ``apply`` state machine's ARN in the region and account of the Lambda ``function_arn``."""
        return _machine_arn(function_arn, "lambda", self.apply_state_machine)

    def reconcile_machine_arn(self, function_arn: str) -> str:
        """The ``reconcile`` state machine's ARN in the region and account of the Lambda ``function_arn``."""
        return _machine_arn(function_arn, "lambda", self.reconcile_state_machine)

    def apply_arn_beside(self, machine_arn: str) -> str:
        """The ``apply`` state machine's ARN in the region and account of the state machine ``machine_arn``."""
        return _machine_arn(machine_arn, "states", self.apply_state_machine)


def _machine_arn(arn: str, service: str, name: str) -> str:
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != service:
        kind = "Lambda function" if service == "lambda" else "state machine"
        raise SettingsError(f"{arn!r} is not a {kind} ARN")
    return f"arn:{parts[1]}:states:{parts[3]}:{parts[4]}:stateMachine:{name}"


def _whole(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    text = env.get(name, str(default))
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name}: must be a whole number, not {text!r}") from None
    if value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum}")
    return value
