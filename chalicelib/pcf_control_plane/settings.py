"""The control plane's settings, read once from the environment, failing fast on what is missing."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pcf.util.aws.tag_specifications import DEFAULT_DEPLOYMENT


class SettingsError(ValueError):
    """A required environment variable is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    """``PCF_TABLE_NAME`` (required), ``PCF_DEPLOYMENT``, ``PCF_LEASE_SECONDS``."""

    table_name: str
    deployment: str = DEFAULT_DEPLOYMENT
    lease_seconds: float = 900.0

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
                   lease_seconds=lease)
