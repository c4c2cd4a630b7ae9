"""The state table's items: how specs, observations, leases and history map to DynamoDB attributes.

Every item of a particle shares the partition ``pk = "P#<pcf_id>"``; the sort key says which item it is:
``SPEC``, ``OBS``, ``LEASE`` or ``H#<ms>#<tie-breaker>`` (history).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pcf_control_plane.store.keys import LEASE_SK, OBSERVATION_SK, SPEC_SK, particle_pk
from pcf_control_plane.store.models import (
    PENDING,
    HistoryItem,
    Lease,
    Observation,
    ParticleSpec,
    ParticleView,
    SpecSummary,
    StoredSpec,
    Wait,
)
from pcf_control_plane.store.serialization import deserialize_item, serialize, serialize_item
from pcf_control_plane.store.table import (
    CAUSE,
    DEPLOYMENT_KEY,
    OBSERVED_AT,
    PCF_ID,
    PK,
    PURGE_AT,
    QUASIPARTICLE,
    RESOURCE_ID,
    SK,
    SPEC_SUMMARY,
    STATE,
    WAIT_ATTRIBUTES,
    WAIT_FOR,
    WAIT_GENERATION,
    WAIT_OWNER,
    WAIT_TOKEN,
)

LEASE_PURGE_GRACE_SECONDS = 86400
"""Expired lease items are left for DynamoDB TTL to purge this long after expiry (expiry itself is checked)."""


def item_key(pcf_id: str, sort_key: str) -> dict[str, Any]:
    """The primary key of one item of ``pcf_id``."""
    return {PK: serialize(particle_pk(pcf_id)), SK: serialize(sort_key)}


def spec_item(spec: ParticleSpec, generation: int, digest: str, updated_at: float, dep_key: str) -> dict[str, Any]:
    """The whole spec item: the definition is stored here, and only here, as compact JSON.

    A JSON string rather than a map: DynamoDB never filters on it, it round-trips exactly (no Decimal, no
    32-level nesting limit), and it is cheaper to (de)serialize than a deep map.
    """
    return serialize_item({
        PK: particle_pk(spec.pcf_id),
        SK: SPEC_SK,
        PCF_ID: spec.pcf_id,
        "definition": json.dumps(spec.definition, separators=(",", ":")),
        "desired_state": spec.desired_state,
        "deployment": spec.deployment,
        DEPLOYMENT_KEY: dep_key,
        QUASIPARTICLE: spec.quasiparticle,
        "flags": spec.flags.model_dump(),
        "exports": list(spec.exports),
        "generation": generation,
        "spec_hash": digest,
        "updated_at": updated_at,
    })


def spec_from(item: dict[str, Any]) -> StoredSpec:
    """A stored spec from its (low-level) item."""
    data = deserialize_item(item)
    return StoredSpec(
        pcf_id=data[PCF_ID],
        definition=json.loads(data["definition"]),
        desired_state=data["desired_state"],
        deployment=data["deployment"],
        quasiparticle=data.get(QUASIPARTICLE),
        flags=data["flags"],
        exports=tuple(data.get("exports") or ()),
        generation=data["generation"],
        updated_at=data["updated_at"],
    )


def observation_update(
    pcf_id: str,
    observation: Observation,
    *,
    keep_snapshot: bool = False,
    also_set: Mapping[str, Any] | None = None,
    also_remove: Sequence[str] = (),
    and_condition: str | None = None,
    condition_values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """UpdateItem arguments writing ``observation`` only if it is newer than the stored one (with
    ``keep_snapshot``, the stored snapshot stays: an event carries none). ``also_set``/``also_remove``: more
    attributes to set or remove (names used as they are); ``and_condition``: a condition both must hold, in the
    attribute names ``#<name>`` of ``WAIT_ATTRIBUTES`` and ``condition_values``."""
    names = {"#pcf": PCF_ID, "#state": STATE, "#at": OBSERVED_AT, "#cause": CAUSE, "#rid": RESOURCE_ID}
    values: dict[str, Any] = {":pcf": pcf_id, ":state": observation.state, ":at": observation.observed_at,
                              ":cause": observation.cause}
    sets = ["#pcf = :pcf", "#state = :state", "#at = :at", "#cause = :cause"]
    removes = []
    if not keep_snapshot:
        names["#snap"], values[":snap"] = "snapshot", observation.snapshot
        sets.append("#snap = :snap")
    if observation.resource_id is None:
        removes.append("#rid")
    else:
        sets.append("#rid = :rid")
        values[":rid"] = observation.resource_id
    for n, (name, value) in enumerate((also_set or {}).items()):
        names[f"#s{n}"], values[f":s{n}"] = name, value
        sets.append(f"#s{n} = :s{n}")
    for n, name in enumerate(also_remove):
        names[f"#r{n}"] = name
        removes.append(f"#r{n}")
    condition = "(attribute_not_exists(#at) OR #at < :at)"
    if and_condition:
        condition += f" AND ({and_condition})"
        names.update({f"#{name}": name for name in WAIT_ATTRIBUTES if f"#{name}" in and_condition})
        values.update(condition_values or {})
    return {
        "Key": item_key(pcf_id, OBSERVATION_SK),
        "UpdateExpression": update_expression(sets, removes),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": serialize_item(values),
    }


def update_expression(sets: Sequence[str], removes: Sequence[str]) -> str:
    """``SET a, b REMOVE c, d`` (either clause left out when empty)."""
    clauses = [f"SET {', '.join(sets)}" if sets else "", f"REMOVE {', '.join(removes)}" if removes else ""]
    return " ".join(clause for clause in clauses if clause)


def observation_from(item: dict[str, Any]) -> Observation | None:
    """The observation in an observation item; ``None`` for the key-only stub ``put_spec`` leaves."""
    data = deserialize_item(item)
    if OBSERVED_AT not in data:
        return None
    return Observation(
        state=data[STATE],
        observed_at=data[OBSERVED_AT],
        resource_id=data.get(RESOURCE_ID),
        snapshot=data.get("snapshot", {}),
        cause=data[CAUSE],
    )


def listing_update(pcf_id: str, dep_key: str, summary: SpecSummary) -> dict[str, Any]:
    """UpdateItem arguments giving the observation item (a key-only stub if none yet) the spec's listing key
    and summary."""
    return {
        "Key": item_key(pcf_id, OBSERVATION_SK),
        "UpdateExpression": "SET #pcf = :pcf, #dk = :dk, #sum = :sum",
        "ExpressionAttributeNames": {"#pcf": PCF_ID, "#dk": DEPLOYMENT_KEY, "#sum": SPEC_SUMMARY},
        "ExpressionAttributeValues": serialize_item({":pcf": pcf_id, ":dk": dep_key,
                                                     ":sum": summary.model_dump(mode="json")}),
    }


def view_from(item: dict[str, Any]) -> ParticleView | None:
    """What an item of the resource index says of its particle; ``None`` when it holds no spec summary (an
    observation item written before summaries were kept, until the spec is put again)."""
    data = deserialize_item(item)
    if SPEC_SUMMARY not in data:
        return None
    return ParticleView(pcf_id=data[PCF_ID], spec=SpecSummary.model_validate(data[SPEC_SUMMARY]),
                        observation=observation_from(item), wait=wait_from(data))


def wait_from(data: Mapping[str, Any]) -> Wait | None:
    """The wait on a (deserialized) observation item, or ``None`` when none is armed."""
    if WAIT_TOKEN not in data:
        return None
    return Wait(token=data[WAIT_TOKEN], want=data[WAIT_FOR], owner=data[WAIT_OWNER],
                generation=data[WAIT_GENERATION])


def arm_wait_update(pcf_id: str, wait: Wait, resource_id: str) -> dict[str, Any]:
    """UpdateItem arguments of the ``Await`` task (the page machine's ``aws-sdk:dynamodb:updateItem`` sends the
    same, ``tests/control_plane/test_page_machine_await.py`` holds them equal): set the wait only if the observation
    names ``resource_id`` and is still ``pending`` (an event that ended the transition first leaves nothing to
    wait for)."""
    return {
        "Key": item_key(pcf_id, OBSERVATION_SK),
        "UpdateExpression": "SET #wt = :wt, #wf = :wf, #wo = :wo, #wg = :wg",
        "ConditionExpression": "#rid = :rid AND #state = :pending",
        "ExpressionAttributeNames": {"#wt": WAIT_TOKEN, "#wf": WAIT_FOR, "#wo": WAIT_OWNER, "#wg": WAIT_GENERATION,
                                     "#rid": RESOURCE_ID, "#state": STATE},
        "ExpressionAttributeValues": serialize_item({":wt": wait.token, ":wf": wait.want, ":wo": wait.owner,
                                                     ":wg": wait.generation, ":rid": resource_id,
                                                     ":pending": PENDING}),
    }


def lease_free_check(pcf_id: str, now: float) -> dict[str, Any]:
    """A transaction's ConditionCheck that no unexpired lease is held on ``pcf_id`` (the lease is returned
    in the cancellation reasons when one is)."""
    return {
        "Key": item_key(pcf_id, LEASE_SK),
        "ConditionExpression": "attribute_not_exists(#pk) OR #exp <= :now",
        "ExpressionAttributeNames": {"#pk": PK, "#exp": "expires_at"},
        "ExpressionAttributeValues": serialize_item({":now": now}),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def lease_item(pcf_id: str, owner: str, now: float, expires_at: float) -> dict[str, Any]:
    """The lease item, with a TTL well after its expiry."""
    return serialize_item({
        PK: particle_pk(pcf_id), SK: LEASE_SK, PCF_ID: pcf_id, "owner": owner,
        "acquired_at": now, "expires_at": expires_at,
        PURGE_AT: math.ceil(expires_at) + LEASE_PURGE_GRACE_SECONDS,
    })


def lease_from(item: dict[str, Any]) -> Lease:
    """A lease from its item."""
    data = deserialize_item(item)
    return Lease(pcf_id=data[PCF_ID], owner=data["owner"], acquired_at=data["acquired_at"],
                 expires_at=data["expires_at"])


def history_item(item: HistoryItem) -> dict[str, Any]:
    """A history item: sort key ``item.item_id``; a TTL when the item expires."""
    return serialize_item({
        PK: particle_pk(item.pcf_id), SK: item.item_id, PCF_ID: item.pcf_id, "kind": item.kind.value,
        "at": item.at, "cause": item.cause, "detail": item.detail,
        PURGE_AT: None if item.expires_at is None else int(item.expires_at),
    })


def history_from(item: dict[str, Any]) -> HistoryItem:
    """A history item from its table item."""
    data = deserialize_item(item)
    purge = data.get(PURGE_AT)
    return HistoryItem(pcf_id=data[PCF_ID], item_id=data[SK], kind=data["kind"], at=data["at"],
                       cause=data["cause"], detail=data.get("detail", {}),
                       expires_at=None if purge is None else float(purge))
