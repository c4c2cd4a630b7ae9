"""The items of a run partition on DynamoDB (``pk = R#<execution>``; see ``runs.py`` and ``docs/state-store.md``).

Run items carry none of the indexes' key attributes, so no index ever holds them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pcf_control_plane.store.keys import META_SK, created_sk, failure_sk, run_pk
from pcf_control_plane.store.runs import RUN_TTL_SECONDS, LevelPages, RunFailure, RunMeta, RunPage
from pcf_control_plane.store.serialization import deserialize_item, serialize, serialize_item
from pcf_control_plane.store.table import PK, PURGE_AT, SK

PAGE_LISTED = (SK, "phase", "level", "page", "ids", "gens")
"""The attributes a page listing reads (its specs left out)."""


def run_key(execution: str, sort_key: str) -> dict[str, Any]:
    """The primary key of one item of a run."""
    return {PK: serialize(run_pk(execution)), SK: serialize(sort_key)}


def purge_at(now: float) -> int:
    """When a run item written at ``now`` expires (DynamoDB TTL: whole epoch seconds)."""
    return math.ceil(now + RUN_TTL_SECONDS)


def meta_item(meta: RunMeta, now: float) -> dict[str, Any]:
    """The ``META`` item; settings as compact JSON (they round-trip exactly)."""
    return serialize_item({
        PK: run_pk(meta.execution), SK: META_SK, "execution": meta.execution, "root": meta.pcf_id,
        "particles": meta.particles, "levels": [level.model_dump() for level in meta.levels],
        "settings": json.dumps(meta.settings, separators=(",", ":")), "rolling_back": meta.rolling_back,
        PURGE_AT: purge_at(now),
    })


def meta_from(item: dict[str, Any]) -> RunMeta:
    """A run's ``META`` from its item."""
    data = deserialize_item(item)
    return RunMeta(execution=data["execution"], pcf_id=data["root"], particles=data["particles"],
                   levels=tuple(LevelPages.model_validate(level) for level in data["levels"]),
                   settings=json.loads(data["settings"]), rolling_back=data["rolling_back"])


def page_item(execution: str, page: RunPage, defs: bytes, now: float) -> dict[str, Any]:
    """A ``PG#`` item: ids in order, specs as ``defs`` (binary), generations when known."""
    return serialize_item({
        PK: run_pk(execution), SK: page.key, "phase": page.phase, "level": page.level, "page": page.page,
        "ids": list(page.ids), "defs": defs, "gens": dict(page.gens) or None, PURGE_AT: purge_at(now),
    })


def page_from(item: dict[str, Any]) -> tuple[RunPage, bytes | None]:
    """A page (without specs) and its encoded specs (``None`` when not read)."""
    data = deserialize_item(item)
    defs = data.get("defs")
    page = RunPage(phase=data["phase"], level=data["level"], page=data["page"], ids=tuple(data["ids"]),
                   gens=data.get("gens") or {})
    return page, None if defs is None else bytes(defs)


def created_item(execution: str, pcf_id: str, at: float) -> dict[str, Any]:
    """The ``C#`` mark: the run created ``pcf_id``'s resource (expiry from ``at``, so a retried commit is the
    same request)."""
    return serialize_item({PK: run_pk(execution), SK: created_sk(pcf_id), "particle": pcf_id,
                           PURGE_AT: purge_at(at)})


def failure_item(execution: str, failure: RunFailure) -> dict[str, Any]:
    """The ``F#`` item of a failed particle."""
    return serialize_item({
        PK: run_pk(execution), SK: failure_sk(failure.phase, failure.level, failure.pcf_id),
        "particle": failure.pcf_id, "phase": failure.phase, "level": failure.level, "error": failure.error,
        "cause": failure.cause, "at": failure.at, PURGE_AT: purge_at(failure.at),
    })


def failure_from(item: dict[str, Any]) -> RunFailure:
    """A failure from its ``F#`` item."""
    data = deserialize_item(item)
    return RunFailure(pcf_id=data["particle"], phase=data["phase"], level=data["level"], error=data["error"],
                      cause=data["cause"], at=data["at"])
