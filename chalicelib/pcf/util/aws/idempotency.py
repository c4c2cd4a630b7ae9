"""``ClientToken`` values: the same particle, desired spec and scope always give the same token.

EC2 returns the first result for a repeated token, so a retried ``run_instances``/``create_volume``
never launches twice. The scope separates deliberate re-creations: library ``apply()`` uses one scope per
apply call; the control plane uses the desired spec's generation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

MAX_TOKEN_LENGTH = 64


def spec_digest(spec: Mapping[str, Any]) -> str:
    """A stable digest of a JSON-like spec (key order does not matter)."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def client_token(pcf_id: str, spec: Mapping[str, Any], scope: str) -> str:
    """A ``ClientToken`` (at most 64 ASCII characters) for creating ``pcf_id``'s resource."""
    digest = hashlib.sha256(f"{pcf_id}\n{scope}\n{spec_digest(spec)}".encode()).hexdigest()
    return f"pcf-{digest}"[:MAX_TOKEN_LENGTH]
