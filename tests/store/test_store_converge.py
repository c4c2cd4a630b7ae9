"""``converge``'s read and commit, and the event handler's wait writes, on both stores."""

from __future__ import annotations

import pytest

from pcf_control_plane.store import (
    ConvergeCommit,
    HistoryEntry,
    HistoryKind,
    Observation,
    StateStore,
    Wait,
    commit_token,
)
from tests.store.store_support import FakeClock, observation, spec

CHILD = "ec2_instance:child"
MOM = "ec2_instance:mom"
DAD = "ec2_instance:dad"
RUN = "arn:aws:states:us-east-1:123456789012:execution:pcf-apply:run-1"
OTHER_RUN = "arn:aws:states:us-east-1:123456789012:execution:pcf-apply:run-2"
WAIT = Wait(token="token-1", want="running", owner=RUN, generation=1)


def _commit(at: float, *, step: str = "start", **fields: object) -> ConvergeCommit:
    values: dict[str, object] = {
        "pcf_id": CHILD, "execution": RUN, "token": commit_token(RUN, CHILD, 1, step),
        "observation": observation(at, "running", resource_id="i-child", cause=RUN),
        "history": (HistoryEntry(kind=HistoryKind.lease, detail={"acquired": True}),
                    HistoryEntry(kind=HistoryKind.transition, detail={"action": "start", "created": True})),
    }
    return ConvergeCommit.model_validate({**values, **fields})


def _armed(store: StateStore, state: str = "pending") -> None:
    """The child observed ``pending`` on i-child, leased by RUN, and waiting (RUN's Await) for running."""
    store.put_spec(spec(CHILD, parents=[MOM, DAD]))
    store.record_observation(CHILD, observation(10.0, state, resource_id="i-child"))
    assert store.acquire_lease(CHILD, RUN, 600)
    assert store.arm_wait(CHILD, WAIT, "i-child")


# one read for a particle and its parents -----------------------------------------------------------


def test_a_family_is_read_whole(store: StateStore, fake_clock: FakeClock) -> None:
    store.put_spec(spec(MOM))
    store.record_observation(MOM, observation(5.0, "running", resource_id="i-mom"))
    store.commit_converge(_commit(6.0).model_copy(update={"pcf_id": MOM, "converged": True,
                                                          "token": commit_token(RUN, MOM)}))
    _armed(store)

    family = store.read_family(CHILD, [MOM, DAD, CHILD])

    child = family.particle
    assert child.spec is not None and child.spec.generation == 1 and child.parents == (MOM, DAD)
    assert child.observation == observation(10.0, "pending", resource_id="i-child")
    assert child.lease is not None and child.lease.owner == RUN and child.wait == WAIT
    assert child.converged_by is None
    assert list(family.parents) == [MOM, DAD]
    mom, dad = family.parents[MOM], family.parents[DAD]
    assert mom.spec is not None and mom.observation is not None and mom.observation.observed_at == 6.0
    assert mom.converged_by == RUN and mom.lease is None and mom.wait is None
    assert (dad.spec, dad.observation, dad.converged_by) == (None, None, None)
    assert family.unread_parents == ()
    assert store.read_family(CHILD, [MOM]).unread_parents == (DAD,)
    fake_clock.advance(601)
    assert store.read_family(CHILD, []).particle.lease is None  # expired


def test_a_family_of_many_parents_is_read_across_calls(store: StateStore) -> None:
    parents = [f"ec2_instance:p{n:03d}" for n in range(70)]  # 3 + 140 keys: two BatchGetItem calls
    for n, pcf_id in enumerate(parents):
        store.record_observation(pcf_id, observation(1.0 + n, resource_id=f"i-{n:04d}"))
    family = store.read_family(CHILD, parents)
    assert [state.observation.observed_at if state.observation else None for state in family.parents.values()] == [
        1.0 + n for n in range(70)]


def test_a_page_of_states_is_read_at_once_without_leases(store: StateStore) -> None:
    store.put_spec(spec(MOM))
    store.commit_converge(_commit(6.0).model_copy(update={"pcf_id": MOM, "converged": True,
                                                          "token": commit_token(RUN, MOM)}))
    _armed(store)

    states = store.read_states([CHILD, MOM, DAD, CHILD])

    assert list(states) == [CHILD, MOM, DAD]
    assert states[CHILD].wait == WAIT and states[CHILD].lease is None, "a lease is not read"
    assert states[CHILD].spec is not None and states[CHILD].converged_by is None
    assert (states[MOM].converged_by, states[MOM].observation.observed_at) == (RUN, 6.0)
    assert (states[DAD].spec, states[DAD].observation, states[DAD].converged_by) == (None, None, None)
    assert store.read_states([]) == {}


# the converge commit ----------------------------------------------------------------------------


def test_a_commit_writes_everything_at_once(store: StateStore) -> None:
    _armed(store)

    result = store.commit_converge(_commit(20.0, created=True, converged=True, release_lease=True))

    assert (result.observation, result.lease_released) == ("recorded", True)
    state = store.read_family(CHILD, []).particle
    assert state.observation == observation(20.0, "running", resource_id="i-child", cause=RUN)
    assert (state.wait, state.lease, state.converged_by) == (None, None, RUN)
    assert store.current_lease(CHILD) is None
    history = store.list_history(CHILD, newest_first=False)
    assert [(h.kind, h.at, h.cause) for h in history] == [(HistoryKind.lease, 20.0, RUN),
                                                          (HistoryKind.transition, 20.0, RUN)]
    assert store.created_marks(RUN, [CHILD, MOM]) == {CHILD}
    assert store.created_marks(OTHER_RUN, [CHILD]) == set()


def test_a_stale_commit_still_writes_the_rest(store: StateStore) -> None:
    _armed(store)
    result = store.commit_converge(_commit(5.0, created=True, converged=True, release_lease=True))

    assert (result.observation, result.lease_released) == ("stale", True)
    state = store.read_family(CHILD, []).particle
    assert state.observation is not None and state.observation.observed_at == 10.0
    assert (state.wait, state.lease, state.converged_by) == (None, None, RUN)
    assert len(store.list_history(CHILD)) == 2 and store.created_marks(RUN, [CHILD]) == {CHILD}


def test_a_commit_never_releases_another_executions_lease(store: StateStore) -> None:
    store.acquire_lease(CHILD, OTHER_RUN, 600)
    result = store.commit_converge(_commit(20.0, release_lease=True))
    assert (result.observation, result.lease_released) == ("recorded", False)
    lease = store.current_lease(CHILD)
    assert lease is not None and lease.owner == OTHER_RUN
    assert store.commit_converge(_commit(21.0, step="later")).lease_released is False  # not asked


def test_a_commit_token_is_a_client_request_token() -> None:
    token = commit_token(RUN, CHILD, 7, "start")
    assert len(token) == 36 and token == commit_token(RUN, CHILD, 7, "start") != commit_token(RUN, CHILD, 8, "start")
    with pytest.raises(ValueError):
        _commit(1.0, token="x" * 37)


# waits -------------------------------------------------------------------------------------------


def test_a_wait_is_armed_only_on_the_recorded_resource_while_it_is_pending(store: StateStore) -> None:
    store.record_observation(CHILD, observation(10.0, "running", resource_id="i-child"))
    assert store.arm_wait(CHILD, WAIT, "i-child") is False  # already running: the event came first
    store.record_observation(CHILD, observation(11.0, "stopped", resource_id="i-child"))
    assert store.arm_wait(CHILD, WAIT, "i-child") is False  # its transition ended elsewhere: nothing to wait for
    store.record_observation(CHILD, observation(12.0, "pending", resource_id="i-child"))
    assert store.arm_wait(CHILD, WAIT, "i-other") is False
    assert store.arm_wait("ec2_instance:nobody", WAIT, "i-child") is False
    assert store.read_family(CHILD, []).particle.wait is None
    assert store.arm_wait(CHILD, WAIT, "i-child") is True
    assert store.read_family(CHILD, []).particle.wait == WAIT


def test_the_view_of_a_resource_carries_its_wait(store: StateStore) -> None:
    _armed(store)
    view = store.view_by_resource_id("i-child")
    assert view is not None and view.wait == WAIT and view.spec is not None
    store.commit_converge(_commit(20.0))
    view = store.view_by_resource_id("i-child")
    assert view is not None and view.wait is None


def test_an_event_resolves_the_wait_it_saw(store: StateStore) -> None:
    _armed(store)
    event = Observation(state="running", observed_at=11.0, resource_id="i-child", cause="event:e-1")

    result = store.resolve_wait(CHILD, event, WAIT, {"state": "running", "source": "event"})

    assert result.status == "recorded"
    state = store.read_family(CHILD, []).particle
    assert state.observation == event.model_copy(update={"snapshot": observation(10.0).snapshot | {
        "state": "pending"}})
    assert (state.converged_by, state.lease, state.wait) == (RUN, None, WAIT)  # the token stays for a re-send
    history = store.list_history(CHILD, newest_first=False)
    assert [(h.kind, h.cause, h.detail) for h in history] == [
        (HistoryKind.observation, "event:e-1", {"state": "running", "source": "event", "run": RUN}),
        (HistoryKind.lease, "event:e-1", {"acquired": False, "run": RUN})]
    again = store.resolve_wait(CHILD, event, WAIT, {"state": "running"})  # a redelivered event
    assert again.status == "stale" and len(store.list_history(CHILD)) == 2


def test_a_resolution_refused_writes_nothing_and_says_why(store: StateStore) -> None:
    _armed(store)
    newer = WAIT.model_copy(update={"token": "token-2"})
    event = Observation(state="running", observed_at=11.0, resource_id="i-child", cause="event:e-1")

    assert store.resolve_wait(CHILD, event.model_copy(update={"observed_at": 9.0}), WAIT, {}).status == "stale"
    changed = store.resolve_wait(CHILD, event, newer, {})
    assert (changed.status, changed.wait) == ("wait_changed", WAIT)
    store.release_lease(CHILD, RUN)
    store.acquire_lease(CHILD, OTHER_RUN, 600)
    leased = store.resolve_wait(CHILD, event, WAIT, {})
    assert leased.status == "leased" and leased.lease is not None and leased.lease.owner == OTHER_RUN
    observed = store.get_observation(CHILD)
    assert observed is not None and observed.observed_at == 10.0 and store.list_history(CHILD) == []
    nothing = store.resolve_wait("ec2_instance:nobody", event, WAIT, {})
    assert (nothing.status, nothing.wait) == ("wait_changed", None)


def test_the_usual_record_checks_the_wait_it_saw(store: StateStore) -> None:
    _armed(store)
    event = Observation(state="stopped", observed_at=11.0, resource_id="i-child", cause="event:e-2")

    unseen = store.record_observed(CHILD, event, HistoryKind.observation, {}, wait_token=None)
    assert (unseen.status, unseen.wait) == ("wait_changed", WAIT)
    other = store.record_observed(CHILD, event, HistoryKind.observation, {}, wait_token="token-0")
    assert (other.status, other.wait) == ("wait_changed", WAIT)
    stale = store.record_observed(CHILD, event.model_copy(update={"observed_at": 3.0}), HistoryKind.observation, {},
                                  wait_token="token-0")
    assert stale.status == "stale"
    assert store.list_history(CHILD) == []

    seen = store.record_observed(CHILD, event, HistoryKind.observation, {}, wait_token=WAIT.token)
    assert seen.status == "recorded"
    later = event.model_copy(update={"observed_at": 12.0})
    assert store.record_observed(CHILD, later, HistoryKind.observation, {}).status == "recorded"  # unchecked
    store.commit_converge(_commit(20.0))
    fresh = event.model_copy(update={"observed_at": 30.0})
    assert store.record_observed(CHILD, fresh, HistoryKind.observation, {}, wait_token=None).status == "recorded"
    assert [h.at for h in store.list_history(CHILD) if h.kind is HistoryKind.observation] == [30.0, 12.0, 11.0]


def test_a_wait_is_cleared_only_for_its_owner_and_token(store: StateStore) -> None:
    _armed(store)
    assert store.clear_wait(CHILD, "someone-else") is False
    assert store.clear_wait(CHILD, RUN, "token-2") is False
    assert store.read_family(CHILD, []).particle.wait == WAIT
    assert store.clear_wait(CHILD, RUN, "token-1") is True
    assert store.read_family(CHILD, []).particle.wait is None
    assert store.clear_wait(CHILD, RUN) is False
    _armed(store)
    assert store.clear_wait(CHILD, RUN) is True, "without a token: whichever wait the owner armed"
