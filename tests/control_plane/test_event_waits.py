"""The event handler resolves a wait for an event: the observation, ``converged_by`` and the lease given back at
once, then the waiting execution resumed (``SendTaskSuccess``); a redelivery resumes again, a closed token is no
error, a ``pending`` event resolves nothing, no heal is considered, and a wait the index did not show yet is
found by the write's condition. ``SendTaskSuccess``'s own refusals are those of the Step Functions API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pcf_control_plane.event_sync import EventSync
from pcf_control_plane.healing import Healer
from pcf_control_plane.resume import ResumeOutcome, step_functions_resumer
from pcf_control_plane.store import HistoryKind, InMemoryStateStore, Wait
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.ec2_events import ec2_arn
from pcf_local_cloud.event_bus import aws_event, envelope
from tests.store.store_support import DEPLOYMENT, observation, spec

ACCOUNT = "123456789012"
PCF_ID = "ec2_instance:web"
INSTANCE = "i-0123456789abcdef0"
RUN = "arn:aws:states:us-east-1:123456789012:execution:apply:run-1"
WAIT = Wait(token="token-1", want="running", owner=RUN, generation=1)


class Resumer:
    """The ``resume`` the handler is given: each call recorded, answered ``outcome``."""

    def __init__(self, outcome: ResumeOutcome = "resumed") -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.outcome = outcome

    def __call__(self, token: str, output: Mapping[str, Any]) -> ResumeOutcome:
        self.calls.append((token, dict(output)))
        return self.outcome


class Starts:
    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, name: str, execution_input: dict[str, Any]) -> str:
        self.names.append(name)
        return f"arn:aws:states:us-east-1:{ACCOUNT}:execution:apply:{name}"


def event(state: str, at: float, event_id: str = "e-1") -> dict[str, Any]:
    made = aws_event(envelope(account=ACCOUNT, region="us-east-1", source="aws.ec2",
                              detail_type="EC2 Instance State-change Notification",
                              detail={"instance-id": INSTANCE, "state": state},
                              resources=[ec2_arn("us-east-1", ACCOUNT, f"instance/{INSTANCE}")], time=at))
    made["id"] = event_id
    return made


@pytest.fixture
def store() -> InMemoryStateStore:
    """A particle the execution launched: pending, its lease held, its wait for the launch's event armed."""
    store = InMemoryStateStore()
    store.put_spec(spec(PCF_ID))
    store.record_observation(PCF_ID, observation(100.0, "pending", resource_id=INSTANCE))
    assert store.acquire_lease(PCF_ID, RUN, 600)
    assert store.arm_wait(PCF_ID, WAIT, INSTANCE)
    return store


def handler(store: InMemoryStateStore, resume: Resumer, starts: Starts | None = None) -> EventSync:
    return EventSync(store, Healer(store, starts or Starts()), deployment=DEPLOYMENT, account=ACCOUNT, resume=resume)


def test_the_event_that_ends_the_transition_resolves_the_wait_and_resumes_the_execution(
    store: InMemoryStateStore
) -> None:
    resume = Resumer()
    result = handler(store, resume).handle(event("running", 200.0))
    assert (result.status, result.resumed, result.heal) == ("recorded", RUN, None)
    assert resume.calls == [("token-1", {"pcf_id": PCF_ID, "state": "running", "event": "e-1",
                                         "resource_id": INSTANCE})]
    family = store.read_family(PCF_ID, [])
    assert family.particle.observation is not None and family.particle.observation.state == "running"
    assert family.particle.converged_by == RUN and store.current_lease(PCF_ID) is None
    kinds = [(item.kind, item.detail.get("run")) for item in store.list_history(PCF_ID, newest_first=False)]
    assert kinds[-2:] == [(HistoryKind.observation, RUN), (HistoryKind.lease, RUN)]


def test_any_end_of_the_transition_resumes_it_not_only_the_desired_state(store: InMemoryStateStore) -> None:
    """A launch that ends terminated (no capacity): the execution looks again at once, it does not wait on."""
    resume = Resumer()
    starts = Starts()
    result = handler(store, resume, starts).handle(event("terminated", 200.0))
    assert result.resumed == RUN and len(resume.calls) == 1
    assert starts.names == [], "no heal: the waiting execution converges it"


def test_a_pending_event_resolves_nothing(store: InMemoryStateStore) -> None:
    resume = Resumer()
    result = handler(store, resume).handle(event("pending", 150.0))
    assert result.status == "recorded" and result.resumed is None and resume.calls == []
    assert store.read_family(PCF_ID, []).particle.wait == WAIT
    assert store.current_lease(PCF_ID) is not None


def test_a_redelivered_event_finds_the_token_closed_and_removes_the_dead_wait(store: InMemoryStateStore) -> None:
    handler(store, Resumer()).handle(event("running", 200.0))
    again = Resumer(outcome="closed")  # the task the first delivery resumed has ended
    result = handler(store, again).handle(event("running", 200.0))
    assert (result.status, result.resumed) == ("stale", None)
    assert [token for token, _ in again.calls] == ["token-1"]
    assert store.read_family(PCF_ID, []).particle.wait is None, "a dead wait never holds back a later heal"
    assert len([i for i in store.list_history(PCF_ID) if i.kind is HistoryKind.observation]) == 1, (
        "the redelivery wrote nothing")


def test_a_dead_wait_does_not_hold_back_healing(store: InMemoryStateStore) -> None:
    """The execution that armed it stopped without giving the particle back: the event that shows the particle
    drifted finds the token closed, removes the wait and heals as for any particle."""
    store.release_lease(PCF_ID, RUN)
    store.record_observation(PCF_ID, observation(150.0, "running", resource_id=INSTANCE))
    starts = Starts()
    result = handler(store, Resumer(outcome="closed"), starts).handle(event("stopped", 200.0))
    assert result.status == "recorded" and result.resumed is None
    assert result.heal is not None and result.heal.status == "started" and len(starts.names) == 1
    assert store.read_family(PCF_ID, []).particle.wait is None


def test_a_wait_the_view_did_not_show_is_found_by_the_write(store: InMemoryStateStore,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``by_resource2`` lags: the view shows no wait, the observation's write finds one armed and resolves it."""
    real_view = store.view_by_resource_id

    def lagging(resource_id: str) -> Any:
        view = real_view(resource_id)
        return view.model_copy(update={"wait": None}) if view is not None else None

    monkeypatch.setattr(store, "view_by_resource_id", lagging)
    resume = Resumer()
    result = handler(store, resume).handle(event("running", 200.0))
    assert result.resumed == RUN and [token for token, _ in resume.calls] == ["token-1"]
    assert store.read_family(PCF_ID, []).particle.converged_by == RUN


def test_a_wait_cleared_by_its_failed_execution_is_never_resolved_in_its_name(store: InMemoryStateStore) -> None:
    assert store.clear_wait(PCF_ID, "someone-else") is False
    assert store.clear_wait(PCF_ID, RUN) is True
    resume = Resumer()
    result = handler(store, resume).handle(event("running", 200.0))
    assert result.status == "recorded" and result.resumed is None and resume.calls == []
    assert store.read_family(PCF_ID, []).particle.converged_by is None


def test_send_task_success_reports_a_closed_token_and_raises_anything_else(cloud: LocalCloud) -> None:
    resume = step_functions_resumer(cloud.client("stepfunctions"))
    assert resume("not-a-token-of-any-task", {"pcf_id": PCF_ID}) == "closed"

    class Throttled:
        def send_task_success(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                              "SendTaskSuccess")

    with pytest.raises(ClientError):
        step_functions_resumer(Throttled())("token", {})
