"""``converge``'s read and commit, and the event handler's wait writes, on DynamoDB (one call each)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pcf_control_plane.store import items, run_items
from pcf_control_plane.store.converge import CommitResult, ConvergeCommit, Family, ParticleState, variant_token
from pcf_control_plane.store.dynamodb_io import ConditionFailed, DynamoIO
from pcf_control_plane.store.errors import ConflictError, StoreError
from pcf_control_plane.store.keys import LEASE_SK, OBSERVATION_SK, SPEC_SK, HistoryIds, history_expiry, pcf_id_of
from pcf_control_plane.store.models import HistoryItem, HistoryKind, Observation, RecordResult, Wait
from pcf_control_plane.store.serialization import deserialize_item, serialize_item
from pcf_control_plane.store.table import (
    CONVERGED_BY,
    OBSERVED_AT,
    PK,
    SK,
    WAIT_ATTRIBUTES,
    WAIT_OWNER,
    WAIT_TOKEN,
)

FAILED = "ConditionalCheckFailed"


class DynamoConverge:
    """The per-particle reads and transactions of ``converge`` and of the event handler's waits."""

    def __init__(self, io: DynamoIO, clock: Callable[[], float], history_ttl_seconds: float | None,
                 history_ids: HistoryIds, max_attempts: int) -> None:
        self._io = io
        self._table = io.table_name
        self._clock = clock
        self._history_ttl = history_ttl_seconds
        self._history_ids = history_ids
        self._max_attempts = max_attempts

    # reading -----------------------------------------------------------------------------------

    def read_family(self, pcf_id: str, parents: Iterable[str]) -> Family:
        """One consistent BatchGetItem (100 keys a call): own SPEC/OBS/LEASE, each parent's SPEC/OBS."""
        parent_ids = [pid for pid in dict.fromkeys(parents) if pid != pcf_id]
        keys = [items.item_key(pcf_id, sk) for sk in (SPEC_SK, OBSERVATION_SK, LEASE_SK)]
        keys += [items.item_key(pid, sk) for pid in parent_ids for sk in (SPEC_SK, OBSERVATION_SK)]
        found: dict[str, list[dict[str, Any]]] = {}
        for item in self._io.batch_get(keys):
            found.setdefault(pcf_id_of(item[PK]["S"]), []).append(item)
        return Family(particle=self._state(pcf_id, found.get(pcf_id, [])),
                      parents={pid: self._state(pid, found.get(pid, [])) for pid in parent_ids})

    def read_states(self, pcf_ids: Iterable[str]) -> dict[str, ParticleState]:
        """One consistent BatchGetItem (100 keys a call): each particle's SPEC and OBS."""
        ids = list(dict.fromkeys(pcf_ids))
        found: dict[str, list[dict[str, Any]]] = {}
        for item in self._io.batch_get([items.item_key(pid, sk) for pid in ids for sk in (SPEC_SK, OBSERVATION_SK)]):
            found.setdefault(pcf_id_of(item[PK]["S"]), []).append(item)
        return {pid: self._state(pid, found.get(pid, [])) for pid in ids}

    def _state(self, pcf_id: str, found: list[dict[str, Any]]) -> ParticleState:
        fields: dict[str, Any] = {}
        for item in found:
            sort_key = item[SK]["S"]
            if sort_key == SPEC_SK:
                fields["spec"] = items.spec_from(item)
            elif sort_key == OBSERVATION_SK:
                data = deserialize_item(item)
                fields.update(observation=items.observation_from(item), wait=items.wait_from(data),
                              converged_by=data.get(CONVERGED_BY))
            elif sort_key == LEASE_SK:
                lease = items.lease_from(item)
                fields["lease"] = lease if lease.expires_at > self._clock() else None
        return ParticleState(pcf_id=pcf_id, **fields)

    # the converge commit -----------------------------------------------------------------------

    def commit(self, commit: ConvergeCommit) -> CommitResult:
        """One TransactWriteItems under ``commit.token``. A refused observation (stale) or lease (another
        execution's) is left out of a second transaction under a variant token; a conflict sends it again."""
        with_observation, with_lease, token = True, commit.release_lease, commit.token
        for attempt in range(1, self._max_attempts + 1):
            writes = self._commit_writes(commit, with_observation, with_lease)
            try:
                self._io.call("transact_write_items", TransactItems=writes, ClientRequestToken=token)
            except ConditionFailed as refused:
                codes = [reason.get("Code") for reason in refused.reasons]
                if FAILED in codes:
                    if not (with_observation and codes[0] == FAILED) and not (with_lease and codes[-1] == FAILED):
                        raise StoreError(f"commit of {commit.pcf_id} refused: {codes}") from refused
                    with_observation = with_observation and codes[0] != FAILED
                    with_lease = with_lease and codes[-1] != FAILED
                token = variant_token(commit.token, f"{int(with_observation)}{int(with_lease)}#{attempt}")
                continue
            return CommitResult(observation="recorded" if with_observation else "stale", lease_released=with_lease)
        raise ConflictError(f"commit of {commit.pcf_id} met {self._max_attempts} conflicting transactions in a row")

    def _commit_writes(self, commit: ConvergeCommit, with_observation: bool, with_lease: bool) -> list[dict[str, Any]]:
        """The OBS update first, the lease delete last (so cancellation reasons say which one was refused)."""
        converged = {CONVERGED_BY: commit.execution} if commit.converged else {}
        if with_observation:
            update = items.observation_update(commit.pcf_id, commit.observation, also_set=converged,
                                              also_remove=WAIT_ATTRIBUTES)
        else:
            update = _plain_update(commit.pcf_id, converged, WAIT_ATTRIBUTES)
        writes: list[dict[str, Any]] = [{"Update": {"TableName": self._table, **update}}]
        writes += [{"Put": {"TableName": self._table, "Item": items.history_item(item)}}
                   for item in commit.history_items(self._history_ttl)]
        if commit.created:
            writes.append({"Put": {"TableName": self._table, "Item": run_items.created_item(
                commit.execution, commit.pcf_id, commit.observation.observed_at)}})
        if with_lease:
            writes.append({"Delete": {"TableName": self._table, **_lease_delete(commit.pcf_id, commit.execution)}})
        return writes

    # waits -------------------------------------------------------------------------------------

    def arm_wait(self, pcf_id: str, wait: Wait, resource_id: str) -> bool:
        """The ``Await`` task's UpdateItem."""
        try:
            self._io.call("update_item", TableName=self._table, **items.arm_wait_update(pcf_id, wait, resource_id))
        except ConditionFailed:
            return False
        return True

    def clear_wait(self, pcf_id: str, owner: str, token: str | None = None) -> bool:
        """One conditional UpdateItem removing the wait attributes."""
        request = _plain_update(pcf_id, {}, WAIT_ATTRIBUTES)
        request["ConditionExpression"] = "#owner = :owner" + (" AND #token = :token" if token is not None else "")
        request["ExpressionAttributeNames"].update({"#owner": WAIT_OWNER, **({"#token": WAIT_TOKEN} if token else {})})
        request["ExpressionAttributeValues"] = serialize_item({":owner": owner, **({":token": token} if token else {})})
        try:
            self._io.call("update_item", TableName=self._table, **request)
        except ConditionFailed:
            return False
        return True

    def resolve(self, pcf_id: str, observation: Observation, wait: Wait, detail: Mapping[str, Any]) -> RecordResult:
        """One TransactWriteItems: OBS (newer wins, ``wait_token`` unchanged, ``converged_by``), LEASE delete
        (the waiting execution's, or none), history ``observation`` and ``lease``."""
        update = items.observation_update(pcf_id, observation, keep_snapshot=True,
                                          also_set={CONVERGED_BY: wait.owner}, and_condition=f"#{WAIT_TOKEN} = :seen",
                                          condition_values={":seen": wait.token})
        writes: list[dict[str, Any]] = [
            {"Update": {"TableName": self._table, **update, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"Delete": {"TableName": self._table, **_lease_delete(pcf_id, wait.owner),
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        ]
        for kind, item_detail in ((HistoryKind.observation, {**detail, "run": wait.owner}),
                                  (HistoryKind.lease, {"acquired": False, "run": wait.owner})):
            writes.append({"Put": {"TableName": self._table, "Item": items.history_item(self._history(
                pcf_id, kind, item_detail, observation))}})
        for _ in range(self._max_attempts):
            try:
                self._io.call("transact_write_items", TransactItems=writes)
            except ConditionFailed as refused:
                codes = [reason.get("Code") for reason in refused.reasons]
                if codes and codes[0] == FAILED:
                    return observation_refusal(refused.reasons[0].get("Item"), observation)
                if len(codes) > 1 and codes[1] == FAILED:
                    held = refused.reasons[1].get("Item")
                    return RecordResult(status="leased", lease=items.lease_from(held) if held else None)
                continue  # a conflicting transaction: nothing was written, try again
            return RecordResult(status="recorded")
        raise ConflictError(f"resolve_wait({pcf_id}) met {self._max_attempts} conflicting transactions in a row")

    def _history(self, pcf_id: str, kind: HistoryKind, detail: dict[str, Any],
                 observation: Observation) -> HistoryItem:
        at = observation.observed_at
        return HistoryItem(pcf_id=pcf_id, item_id=self._history_ids.next(at), kind=kind, at=at,
                           cause=observation.cause, detail=detail, expires_at=history_expiry(at, self._history_ttl))


def wait_condition(wait_token: str | None) -> tuple[str, dict[str, Any]]:
    """The extra condition of a write that expects the wait ``wait_token`` (or none) to be armed, or none."""
    absent = f"attribute_not_exists(#{WAIT_TOKEN})"
    if wait_token is None:
        return absent, {}
    return f"{absent} OR #{WAIT_TOKEN} = :seen", {":seen": wait_token}


def observation_refusal(old: dict[str, Any] | None, observation: Observation) -> RecordResult:
    """Why an observation update that also checked the wait was refused, from the item it found (``ALL_OLD``):
    ``stale`` when it holds an observation as new or newer, else ``wait_changed`` with the armed wait."""
    data = deserialize_item(old) if old else {}
    if data.get(OBSERVED_AT, float("-inf")) >= observation.observed_at:
        return RecordResult(status="stale")
    return RecordResult(status="wait_changed", wait=items.wait_from(data))


def _plain_update(pcf_id: str, sets: Mapping[str, Any], removes: Iterable[str]) -> dict[str, Any]:
    """An unconditional UpdateItem of the observation item setting and removing attributes."""
    names = {f"#s{n}": name for n, name in enumerate(sets)}
    removed = {f"#r{n}": name for n, name in enumerate(removes)}
    request: dict[str, Any] = {
        "Key": items.item_key(pcf_id, OBSERVATION_SK),
        "UpdateExpression": items.update_expression([f"{key} = :s{n}" for n, key in enumerate(names)], list(removed)),
        "ExpressionAttributeNames": {**names, **removed},
    }
    if sets:
        values = {f":s{n}": value for n, value in enumerate(sets.values())}
        request["ExpressionAttributeValues"] = serialize_item(values)
    return request


def _lease_delete(pcf_id: str, owner: str) -> dict[str, Any]:
    """Delete the lease if ``owner`` holds it (expired or not) or nobody does."""
    return {
        "Key": items.item_key(pcf_id, LEASE_SK),
        "ConditionExpression": "attribute_not_exists(#pk) OR #owner = :owner",
        "ExpressionAttributeNames": {"#pk": PK, "#owner": "owner"},
        "ExpressionAttributeValues": serialize_item({":owner": owner}),
    }
