"""``DynamoDBStateStore``: the ``StateStore`` contract on one DynamoDB table (see ``docs/state-store.md``)."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from pcf_control_plane.store import items, run_items
from pcf_control_plane.store.converge import CommitResult, ConvergeCommit, Family, ParticleState
from pcf_control_plane.store.dynamodb_converge import DynamoConverge, observation_refusal, wait_condition
from pcf_control_plane.store.dynamodb_io import ConditionFailed, DynamoIO
from pcf_control_plane.store.dynamodb_runs import DynamoRuns
from pcf_control_plane.store.errors import ConflictError, IndexNotReadyError, StoreError
from pcf_control_plane.store.interface import (
    DEFAULT_FIRST_FAILURES,
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_PAGE_LISTING,
    DEFAULT_PAGE_SIZE,
    DEFAULT_RUN_ITEMS,
    WAIT_UNCHECKED,
    StateStore,
    WaitExpectation,
    check_limit,
    check_page_size,
    check_ttl,
    plan_detail,
)
from pcf_control_plane.store.keys import (
    HISTORY_PREFIX,
    LEASE_SK,
    OBSERVATION_SK,
    SPEC_SK,
    HistoryIds,
    deployment_key,
    history_expiry,
    listing_key,
    particle_pk,
    pcf_id_of,
    run_pk,
)
from pcf_control_plane.store.listing import RUN_ITEM_MAX_BYTES, ListingRange, check_run_item_key
from pcf_control_plane.store.models import (
    HistoryItem,
    HistoryKind,
    Lease,
    Observation,
    ParticleRecord,
    ParticleSpec,
    ParticleView,
    RecordResult,
    SpecSummary,
    StoredSpec,
    Wait,
)
from pcf_control_plane.store.runs import LevelFailures, PageListing, RunFailure, RunMeta, RunPage
from pcf_control_plane.store.serialization import deserialize_item, serialize, serialize_item
from pcf_control_plane.store.table import (
    BY_DEPLOYMENT,
    BY_QUASIPARTICLE,
    BY_RESOURCE,
    BY_RESOURCE2,
    DEPLOYMENT_KEY,
    OBSERVED_AT,
    PCF_ID,
    PK,
    PURGE_AT,
    QUASIPARTICLE,
    RESOURCE_ID,
    SK,
    SPEC_SUMMARY,
)


class DynamoDBStateStore(StateStore):
    """The state store on a DynamoDB table, through an injected boto3 DynamoDB client.

    ``shards`` spreads each deployment's listing partition over that many GSI partitions (every writer
    and reader of a table must use the same number). ``query_limit`` caps the items of one Query page
    (``None``: DynamoDB's 1 MB pages). ``sleep`` paces retries of unprocessed batch keys.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        history_ttl_seconds: float | None = None,
        shards: int = 1,
        query_limit: int | None = None,
        max_attempts: int = 8,
    ) -> None:
        if shards < 1:
            raise ValueError("shards must be at least 1")
        if query_limit is not None and query_limit < 1:
            raise ValueError("query_limit must be at least 1")
        self._io = DynamoIO(client, table_name, sleep, max_attempts=max_attempts)
        self._table = table_name
        self._clock = clock
        self._history_ttl = history_ttl_seconds
        self._shards = shards
        self._query_limit = query_limit
        self._max_attempts = max_attempts
        self._history_ids = HistoryIds()
        self._runs = DynamoRuns(self._io, clock, history_ttl_seconds)
        self._converge = DynamoConverge(self._io, clock, history_ttl_seconds, self._history_ids, max_attempts)

    # desired specs ------------------------------------------------------------------------------

    def put_spec(self, spec: ParticleSpec) -> int:
        digest = spec.content_hash()
        dep_key = deployment_key(spec.deployment, spec.pcf_id, self._shards)
        summary = spec.summary()
        for _ in range(self._max_attempts):
            current, observed = self._spec_and_observation(spec.pcf_id, SPEC_READ)
            if _listing_stale(observed, dep_key, summary):
                self._set_listing(spec.pcf_id, dep_key, summary)
            generation, changed = _generation(current, digest)
            if not changed:
                return generation
            try:
                self._io.call("put_item", **self._spec_put(spec, generation, digest, dep_key, current))
            except ConditionFailed:
                continue  # another writer changed the spec between the read and the write: read again
            return generation
        raise ConflictError(f"put_spec({spec.pcf_id}) lost {self._max_attempts} races in a row")

    def plan_specs(self, specs: Sequence[ParticleSpec], execution: str) -> dict[str, int]:
        """One consistent read of every spec and observation (BatchGetItem, 50 particles a call), then per particle
        one write: a transaction of its listing (when it changed), its spec (when it changed, on condition that no
        generation was written since the read) and its ``plan`` history item, or the history item alone. A
        particle whose condition fails (another writer) is written again as ``put_spec`` does."""
        keys = [items.item_key(spec.pcf_id, sort_key) for spec in specs for sort_key in (SPEC_SK, OBSERVATION_SK)]
        read = self._io.batch_get(keys, projection=(PK, SK, *SPEC_READ))
        found = {(item[PK], item[SK]): item for item in map(deserialize_item, read)}
        generations: dict[str, int] = {}
        for spec in specs:
            pk = particle_pk(spec.pcf_id)
            generation = self._plan_one(spec, execution, found.get((pk, SPEC_SK)), found.get((pk, OBSERVATION_SK)))
            if generation is None:  # lost a race: read and write it alone
                generation = self.put_spec(spec)
                self.add_history(spec.pcf_id, HistoryKind.plan, plan_detail(spec, generation), execution)
            generations[spec.pcf_id] = generation
        return generations

    def _plan_one(self, spec: ParticleSpec, execution: str, current: dict[str, Any] | None,
                  observed: dict[str, Any] | None) -> int | None:
        """``spec`` and its plan item in one write, from what was read; ``None`` when a condition failed."""
        digest = spec.content_hash()
        dep_key = deployment_key(spec.deployment, spec.pcf_id, self._shards)
        summary = spec.summary()
        writes: list[dict[str, Any]] = []
        if _listing_stale(observed, dep_key, summary):
            writes.append({"Update": {"TableName": self._table,
                                      **items.listing_update(spec.pcf_id, dep_key, summary)}})
        generation, changed = _generation(current, digest)
        if changed:
            writes.append({"Put": self._spec_put(spec, generation, digest, dep_key, current)})
        now = self._clock()
        plan = HistoryItem(item_id=self._history_ids.next(now), pcf_id=spec.pcf_id, kind=HistoryKind.plan, at=now,
                           cause=execution, detail=plan_detail(spec, generation),
                           expires_at=history_expiry(now, self._history_ttl))
        history = {"TableName": self._table, "Item": items.history_item(plan),
                   "ConditionExpression": "attribute_not_exists(#sk)", "ExpressionAttributeNames": {"#sk": SK}}
        try:
            if writes:
                self._io.call("transact_write_items", TransactItems=[*writes, {"Put": history}])
            else:
                self._io.call("put_item", **history)
        except ConditionFailed:
            return None
        return generation

    def _spec_put(
        self, spec: ParticleSpec, generation: int, digest: str, dep_key: str, current: dict[str, Any] | None
    ) -> dict[str, Any]:
        """PutItem arguments for the spec item, on condition that nobody wrote a generation since the read."""
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": items.spec_item(spec, generation, digest, self._clock(), dep_key),
        }
        if current is None:
            put.update(ConditionExpression="attribute_not_exists(#pk)", ExpressionAttributeNames={"#pk": PK})
        else:
            put.update(ConditionExpression="#gen = :gen", ExpressionAttributeNames={"#gen": "generation"},
                       ExpressionAttributeValues={":gen": serialize(current["generation"])})
        return put

    def _set_listing(self, pcf_id: str, dep_key: str, summary: SpecSummary) -> None:
        """Give the observation item (a key-only stub if none yet) the spec's listing key, so listings return
        both, and its summary, so the resource index answers an event alone.

        Written before the spec, and re-checked by every ``put_spec``: a retried put repairs an interrupted one,
        and a writer that lost the race for the spec writes its summary again with its next attempt.
        """
        self._io.call("update_item", TableName=self._table, **items.listing_update(pcf_id, dep_key, summary))

    def get_spec(self, pcf_id: str) -> StoredSpec | None:
        item = self._get_raw(pcf_id, SPEC_SK)
        return items.spec_from(item) if item else None

    def members_of(self, quasiparticle: str) -> list[str]:
        found = self._io.query_items(
            IndexName=BY_QUASIPARTICLE, KeyConditionExpression="#q = :q",
            ExpressionAttributeNames={"#q": QUASIPARTICLE}, ExpressionAttributeValues={":q": serialize(quasiparticle)},
        )
        return [item[PCF_ID]["S"] for item in found]

    # observations ------------------------------------------------------------------------------

    def record_observation(self, pcf_id: str, observation: Observation) -> bool:
        try:
            self._io.call("update_item", TableName=self._table, **items.observation_update(pcf_id, observation))
        except ConditionFailed:
            return False
        return True

    def get_observation(self, pcf_id: str) -> Observation | None:
        item = self._get_raw(pcf_id, OBSERVATION_SK)
        return items.observation_from(item) if item else None

    def find_by_resource_id(self, resource_id: str) -> str | None:
        found, _ = self._by_resource(resource_id)
        return _newest(found)[PCF_ID]["S"] if found else None

    def _by_resource(self, resource_id: str) -> tuple[list[dict[str, Any]], bool]:
        """The index items naming ``resource_id``, from ``by_resource2``; while that index is not readable
        (backfilling after the deploy that adds it), from ``by_resource`` (``False``: no wait attributes)."""
        query = {"KeyConditionExpression": "#rid = :rid", "ExpressionAttributeNames": {"#rid": RESOURCE_ID},
                 "ExpressionAttributeValues": {":rid": serialize(resource_id)}}
        try:
            return list(self._io.query_items(IndexName=BY_RESOURCE2, **query)), True
        except IndexNotReadyError:
            return list(self._io.query_items(IndexName=BY_RESOURCE, **query)), False

    # events --------------------------------------------------------------------------------------

    def view_by_resource_id(self, resource_id: str) -> ParticleView | None:
        """One query of the resource index, which holds the observation, the spec summary and the wait (the
        newest observation wins if two name the resource). An item without a summary (written before summaries
        were kept), or one found in the old index while the new one backfills, is read from the particle's own
        items (one BatchGetItem more)."""
        found, with_wait = self._by_resource(resource_id)
        if not found:
            return None
        newest = _newest(found)
        return (items.view_from(newest) if with_wait else None) or self._view_of(newest[PCF_ID]["S"])

    def _view_of(self, pcf_id: str) -> ParticleView:
        state = self.read_family(pcf_id, ()).particle
        return ParticleView(pcf_id=pcf_id, spec=state.spec.summary() if state.spec else None,
                            observation=state.observation, wait=state.wait)

    def _wait_of(self, pcf_id: str) -> Wait | None:
        return self.read_family(pcf_id, ()).particle.wait

    def record_observed(
        self,
        pcf_id: str,
        observation: Observation,
        kind: HistoryKind | str,
        detail: Mapping[str, Any],
        also: Sequence[tuple[HistoryKind | str, Mapping[str, Any]]] = (),
        *,
        unless_leased: bool = False,
        wait_token: WaitExpectation = WAIT_UNCHECKED,
    ) -> RecordResult:
        """One ``TransactWriteItems``: the observation (newer wins, snapshot kept, and the wait condition when
        ``wait_token`` is given), its history items and, with ``unless_leased``, a check that no lease is held;
        all of it, or nothing."""
        when = observation.observed_at
        checked = wait_token is not WAIT_UNCHECKED
        condition, values = wait_condition(None if wait_token is WAIT_UNCHECKED else wait_token)
        update = items.observation_update(pcf_id, observation, keep_snapshot=True,
                                          and_condition=condition if checked else None, condition_values=values)
        if checked:
            update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        writes: list[dict[str, Any]] = [{"Update": {"TableName": self._table, **update}}]
        for item_kind, item_detail in ((kind, detail), *also):
            item = HistoryItem(pcf_id=pcf_id, item_id=self._history_ids.next(when), kind=HistoryKind(item_kind),
                               at=when, cause=observation.cause, detail=copy.deepcopy(dict(item_detail)),
                               expires_at=history_expiry(when, self._history_ttl))
            writes.append({"Put": {"TableName": self._table, "Item": items.history_item(item)}})
        if unless_leased:
            writes.append({"ConditionCheck": {"TableName": self._table,
                                              **items.lease_free_check(pcf_id, self._clock())}})
        for _ in range(self._max_attempts):
            try:
                self._io.call("transact_write_items", TransactItems=writes)
            except ConditionFailed as refused:
                if not _conflict_only(refused.reasons):
                    if checked and refused.reasons and refused.reasons[0].get("Code") == "ConditionalCheckFailed":
                        return observation_refusal(refused.reasons[0].get("Item"), observation)
                    return _refusal(refused.reasons, unless_leased)
                continue  # another transaction was writing the same item: nothing was written, try again
            return RecordResult(status="recorded")
        raise ConflictError(f"record_observed({pcf_id}) met {self._max_attempts} conflicting transactions in a row")

    # reading particles together ------------------------------------------------------------------

    def get_many(self, pcf_ids: Iterable[str]) -> dict[str, ParticleRecord]:
        ids = list(dict.fromkeys(pcf_ids))
        keys = [items.item_key(pid, sk) for pid in ids for sk in (SPEC_SK, OBSERVATION_SK)]
        by_pcf_id: dict[str, list[dict[str, Any]]] = {}
        for item in self._io.batch_get(keys):
            by_pcf_id.setdefault(pcf_id_of(item[PK]["S"]), []).append(item)
        records = (_record(pid, by_pcf_id[pid]) for pid in ids if pid in by_pcf_id)
        return {record.pcf_id: record for record in records if record.spec or record.observation}

    def list_particles(self, deployment: str, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[list[ParticleRecord]]:
        check_page_size(page_size)
        batch: list[ParticleRecord] = []
        for shard in range(self._shards):
            for record in self._shard_records(listing_key(deployment, shard)):
                batch.append(record)
                if len(batch) == page_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def listing_ranges(self, deployment: str, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[ListingRange]:
        check_page_size(page_size)
        for shard in range(self._shards):
            query = self._listing_query(listing_key(deployment, shard))
            query["ProjectionExpression"] = "#pid"
            query["ExpressionAttributeNames"]["#pid"] = PCF_ID
            ids: list[str] = []
            for item in self._io.query_items(**query):
                pcf_id = item[PCF_ID]["S"]
                if ids and ids[-1] == pcf_id:
                    continue  # the spec and the observation of one particle are adjacent
                if len(ids) == page_size:
                    yield ListingRange(shard=shard, first=ids[0], last=ids[-1], count=len(ids))
                    ids = []
                ids.append(pcf_id)
            if ids:
                yield ListingRange(shard=shard, first=ids[0], last=ids[-1], count=len(ids))

    def list_range(self, deployment: str, listed: ListingRange) -> list[ParticleRecord]:
        if listed.shard >= self._shards:
            raise ValueError(f"shard {listed.shard}: this table's listing has {self._shards} shard(s)")
        return list(self._shard_records(listing_key(deployment, listed.shard), (listed.first, listed.last)))

    def _listing_query(self, dep_key: str, between: tuple[str, str] | None = None) -> dict[str, Any]:
        query: dict[str, Any] = {
            "IndexName": BY_DEPLOYMENT,
            "KeyConditionExpression": "#dk = :dk",
            "ExpressionAttributeNames": {"#dk": DEPLOYMENT_KEY},
            "ExpressionAttributeValues": {":dk": serialize(dep_key)},
        }
        if between is not None:
            query["KeyConditionExpression"] += " AND #id BETWEEN :first AND :last"
            query["ExpressionAttributeNames"]["#id"] = PCF_ID
            query["ExpressionAttributeValues"].update({":first": serialize(between[0]), ":last": serialize(between[1])})
        if self._query_limit is not None:
            query["Limit"] = self._query_limit
        return query

    def _shard_records(self, dep_key: str, between: tuple[str, str] | None = None) -> Iterator[ParticleRecord]:
        """The records of one listing partition (those from ``between[0]`` to ``between[1]``): its items come
        sorted by pcf_id, spec and observation adjacent."""
        query = self._listing_query(dep_key, between)
        group: list[dict[str, Any]] = []
        for item in self._io.query_items(**query):
            if group and group[0][PCF_ID]["S"] != item[PCF_ID]["S"]:
                yield from _listed(group)
                group = []
            group.append(item)
        yield from _listed(group)

    def delete_particle(self, pcf_id: str) -> None:
        for sort_key in (SPEC_SK, OBSERVATION_SK, LEASE_SK):  # the spec first: it is what makes a particle listed
            self._io.call("delete_item", TableName=self._table, Key=items.item_key(pcf_id, sort_key))

    # converge and waits -------------------------------------------------------------------------

    def read_family(self, pcf_id: str, parents: Iterable[str]) -> Family:
        return self._converge.read_family(pcf_id, parents)

    def commit_converge(self, commit: ConvergeCommit) -> CommitResult:
        return self._converge.commit(commit)

    def read_states(self, pcf_ids: Iterable[str]) -> dict[str, ParticleState]:
        return self._converge.read_states(pcf_ids)

    def arm_wait(self, pcf_id: str, wait: Wait, resource_id: str) -> bool:
        return self._converge.arm_wait(pcf_id, wait, resource_id)

    def clear_wait(self, pcf_id: str, owner: str, token: str | None = None) -> bool:
        return self._converge.clear_wait(pcf_id, owner, token)

    def resolve_wait(self, pcf_id: str, observation: Observation, wait: Wait,
                     detail: Mapping[str, Any]) -> RecordResult:
        return self._converge.resolve(pcf_id, observation, wait, detail)

    # run partitions ----------------------------------------------------------------------------

    def put_run(self, meta: RunMeta, pages: Sequence[RunPage]) -> None:
        self._runs.put(meta, pages)

    def put_page(self, execution: str, page: RunPage) -> None:
        self._runs.put_page(execution, page)

    def get_run(self, execution: str) -> RunMeta | None:
        return self._runs.meta(execution)

    def set_rolling_back(self, execution: str, rolling_back: bool = True) -> bool:
        return self._runs.set_rolling_back(execution, rolling_back)

    def get_page(self, execution: str, phase: str, level: int, page: int) -> RunPage | None:
        return self._runs.page(execution, phase, level, page)

    def set_page_generations(self, execution: str, phase: str, level: int, page: int,
                             gens: Mapping[str, int]) -> bool:
        return self._runs.set_generations(execution, phase, level, page, gens)

    def list_pages(self, execution: str, cursor: str | None = None,
                   limit: int = DEFAULT_PAGE_LISTING) -> PageListing:
        check_page_size(limit)
        return self._runs.list(execution, cursor, limit)

    def record_failure(self, execution: str, failure: RunFailure, cause: str | None = None) -> HistoryItem:
        return self._runs.record_failure(execution, failure, cause)

    def level_failures(self, execution: str, phase: str, level: int,
                       first: int = DEFAULT_FIRST_FAILURES) -> LevelFailures:
        check_limit(first)
        return self._runs.failures(execution, phase, level, first)

    def failed_marks(self, execution: str, phase: str, level: int, pcf_ids: Iterable[str]) -> set[str]:
        return self._runs.failed(execution, phase, level, pcf_ids)

    def created_marks(self, execution: str, pcf_ids: Iterable[str]) -> set[str]:
        return self._runs.created(execution, pcf_ids)

    def put_run_items(self, execution: str, documents: Mapping[str, Mapping[str, Any]]) -> None:
        now = self._clock()
        written = []
        for sort_key, document in documents.items():
            check_run_item_key(sort_key)
            text = json.dumps(document, separators=(",", ":"), sort_keys=True)
            if len(text) > RUN_ITEM_MAX_BYTES:
                raise ValueError(f"run item {sort_key} is over {RUN_ITEM_MAX_BYTES:,} bytes")
            written.append({**run_items.run_key(execution, sort_key), "doc": serialize(text),
                            PURGE_AT: serialize(run_items.purge_at(now))})
        self._io.batch_write(written)

    def get_run_items(self, execution: str, sort_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        keys = [run_items.run_key(execution, key) for key in dict.fromkeys(sort_keys)]
        found = self._io.batch_get(keys, projection=(SK, "doc"))
        return {item[SK]["S"]: json.loads(item["doc"]["S"]) for item in found}

    def query_run_items(self, execution: str, prefix: str, cursor: str | None = None,
                        limit: int = DEFAULT_RUN_ITEMS) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
        check_limit(limit)
        request: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": serialize_item({":pk": run_pk(execution), ":prefix": prefix}),
            "Limit": limit, "ConsistentRead": True,
        }
        if cursor is not None:
            request["ExclusiveStartKey"] = run_items.run_key(execution, cursor)
        answer = self._io.call("query", **request)
        found = [(item[SK]["S"], json.loads(item["doc"]["S"])) for item in answer.get("Items", [])]
        last = answer.get("LastEvaluatedKey")
        return found, last[SK]["S"] if last else None

    # leases --------------------------------------------------------------------------------------

    def acquire_lease(self, pcf_id: str, owner: str, ttl_seconds: float) -> bool:
        check_ttl(ttl_seconds)
        now = self._clock()
        try:
            self._io.call(
                "put_item", TableName=self._table, Item=items.lease_item(pcf_id, owner, now, now + ttl_seconds),
                ConditionExpression="attribute_not_exists(#pk) OR #exp <= :now OR #owner = :owner",
                ExpressionAttributeNames={"#pk": PK, "#exp": "expires_at", "#owner": "owner"},
                ExpressionAttributeValues=serialize_item({":now": now, ":owner": owner}),
            )
        except ConditionFailed:
            return False
        return True

    def release_lease(self, pcf_id: str, owner: str) -> bool:
        try:
            self._io.call(
                "delete_item", TableName=self._table, Key=items.item_key(pcf_id, LEASE_SK),
                ConditionExpression="#owner = :owner", ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": serialize(owner)},
            )
        except ConditionFailed:
            return False
        return True

    def current_lease(self, pcf_id: str) -> Lease | None:
        item = self._get_raw(pcf_id, LEASE_SK)
        if not item:
            return None
        lease = items.lease_from(item)
        return lease if lease.expires_at > self._clock() else None

    # history -------------------------------------------------------------------------------------

    def add_history(
        self,
        pcf_id: str,
        kind: HistoryKind | str,
        detail: Mapping[str, Any],
        cause: str,
        *,
        at: float | None = None,
    ) -> HistoryItem:
        when = self._clock() if at is None else at
        for _ in range(self._max_attempts):
            item = HistoryItem(item_id=self._history_ids.next(when), pcf_id=pcf_id, kind=HistoryKind(kind), at=when,
                               cause=cause, detail=copy.deepcopy(dict(detail)),
                               expires_at=history_expiry(when, self._history_ttl))
            try:
                self._io.call("put_item", TableName=self._table, Item=items.history_item(item),
                              ConditionExpression="attribute_not_exists(#sk)", ExpressionAttributeNames={"#sk": SK})
            except ConditionFailed:
                continue  # the same id was taken (vanishingly rare): draw another tie-breaker
            return item
        raise StoreError(f"add_history({pcf_id}) found no free item id")

    def list_history(
        self, pcf_id: str, limit: int = DEFAULT_HISTORY_LIMIT, newest_first: bool = True
    ) -> list[HistoryItem]:
        check_limit(limit)
        found = self._io.query_items(
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :h)",
            ExpressionAttributeNames={"#pk": PK, "#sk": SK},
            ExpressionAttributeValues=serialize_item({":pk": particle_pk(pcf_id), ":h": HISTORY_PREFIX}),
            ScanIndexForward=not newest_first, Limit=limit, ConsistentRead=True,
        )
        history: list[HistoryItem] = []
        for item in found:
            history.append(items.history_from(item))
            if len(history) == limit:
                break
        return history

    # reading one particle ----------------------------------------------------------------------------

    def _spec_and_observation(
        self, pcf_id: str, projection: tuple[str, ...]
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The projected attributes of the spec and the observation items (``None`` for a missing one).

        Two point reads in one consistent BatchGetItem.
        """
        keys = [items.item_key(pcf_id, sort_key) for sort_key in (SPEC_SK, OBSERVATION_SK)]
        raw = self._io.batch_get(keys, projection=(SK, *projection))
        found = {item[SK]: item for item in map(deserialize_item, raw)}
        return found.get(SPEC_SK), found.get(OBSERVATION_SK)

    def _get_raw(self, pcf_id: str, sort_key: str) -> dict[str, Any] | None:
        request = {"TableName": self._table, "Key": items.item_key(pcf_id, sort_key), "ConsistentRead": True}
        return self._io.call("get_item", **request).get("Item")


SPEC_READ = ("generation", "spec_hash", DEPLOYMENT_KEY, SPEC_SUMMARY)
"""What ``put_spec`` and ``plan_specs`` read of a particle's spec and observation items."""


def _listing_stale(observed: dict[str, Any] | None, dep_key: str, summary: SpecSummary) -> bool:
    """Does the observation item (as read) lack the spec's listing key or summary?"""
    return observed is None or (observed.get(DEPLOYMENT_KEY), observed.get(SPEC_SUMMARY)) != (
        dep_key, summary.model_dump(mode="json"))


def _generation(current: dict[str, Any] | None, digest: str) -> tuple[int, bool]:
    """The generation a spec with ``digest`` gets over the stored one (as read), and whether it is a new one."""
    if current is not None and current["spec_hash"] == digest:
        return int(current["generation"]), False
    return (int(current["generation"]) + 1 if current else 1), True


def _newest(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The index item with the newest observation (then the greatest pcf_id)."""
    return max(found, key=lambda item: (float(item.get(OBSERVED_AT, {}).get("N", 0)), item[PCF_ID]["S"]))


def _conflict_only(reasons: list[dict[str, Any]]) -> bool:
    """A transaction cancelled only because another one was writing its items (no condition failed)."""
    codes = {reason.get("Code") for reason in reasons}
    return "TransactionConflict" in codes and "ConditionalCheckFailed" not in codes


def _refusal(reasons: list[dict[str, Any]], lease_checked: bool) -> RecordResult:
    """Why ``record_observed``'s transaction was cancelled: the observation's condition (``stale``, first:
    an older event is not news, lease or not), else the lease check (its item, the last one, is returned)."""
    codes = [reason.get("Code") for reason in reasons]
    if lease_checked and codes and codes[-1] == "ConditionalCheckFailed" and codes[0] != "ConditionalCheckFailed":
        held = reasons[-1].get("Item")
        return RecordResult(status="leased", lease=items.lease_from(held) if held else None)
    return RecordResult(status="stale")


def _record(pcf_id: str, found: list[dict[str, Any]]) -> ParticleRecord:
    """One particle's record from its spec and/or observation items."""
    spec = observation = None
    for item in found:
        if item[SK]["S"] == SPEC_SK:
            spec = items.spec_from(item)
        elif item[SK]["S"] == OBSERVATION_SK:
            observation = items.observation_from(item)
    return ParticleRecord(pcf_id=pcf_id, spec=spec, observation=observation)


def _listed(group: list[dict[str, Any]]) -> Iterator[ParticleRecord]:
    """The record of a listed group of items, when it has a spec (a bare observation is not listed)."""
    if group:
        record = _record(group[0][PCF_ID]["S"], group)
        if record.spec is not None:
            yield record
