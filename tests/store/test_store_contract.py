"""The ``StateStore`` contract: every test runs on the in-memory store and on DynamoDB (moto)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from pcf_control_plane.store import HistoryKind, Observation, ParticleFlags, SpecSummary, StateStore
from tests.store.store_support import DEPLOYMENT, START, FakeClock, observation, spec

A = "ec2_instance:alpha"
B = "ec2_instance:beta"
CLUSTER = "distributed_master_worker:cluster"


# desired spec and generation -------------------------------------------------------------------


def test_first_put_is_generation_one_and_reads_back(store: StateStore) -> None:
    written = spec(A, quasiparticle=CLUSTER, flags=ParticleFlags(heal=False, drift="report"))
    assert store.put_spec(written) == 1
    stored = store.get_spec(A)
    assert stored is not None
    assert stored.generation == 1
    assert stored.updated_at == START
    assert stored.model_dump(exclude={"generation", "updated_at"}) == written.model_dump()
    assert stored.flags == ParticleFlags(heal=False, drift="report")


def test_identical_put_keeps_the_generation(store: StateStore, fake_clock: FakeClock) -> None:
    store.put_spec(spec(A))
    fake_clock.advance(10)
    assert store.put_spec(spec(A)) == 1
    stored = store.get_spec(A)
    assert stored is not None and stored.generation == 1 and stored.updated_at == START


def test_every_change_bumps_the_generation(store: StateStore, fake_clock: FakeClock) -> None:
    assert store.put_spec(spec(A)) == 1
    assert store.put_spec(spec(A, desired_state="stopped")) == 2
    assert store.put_spec(spec(A, desired_state="stopped", instance_type="t3.large")) == 3
    assert store.put_spec(spec(A, desired_state="stopped", instance_type="t3.large")) == 3
    fake_clock.advance(5)
    assert store.put_spec(spec(A, desired_state="running", instance_type="t3.large")) == 4
    assert store.put_spec(spec(A, desired_state="running", instance_type="t3.large",
                                flags=ParticleFlags(persist_on_termination=True))) == 5
    stored = store.get_spec(A)
    assert stored is not None
    assert (stored.generation, stored.desired_state, stored.updated_at) == (5, "running", START + 5)
    assert stored.definition["aws_resource"]["InstanceType"] == "t3.large"
    assert stored.flags.persist_on_termination is True


def test_generations_are_per_particle(store: StateStore) -> None:
    store.put_spec(spec(A))
    store.put_spec(spec(A, desired_state="stopped"))
    assert store.put_spec(spec(B)) == 1


def test_unknown_particle_reads_none(store: StateStore) -> None:
    assert store.get_spec(A) is None
    assert store.get_observation(A) is None
    assert store.get_particle(A) is None
    assert store.current_lease(A) is None
    assert store.list_history(A) == []
    assert store.get_many([A, B]) == {}


def test_floats_and_nesting_round_trip(store: StateStore) -> None:
    written = spec(A, extra={"ratio": 0.1, "weights": [1.5, 2, -3.25], "deep": {"x": {"y": [{"z": 1e-7}]}},
                             "empty": {}, "none": None, "flag": True, "text": ""})
    store.put_spec(written)
    stored = store.get_spec(A)
    assert stored is not None
    assert stored.definition == written.definition


def test_concurrent_changes_get_distinct_generations(store: StateStore) -> None:
    store.put_spec(spec(A))
    barrier = threading.Barrier(4)
    results: list[int] = []

    def put(instance_type: str) -> None:
        barrier.wait()
        results.append(store.put_spec(spec(A, instance_type=instance_type)))

    threads = [threading.Thread(target=put, args=(f"t3.{size}",)) for size in ("small", "medium", "large", "xlarge")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [2, 3, 4, 5]
    stored = store.get_spec(A)
    assert stored is not None and stored.generation == 5


def test_invalid_specs_are_refused_before_the_store() -> None:
    with pytest.raises(ValidationError):
        spec("no-colon")
    with pytest.raises(ValidationError):
        spec(A, desired_state="pending")
    with pytest.raises(ValidationError):
        spec(A, deployment="")
    with pytest.raises(ValidationError):
        ParticleFlags(drift="ignore")  # type: ignore[arg-type]


# observations: newer wins ----------------------------------------------------------------------


def test_newer_observation_wins(store: StateStore) -> None:
    assert store.record_observation(A, observation(100.0, "pending")) is True
    assert store.record_observation(A, observation(101.5, "running")) is True
    got = store.get_observation(A)
    assert got == observation(101.5, "running")


def test_older_equal_and_duplicate_observations_are_refused(store: StateStore) -> None:
    assert store.record_observation(A, observation(200.0, "stopped")) is True
    assert store.record_observation(A, observation(199.999, "running")) is False  # older
    assert store.record_observation(A, observation(200.0, "running")) is False  # same time
    assert store.record_observation(A, observation(200.0, "stopped")) is False  # duplicate delivery
    assert store.get_observation(A) == observation(200.0, "stopped")


def test_observed_at_accepts_aware_datetimes_and_iso_strings(store: StateStore) -> None:
    iso = Observation(state="running", observed_at="2024-05-01T12:00:00Z", cause="event-1")
    assert iso.observed_at == 1714564800.0
    with pytest.raises(ValidationError):
        Observation(state="running", observed_at="2024-05-01T12:00:00", cause="naive")
    with pytest.raises(ValidationError):
        Observation(state="running", observed_at=float("nan"), cause="nan")
    assert store.record_observation(A, iso) is True
    assert store.record_observation(A, iso.model_copy(update={"observed_at": 1714564799.0})) is False


def test_observation_snapshot_is_kept_small() -> None:
    with pytest.raises(ValidationError, match="snapshot"):
        Observation(state="running", observed_at=1.0, cause="c", snapshot={"console_output": "x" * 10000})


def test_observation_is_independent_of_the_spec(store: StateStore) -> None:
    store.record_observation(A, observation(1.0))
    store.put_spec(spec(A))
    assert store.get_observation(A) == observation(1.0)
    assert store.put_spec(spec(A, desired_state="stopped")) == 2
    assert store.get_observation(A) == observation(1.0)


# resource id index -----------------------------------------------------------------------------


def test_resource_id_finds_the_particle(store: StateStore) -> None:
    store.put_spec(spec(A))
    store.record_observation(A, observation(1.0, resource_id="i-aaaa"))
    store.record_observation(B, observation(1.0, resource_id="vol-bbbb"))
    assert store.find_by_resource_id("i-aaaa") == A
    assert store.find_by_resource_id("vol-bbbb") == B
    assert store.find_by_resource_id("i-unknown") is None


def test_a_replaced_resource_id_no_longer_maps(store: StateStore) -> None:
    store.record_observation(A, observation(1.0, resource_id="i-old"))
    store.record_observation(A, observation(2.0, resource_id="i-new"))
    assert store.find_by_resource_id("i-old") is None
    assert store.find_by_resource_id("i-new") == A
    store.record_observation(A, observation(3.0, "terminated", resource_id=None))
    assert store.find_by_resource_id("i-new") is None


def test_a_refused_observation_does_not_remap(store: StateStore) -> None:
    store.record_observation(A, observation(5.0, resource_id="i-current"))
    assert store.record_observation(A, observation(4.0, resource_id="i-stale")) is False
    assert store.find_by_resource_id("i-stale") is None
    assert store.find_by_resource_id("i-current") == A


def test_a_shared_resource_id_maps_to_the_latest_observer(store: StateStore) -> None:
    store.record_observation(A, observation(1.0, resource_id="vol-shared"))
    store.record_observation(B, observation(2.0, resource_id="vol-shared"))
    assert store.find_by_resource_id("vol-shared") == B


# quasiparticle membership ----------------------------------------------------------------------


def test_members_of_a_quasiparticle(store: StateStore) -> None:
    members = [f"ec2_instance:worker-{n}" for n in range(3)] + ["ebs_volume:data"]
    for pcf_id in members:
        store.put_spec(spec(pcf_id, quasiparticle=CLUSTER))
    store.put_spec(spec("ec2_instance:loner"))
    store.put_spec(spec("ec2_instance:elsewhere", quasiparticle="distributed_master_worker:other"))
    assert store.members_of(CLUSTER) == sorted(members)
    assert store.members_of("distributed_master_worker:none") == []


def test_leaving_a_quasiparticle(store: StateStore) -> None:
    store.put_spec(spec(A, quasiparticle=CLUSTER))
    store.put_spec(spec(B, quasiparticle=CLUSTER))
    store.put_spec(spec(A, quasiparticle=None))
    assert store.members_of(CLUSTER) == [B]


# reading particles together --------------------------------------------------------------------


def test_get_many_returns_spec_and_observation(store: StateStore) -> None:
    store.put_spec(spec(A))
    store.record_observation(A, observation(1.0))
    store.record_observation(B, observation(2.0, resource_id="i-b"))
    found = store.get_many([A, B, "ec2_instance:missing", A])
    assert set(found) == {A, B}
    assert found[A].spec == store.get_spec(A)
    assert found[A].observation == observation(1.0)
    assert found[B].spec is None and found[B].observation == observation(2.0, resource_id="i-b")
    assert store.get_particle(A) == found[A]


def test_get_many_of_a_spec_without_observation(store: StateStore) -> None:
    store.put_spec(spec(A))
    record = store.get_particle(A)
    assert record is not None and record.spec is not None and record.observation is None


def test_list_particles_of_a_deployment_in_batches(store: StateStore) -> None:
    ids = [f"ec2_instance:n{n:03d}" for n in range(23)]
    for n, pcf_id in enumerate(ids):
        store.put_spec(spec(pcf_id))
        if n % 2:
            store.record_observation(pcf_id, observation(float(n), resource_id=f"i-{n}"))
    store.put_spec(spec("ec2_instance:other", deployment="other"))
    store.record_observation("ec2_instance:unmanaged", observation(1.0, resource_id="i-x"))
    batches = list(store.list_particles("demo", page_size=5))
    assert [len(batch) for batch in batches] == [5, 5, 5, 5, 3]
    listed = [record for batch in batches for record in batch]
    assert [record.pcf_id for record in listed] == ids
    for n, record in enumerate(listed):
        assert record.spec == store.get_spec(record.pcf_id)
        assert record.observation == (observation(float(n), resource_id=f"i-{n}") if n % 2 else None)
    assert [r.pcf_id for batch in store.list_particles("other") for r in batch] == ["ec2_instance:other"]
    assert list(store.list_particles("nobody")) == []


def test_moving_to_another_deployment_moves_the_listing(store: StateStore) -> None:
    store.put_spec(spec(A))
    store.record_observation(A, observation(1.0))
    store.put_spec(spec(A, deployment="blue"))
    assert list(store.list_particles("demo")) == []
    (batch,) = list(store.list_particles("blue"))
    assert batch[0].observation == observation(1.0)


def test_page_size_must_be_positive(store: StateStore) -> None:
    with pytest.raises(ValueError):
        list(store.list_particles("demo", page_size=0))


def test_delete_particle_keeps_history(store: StateStore) -> None:
    store.put_spec(spec(A, quasiparticle=CLUSTER))
    store.record_observation(A, observation(1.0, resource_id="i-a"))
    store.acquire_lease(A, "exec-1", 60)
    store.add_history(A, HistoryKind.transition, {"to": "terminated"}, "exec-1")
    store.delete_particle(A)
    assert store.get_particle(A) is None
    assert store.find_by_resource_id("i-a") is None
    assert store.members_of(CLUSTER) == []
    assert store.current_lease(A) is None
    assert list(store.list_particles("demo")) == []
    assert len(store.list_history(A)) == 1
    store.delete_particle(A)  # deleting twice is fine


# leases ----------------------------------------------------------------------------------------


def test_lease_acquire_renew_release(store: StateStore, fake_clock: FakeClock) -> None:
    assert store.acquire_lease(A, "exec-1", 60) is True
    lease = store.current_lease(A)
    assert lease is not None and (lease.owner, lease.acquired_at, lease.expires_at) == ("exec-1", START, START + 60)
    assert store.acquire_lease(A, "exec-2", 60) is False
    fake_clock.advance(30)
    assert store.acquire_lease(A, "exec-1", 60) is True  # renewal
    lease = store.current_lease(A)
    assert lease is not None and lease.expires_at == START + 90
    assert store.release_lease(A, "exec-2") is False
    assert store.release_lease(A, "exec-1") is True
    assert store.current_lease(A) is None
    assert store.release_lease(A, "exec-1") is False
    assert store.acquire_lease(A, "exec-2", 60) is True


def test_an_expired_lease_can_be_taken(store: StateStore, fake_clock: FakeClock) -> None:
    assert store.acquire_lease(A, "crashed", 60) is True
    fake_clock.advance(59.9)
    assert store.acquire_lease(A, "healer", 60) is False
    fake_clock.advance(0.1)  # expires_at <= now: expired
    assert store.current_lease(A) is None
    assert store.acquire_lease(A, "healer", 60) is True
    assert store.release_lease(A, "crashed") is False
    lease = store.current_lease(A)
    assert lease is not None and lease.owner == "healer"


def test_leases_are_per_particle(store: StateStore) -> None:
    assert store.acquire_lease(A, "exec-1", 60) is True
    assert store.acquire_lease(B, "exec-2", 60) is True


def test_lease_ttl_must_be_positive(store: StateStore) -> None:
    with pytest.raises(ValueError):
        store.acquire_lease(A, "exec-1", 0)


def race_for_lease(store: StateStore, pcf_id: str, contenders: int) -> list[str]:
    """``contenders`` threads released at once, each trying to take the lease; the owners that got it."""
    barrier = threading.Barrier(contenders)
    winners: list[str] = []

    def contend(owner: str) -> None:
        barrier.wait()
        if store.acquire_lease(pcf_id, owner, 30):
            winners.append(owner)

    threads = [threading.Thread(target=contend, args=(f"exec-{n}",)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return winners


@pytest.mark.parametrize("contenders", [2, 8])
def test_racing_threads_exactly_one_wins_the_lease(store: StateStore, contenders: int) -> None:
    for round_number in range(10):
        pcf_id = f"ec2_instance:race-{round_number}"
        winners = race_for_lease(store, pcf_id, contenders)
        assert len(winners) == 1, winners
        lease = store.current_lease(pcf_id)
        assert lease is not None and lease.owner == winners[0]


# history ---------------------------------------------------------------------------------------


def test_history_is_ordered_by_time(store: StateStore, fake_clock: FakeClock) -> None:
    kinds = [HistoryKind.plan, HistoryKind.lease, HistoryKind.transition, HistoryKind.observation, HistoryKind.drift,
             HistoryKind.heal, HistoryKind.error]
    for n, kind in enumerate(kinds):
        item = store.add_history(A, kind, {"n": n, "ratio": n / 3}, f"arn:aws:states:::execution:apply:{n}")
        assert (item.kind, item.at, item.expires_at) == (kind, fake_clock.now, None)
        fake_clock.advance(0.25)
    newest = store.list_history(A)
    assert [item.detail["n"] for item in newest] == list(reversed(range(7)))
    assert newest[0].detail["ratio"] == 2.0 and newest[1].detail["ratio"] == 5 / 3
    oldest = store.list_history(A, limit=3, newest_first=False)
    assert [(item.kind, item.cause) for item in oldest] == [
        (HistoryKind.plan, "arn:aws:states:::execution:apply:0"),
        (HistoryKind.lease, "arn:aws:states:::execution:apply:1"),
        (HistoryKind.transition, "arn:aws:states:::execution:apply:2"),
    ]
    assert [item.detail["n"] for item in store.list_history(A, limit=2)] == [6, 5]


def test_history_in_the_same_millisecond_never_overwrites(store: StateStore) -> None:
    for n in range(50):
        store.add_history(A, "observation", {"n": n}, "event")  # the clock does not move
    items = store.list_history(A, limit=100, newest_first=False)
    assert [item.detail["n"] for item in items] == list(range(50))
    assert len({item.item_id for item in items}) == 50


def test_history_concurrent_writers_lose_nothing(store: StateStore) -> None:
    barrier = threading.Barrier(4)

    def write(writer: int) -> None:
        barrier.wait()
        for n in range(10):
            store.add_history(A, HistoryKind.observation, {"writer": writer, "n": n}, f"writer-{writer}")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    items = store.list_history(A, limit=1000)
    assert len(items) == 40
    for writer in range(4):
        assert [i.detail["n"] for i in items if i.detail["writer"] == writer] == list(reversed(range(10)))


def test_history_at_an_explicit_time(store: StateStore) -> None:
    store.add_history(A, HistoryKind.observation, {"state": "stopped"}, "event-2", at=START - 10)
    store.add_history(A, HistoryKind.observation, {"state": "running"}, "event-1", at=START - 20)
    assert [item.cause for item in store.list_history(A)] == ["event-2", "event-1"]


def test_history_expiry_is_off_by_default_and_configurable(make_store: Callable[..., StateStore]) -> None:
    store = make_store(history_ttl_seconds=86400 * 30)
    item = store.add_history(A, HistoryKind.heal, {}, "schedule:run-1", at=START + 0.5)
    assert item.expires_at == START + 86400 * 30 + 1
    (stored,) = store.list_history(A)
    assert stored == item


def test_history_rejects_unknown_kinds_and_limits(store: StateStore) -> None:
    with pytest.raises(ValueError):
        store.add_history(A, "gossip", {}, "x")
    with pytest.raises(ValueError):
        store.list_history(A, limit=0)


# events ---------------------------------------------------------------------------------------------


def test_view_by_resource_id_has_the_spec_summary_and_observation(store: StateStore, fake_clock: FakeClock) -> None:
    store.put_spec(spec(A, flags=ParticleFlags(heal=False, persist_on_termination=True)))
    store.record_observation(A, observation(START + 1, "running", resource_id="i-0aaa"))
    assert store.view_by_resource_id("i-0bbb") is None
    store.acquire_lease(A, "exec-1", 30)

    view = store.view_by_resource_id("i-0aaa")

    assert view is not None and view.pcf_id == A
    assert view.spec == SpecSummary(flavor="ec2_instance", desired_state="running", deployment=DEPLOYMENT,
                                    flags=ParticleFlags(heal=False, persist_on_termination=True))
    assert view.observation is not None
    assert (view.observation.state, view.observation.observed_at, view.observation.cause) == ("running", START + 1,
                                                                                                "test")
    assert view.lease is None, "not read: the event's write checks it"


def test_the_view_follows_every_change_of_the_spec(store: StateStore) -> None:
    store.put_spec(spec(A))
    store.record_observation(A, observation(START + 1, "running", resource_id="i-0aaa"))
    store.put_spec(spec(A, desired_state="stopped", deployment="other", flags=ParticleFlags(drift="report")))
    view = store.view_by_resource_id("i-0aaa")
    assert view is not None and view.spec is not None
    assert (view.spec.desired_state, view.spec.deployment, view.spec.flags.drift) == ("stopped", "other", "report")
    store.put_spec(spec(A, desired_state="stopped", deployment="other", flags=ParticleFlags(drift="report"),
                        InstanceType="t3.large"))  # the definition alone: the summary stands
    view = store.view_by_resource_id("i-0aaa")
    assert view is not None and view.spec is not None and view.spec.desired_state == "stopped"


def test_an_observation_without_a_spec_has_no_summary(store: StateStore) -> None:
    store.record_observation(A, observation(START + 1, "running", resource_id="i-0aaa"))
    view = store.view_by_resource_id("i-0aaa")
    assert view is not None and view.spec is None and view.observation is not None


def test_record_observed_writes_its_history_only_with_the_observation(store: StateStore) -> None:
    store.put_spec(spec(A))
    newer = observation(START + 20, "stopped", resource_id="i-0aaa", cause="event:2")
    assert store.record_observed(A, newer, HistoryKind.observation, {"state": "stopped"},
                                 also=[(HistoryKind.heal, {"status": "started"})]).status == "recorded"
    older = observation(START + 10, "running", resource_id="i-0aaa", cause="event:1")
    assert store.record_observed(A, older, HistoryKind.observation, {"state": "running"},
                                 also=[(HistoryKind.heal, {"status": "started"})]).status == "stale"
    assert store.get_observation(A).state == "stopped"
    items = store.list_history(A, newest_first=False)
    assert [(i.kind, i.cause, i.at) for i in items] == [
        (HistoryKind.observation, "event:2", START + 20), (HistoryKind.heal, "event:2", START + 20)]


def test_record_observed_keeps_the_stored_snapshot(store: StateStore) -> None:
    store.put_spec(spec(A))
    synced = observation(START + 1, "running", resource_id="i-0aaa")
    store.record_observation(A, synced)
    event = Observation(state="stopped", observed_at=START + 2, resource_id="i-0aaa", cause="event:3")
    assert store.record_observed(A, event, HistoryKind.observation, {}).status == "recorded"
    stored = store.get_observation(A)
    assert stored is not None and (stored.state, stored.cause) == ("stopped", "event:3")
    assert stored.snapshot == synced.snapshot, "an event carries no snapshot: drift data and exports stay"


def test_record_observed_unless_leased_writes_nothing_while_a_lease_is_held(
    store: StateStore, fake_clock: FakeClock
) -> None:
    store.put_spec(spec(A))
    store.record_observation(A, observation(START + 1, "running", resource_id="i-0aaa"))
    store.acquire_lease(A, "arn:aws:states:us-east-1:1:execution:apply:run-9", 30)
    stopped = observation(START + 2, "stopped", resource_id="i-0aaa", cause="event:4")

    refused = store.record_observed(A, stopped, HistoryKind.observation, {}, [(HistoryKind.heal, {})],
                                    unless_leased=True)

    assert refused.status == "leased"
    assert refused.lease is not None and refused.lease.owner.endswith("run-9")
    assert store.get_observation(A).state == "running" and store.list_history(A) == []
    assert store.record_observed(A, stopped, HistoryKind.observation, {}).status == "recorded", "without the heal"
    fake_clock.advance(31)
    later = observation(START + 40, "stopped", resource_id="i-0aaa", cause="event:5")
    assert store.record_observed(A, later, HistoryKind.observation, {}, unless_leased=True).status == "recorded", (
        "an expired lease is no lease")


def test_a_stale_observation_is_stale_whether_or_not_a_lease_is_held(store: StateStore) -> None:
    store.put_spec(spec(A))
    store.record_observation(A, observation(START + 10, "running", resource_id="i-0aaa"))
    store.acquire_lease(A, "exec-1", 30)
    old = observation(START + 5, "stopped", resource_id="i-0aaa", cause="event:6")
    assert store.record_observed(A, old, HistoryKind.observation, {}, unless_leased=True).status == "stale"
