"""The control-plane steps driven as the workflow drives them, on the local cloud and a state store."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from botocore.exceptions import ClientError

from app import no_definition_files
from pcf.core.pcf_exceptions import (
    DefinitionError,
    InvalidConfigException,
    NoCallbackFunctionException,
    UnknownFlavorError,
)
from pcf.particle.aws.ec2.ec2_instance import EC2Instance
from pcf_control_plane.errors import LeaseHeldError, UnknownParticleError
from pcf_control_plane.messages import LeaseInput, ParticleStep, PlanInput, TransitionInput
from pcf_control_plane.steps import ControlPlane
from pcf_control_plane.store import DynamoDBStateStore, HistoryKind, ParticleSpec
from pcf_control_plane.store.table import create_table
from pcf_local_cloud.clock import VirtualClock
from tests.store.store_support import CallCounter
from tests.support.ec2_calls import Calls
from tests.support.steps import STORES, instance, live_instances, steps_over

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:apply:test-1"


@pytest.fixture(params=STORES)
def control_plane(request: pytest.FixtureRequest, cloud: Any, clock: VirtualClock) -> ControlPlane:
    """The steps over each store implementation (DynamoDB on the local cloud)."""
    return steps_over(request.param, cloud, clock)


def drive(cp: ControlPlane, pcf_id: str, clock: VirtualClock, execution: str = EXECUTION) -> list[str]:
    """lease -> sync -> (transition | wait -> sync)* -> release, as the state machine does; the actions taken."""
    cp.acquire_lease(LeaseInput(pcf_id=pcf_id, execution=execution))
    taken = []
    for _ in range(30):
        result = cp.sync_state(ParticleStep(pcf_id=pcf_id, execution=execution))
        if result.action == "done":
            break
        if result.action == "wait":
            clock.sleep(1.0)
            continue
        cp.transition(TransitionInput(pcf_id=pcf_id, action=result.action, execution=execution))
        taken.append(result.action)
    else:
        raise AssertionError(f"{pcf_id} did not converge")
    cp.release_lease(ParticleStep(pcf_id=pcf_id, execution=execution))
    return taken


def throttle_read_backs(monkeypatch: pytest.MonkeyPatch, code: str = "RequestLimitExceeded",
                        status: int = 503) -> list[str]:
    """Every instance read after the first answers EC2's error ``code`` (throttling unless told); the pcf_ids
    read, in order."""
    reads: list[str] = []
    real_sync = EC2Instance.sync_state

    def throttled_after_the_first(particle: EC2Instance) -> None:
        reads.append(particle.pcf_id)
        if len(reads) > 1:
            raise ClientError({"Error": {"Code": code, "Message": "refused"},
                               "ResponseMetadata": {"HTTPStatusCode": status}}, "DescribeInstances")
        real_sync(particle)

    monkeypatch.setattr(EC2Instance, "sync_state", throttled_after_the_first)
    return reads


def test_plan_stores_every_spec_and_returns_the_levels(control_plane: ControlPlane, ami_id: str) -> None:
    definition = {"pcf_name": "c", "flavor": "quasiparticle", "particles": [
        instance("m", ami_id), instance("w", ami_id, multiplier=2, parents=["ec2_instance:m"])]}
    out = control_plane.plan(PlanInput(definition=definition, desired_state="running", execution=EXECUTION))
    assert out.particles == 3
    assert [(p.phase, p.levels) for p in out.phases] == [
        ("start", [["ec2_instance:m"], ["ec2_instance:w-0", "ec2_instance:w-1"]])]
    stored = control_plane.store.get_spec("ec2_instance:w-1")
    assert stored is not None and stored.desired_state == "running"
    assert stored.definition["parents"] == ["ec2_instance:m"]
    assert stored.quasiparticle == "quasiparticle:c"
    assert control_plane.store.members_of("quasiparticle:c") == sorted(out.generations)
    assert control_plane.store.list_history("ec2_instance:m")[0].cause == EXECUTION


def test_a_bad_definition_is_refused_and_nothing_is_stored(control_plane: ControlPlane, ami_id: str) -> None:
    with pytest.raises(UnknownFlavorError):
        control_plane.plan(PlanInput(definition={**instance("x", ami_id), "flavor": "ec2_instanse"},
                                     desired_state="running"))
    with pytest.raises(DefinitionError, match="instance_name"):
        bad = instance("y", ami_id)
        del bad["aws_resource"]["custom_config"]["instance_name"]
        control_plane.plan(PlanInput(definition=bad, desired_state="running"))
    assert control_plane.store.get_spec("ec2_instance:x") is None
    assert control_plane.store.get_spec("ec2_instance:y") is None


def test_a_member_refused_late_leaves_every_member_unwritten(control_plane: ControlPlane, ami_id: str) -> None:
    worker = instance("w", ami_id, parents=["ec2_instance:m"],
                      callbacks={"start": {"function": lambda particle: None}})  # a library-mode callable
    definition = {"pcf_name": "c", "flavor": "quasiparticle", "particles": [instance("m", ami_id), worker]}
    with pytest.raises(DefinitionError, match=r"ec2_instance:w\.callbacks\.start\.function"):
        control_plane.plan(PlanInput(definition=definition, desired_state="running", execution=EXECUTION))
    assert control_plane.store.get_spec("ec2_instance:m") is None, "checked before anything was written"
    assert control_plane.store.list_history("ec2_instance:m") == []


def test_the_transition_step_refuses_an_unregistered_callback_in_a_stored_spec(
    control_plane: ControlPlane, ami_id: str, ec2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    control_plane.plan(PlanInput(definition=instance("evil", ami_id), desired_state="running", execution=EXECUTION))
    planned = control_plane.store.get_spec("ec2_instance:evil")
    assert planned is not None
    hostile = {**planned.definition, "callbacks": {"start": {"function": "os:system", "kwargs": {"command": "true"}}}}
    fields = planned.model_dump(include=set(ParticleSpec.model_fields))
    control_plane.store.put_spec(ParticleSpec(**{**fields, "definition": hostile}))  # written to the store directly
    ran: list[str] = []
    monkeypatch.setattr("os.system", ran.append)

    with pytest.raises(NoCallbackFunctionException) as refused:
        control_plane.transition(TransitionInput(pcf_id="ec2_instance:evil", action="start", execution=EXECUTION))

    assert refused.value.field.endswith("callbacks.start.function") and "os:system" in refused.value.reason
    assert ran == [] and live_instances(ec2, "cp-evil") == []


def test_plan_writes_many_members_at_once_and_answers_their_generations(
    control_plane: ControlPlane, ami_id: str
) -> None:
    definition = {"pcf_name": "big", "flavor": "quasiparticle", "particles": [
        instance("m", ami_id), instance("w", ami_id, multiplier=40, parents=["ec2_instance:m"])]}
    first = control_plane.plan(PlanInput(definition=definition, desired_state="running", execution=EXECUTION))
    again = control_plane.plan(PlanInput(definition=definition, desired_state="stopped", execution=EXECUTION))
    assert list(first.generations) == ["ec2_instance:m", *(f"ec2_instance:w-{i}" for i in range(40))]
    assert set(first.generations.values()) == {1} and set(again.generations.values()) == {2}
    for pcf_id in first.generations:
        assert control_plane.store.get_spec(pcf_id).desired_state == "stopped"
        assert [h.detail["generation"] for h in control_plane.store.list_history(pcf_id, newest_first=False)
                if h.kind is HistoryKind.plan] == [1, 2]


def test_a_single_instance_runs_stops_and_terminates(
    control_plane: ControlPlane, ami_id: str, ec2: Any, clock: VirtualClock
) -> None:
    for state, expected in (("running", ["start"]), ("stopped", ["stop"]), ("terminated", ["terminate"])):
        control_plane.plan(PlanInput(definition=instance("solo", ami_id), desired_state=state))
        assert drive(control_plane, "ec2_instance:solo", clock) == expected
    observation = control_plane.store.get_observation("ec2_instance:solo")
    assert observation is not None and observation.state == "terminated"
    kinds = [item.kind for item in control_plane.store.list_history("ec2_instance:solo", newest_first=False)]
    assert kinds.count(HistoryKind.transition) == 3
    assert HistoryKind.observation in kinds
    assert control_plane.store.current_lease("ec2_instance:solo") is None


def test_a_transition_invoked_twice_launches_one_instance(
    control_plane: ControlPlane, ami_id: str, ec2: Any
) -> None:
    control_plane.plan(PlanInput(definition=instance("twice", ami_id), desired_state="running"))
    control_plane.sync_state(ParticleStep(pcf_id="ec2_instance:twice"))
    request = TransitionInput(pcf_id="ec2_instance:twice", action="start", execution=EXECUTION)
    control_plane.transition(request)
    control_plane.transition(request)  # at-least-once delivery: the same step again
    assert len(live_instances(ec2, "cp-twice")) == 1


def test_a_transition_answers_and_stores_the_state_it_left(
    control_plane: ControlPlane, cloud: Any, ami_id: str, ec2: Any
) -> None:
    cloud.pending_seconds = 5.0
    control_plane.plan(PlanInput(definition=instance("fresh", ami_id), desired_state="running"))
    control_plane.sync_state(ParticleStep(pcf_id="ec2_instance:fresh", execution=EXECUTION))

    out = control_plane.transition(TransitionInput(pcf_id="ec2_instance:fresh", action="start", execution=EXECUTION))

    [launched] = live_instances(ec2, "cp-fresh")
    assert (out.state, out.resource_id) == ("pending", launched["InstanceId"])
    stored = control_plane.store.get_observation("ec2_instance:fresh")
    assert stored is not None and (stored.state, stored.resource_id) == ("pending", launched["InstanceId"])
    assert control_plane.store.find_by_resource_id(launched["InstanceId"]) == "ec2_instance:fresh", (
        "events about the new instance find their particle before the next sync")
    history = control_plane.store.list_history("ec2_instance:fresh", newest_first=False)
    assert [(h.kind, h.detail.get("state")) for h in history][-2:] == [
        (HistoryKind.transition, None), (HistoryKind.observation, "pending")]


def test_a_throttled_read_back_leaves_the_transition_done(
    control_plane: ControlPlane, ami_id: str, ec2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    control_plane.plan(PlanInput(definition=instance("busy", ami_id), desired_state="running"))
    control_plane.sync_state(ParticleStep(pcf_id="ec2_instance:busy", execution=EXECUTION))
    reads = throttle_read_backs(monkeypatch)
    out = control_plane.transition(TransitionInput(pcf_id="ec2_instance:busy", action="start", execution=EXECUTION))

    assert len(reads) == 2 and (out.action, out.state, out.resource_id) == ("start", None, None)
    assert len(live_instances(ec2, "cp-busy")) == 1
    stored = control_plane.store.get_observation("ec2_instance:busy")
    assert stored is not None and stored.state == "terminated", "the next sync records it instead"
    [transition] = [h for h in control_plane.store.list_history("ec2_instance:busy")
                    if h.kind is HistoryKind.transition]
    assert transition.detail == {"action": "start", "generation": 1, "created": True}


def test_a_read_back_that_fails_for_good_fails_the_transition(
    control_plane: ControlPlane, ami_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    control_plane.plan(PlanInput(definition=instance("denied", ami_id), desired_state="running"))
    throttle_read_backs(monkeypatch, code="UnauthorizedOperation", status=403)
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        control_plane.transition(TransitionInput(pcf_id="ec2_instance:denied", action="start", execution=EXECUTION))


def test_a_recreation_after_termination_gets_a_new_instance(
    control_plane: ControlPlane, ami_id: str, ec2: Any, clock: VirtualClock
) -> None:
    control_plane.plan(PlanInput(definition=instance("again", ami_id), desired_state="running"))
    drive(control_plane, "ec2_instance:again", clock)
    [first] = live_instances(ec2, "cp-again")
    ec2.terminate_instances(InstanceIds=[first["InstanceId"]])  # behind the framework's back
    assert drive(control_plane, "ec2_instance:again", clock) == ["start"]
    [second] = live_instances(ec2, "cp-again")
    assert second["InstanceId"] != first["InstanceId"]


@pytest.mark.parametrize(("settings", "seconds"), [
    ({}, 900 + 120 * (5 + 60)),  # the defaults: 120 polls of 5 s
    ({"wait_seconds": 60, "max_polls": 1000}, 86_400),  # capped at the particle machine's timeout
    ({"wait_seconds": 0, "max_polls": 1}, 960),
    ({"ttl_seconds": 30}, 30),
])
def test_a_lease_lasts_as_long_as_its_particle_may_converge(
    control_plane: ControlPlane, ami_id: str, clock: VirtualClock, settings: dict[str, Any], seconds: float
) -> None:
    control_plane.plan(PlanInput(definition=instance("long", ami_id), desired_state="running"))
    control_plane.acquire_lease(LeaseInput(pcf_id="ec2_instance:long", execution="exec-1", **settings))
    lease = control_plane.store.current_lease("ec2_instance:long")
    assert lease is not None and lease.expires_at - lease.acquired_at == pytest.approx(seconds)
    clock.advance(seconds - 1)
    with pytest.raises(LeaseHeldError):
        control_plane.acquire_lease(LeaseInput(pcf_id="ec2_instance:long", execution="exec-2"))


def test_a_second_execution_cannot_take_a_held_lease(control_plane: ControlPlane, ami_id: str) -> None:
    control_plane.plan(PlanInput(definition=instance("busy", ami_id), desired_state="running"))
    control_plane.acquire_lease(LeaseInput(pcf_id="ec2_instance:busy", execution="exec-1"))
    with pytest.raises(LeaseHeldError, match="held by exec-1"):
        control_plane.acquire_lease(LeaseInput(pcf_id="ec2_instance:busy", execution="exec-2"))
    control_plane.release_lease(ParticleStep(pcf_id="ec2_instance:busy", execution="exec-2"))  # not the owner
    assert control_plane.store.current_lease("ec2_instance:busy").owner == "exec-1"


def test_an_unplanned_particle_is_a_named_error(control_plane: ControlPlane) -> None:
    with pytest.raises(UnknownParticleError, match="plan"):
        control_plane.sync_state(ParticleStep(pcf_id="ec2_instance:nobody"))


def test_the_cluster_inherits_from_the_stored_parent_and_attaches_volumes(
    control_plane: ControlPlane, ami_id: str, ec2: Any, clock: VirtualClock
) -> None:
    worker = instance("w", ami_id, multiplier=2)
    worker["aws_resource"]["custom_config"].update({  # as the CLI sends it: the template's text inline
        "userdata_template_file": "worker.j2", "userdata_template": "MASTER={{ master_ip }}\n",
        "userdata_params": {"master_ip": "$inherit$ec2_instance:master$PrivateIpAddress"}})
    volume = {"pcf_name": "v", "flavor": "ebs_volume", "multiplier": 2, "parents": ["ec2_instance:w"],
              "aws_resource": {"AvailabilityZone": "$inherit$ec2_instance:w$Placement.AvailabilityZone",
                               "Size": 8, "VolumeType": "gp3",
                               "custom_config": {"volume_name": "cp-data", "attach": True}}}
    definition = {"pcf_name": "cluster", "flavor": "distributed_master_worker",
                  "custom_config": {"master": "master"},
                  "particles": [instance("master", ami_id), worker, volume]}
    with no_definition_files():  # as in the Lambdas: the plan and the transitions render from the inline text
        out = control_plane.plan(PlanInput(definition=definition, desired_state="running"))
        for level in out.phases[0].levels:
            for pcf_id in level:
                drive(control_plane, pcf_id, clock)

    [master] = live_instances(ec2, "cp-master")
    for index in range(2):
        [node] = live_instances(ec2, f"cp-w-{index}")
        user_data = ec2.describe_instance_attribute(InstanceId=node["InstanceId"], Attribute="userData")
        assert f"MASTER={master['PrivateIpAddress']}" in base64.b64decode(user_data["UserData"]["Value"]).decode()
        volumes = ec2.describe_volumes(Filters=[{"Name": "tag:PCFName", "Values": [f"cp-data-{index}"]}])["Volumes"]
        assert [a["InstanceId"] for a in volumes[0]["Attachments"]] == [node["InstanceId"]]


def test_the_plan_step_refuses_a_template_named_only_by_its_file(
    control_plane: ControlPlane, ami_id: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "boot.j2").write_text("echo {{ x }}\n")
    monkeypatch.chdir(tmp_path)  # the file is there, where a library build would read it
    web = instance("web", ami_id)
    web["aws_resource"]["custom_config"].update({"userdata_template_file": "boot.j2", "userdata_params": {"x": 1}})

    with no_definition_files(), pytest.raises(InvalidConfigException) as refused:
        control_plane.plan(PlanInput(definition=web, desired_state="running"))

    assert refused.value.field == "ec2_instance:web.aws_resource.custom_config.userdata_template_file"
    assert "never reads files a definition names" in refused.value.reason
    assert "custom_config.userdata_template" in refused.value.reason
    assert control_plane.store.get_spec("ec2_instance:web") is None
    web["aws_resource"]["custom_config"]["userdata_template"] = "echo {{ x }}\n"
    with no_definition_files():
        control_plane.plan(PlanInput(definition=web, desired_state="running"))
    stored = control_plane.store.get_spec("ec2_instance:web").definition["aws_resource"]["custom_config"]
    assert stored["userdata_template"] == "echo {{ x }}\n", "the stored spec carries the text to the transitions"


def test_a_child_inherits_from_the_parents_stored_observation_without_reading_it(
    control_plane: ControlPlane, cloud: Any, clock: VirtualClock, ami_id: str, ec2: Any
) -> None:
    child = instance("kid", ami_id, parents=["ec2_instance:mom"])
    child["aws_resource"]["custom_config"]["tags"] = {"Mom": "$inherit$ec2_instance:mom$PrivateIpAddress"}
    definition = {"pcf_name": "family", "flavor": "quasiparticle", "particles": [instance("mom", ami_id), child]}
    control_plane.plan(PlanInput(definition=definition, desired_state="running"))
    assert control_plane.store.get_spec("ec2_instance:mom").exports == ("PrivateIpAddress",)
    drive(control_plane, "ec2_instance:mom", clock)
    calls = Calls(cloud)
    control_plane.sync_state(ParticleStep(pcf_id="ec2_instance:kid", execution=EXECUTION))
    assert calls.names == ["DescribeInstances"], "only the child itself is read"
    drive(control_plane, "ec2_instance:kid", clock)
    [mom], [kid] = live_instances(ec2, "cp-mom"), live_instances(ec2, "cp-kid")
    assert {t["Key"]: t["Value"] for t in kid["Tags"]}["Mom"] == mom["PrivateIpAddress"]


def test_a_sync_reads_the_particle_in_one_call_and_its_parents_in_another(
    cloud: Any, clock: VirtualClock, ami_id: str
) -> None:
    client = cloud.client("dynamodb")
    create_table(client, "pcf-reads", sleep=lambda _: None)
    store = DynamoDBStateStore(client, "pcf-reads", clock=clock.now, sleep=clock.sleep)
    steps = ControlPlane(store, cloud.client_factory, clock=clock.now, deployment="test")
    child = instance("son", ami_id, parents=["ec2_instance:dad"])
    child["aws_resource"]["custom_config"]["tags"] = {"Dad": "$inherit$ec2_instance:dad$PrivateIpAddress"}
    steps.plan(PlanInput(definition={"pcf_name": "f3", "flavor": "quasiparticle",
                                     "particles": [instance("dad", ami_id), child]}, desired_state="running"))
    drive(steps, "ec2_instance:dad", clock)

    with CallCounter(client) as counter:
        steps.sync_state(ParticleStep(pcf_id="ec2_instance:son", execution=EXECUTION))

    assert counter.calls["BatchGetItem"] == 2, "spec and observation together; the parent's likewise"
    assert "GetItem" not in counter.calls


def test_without_a_stored_value_the_parent_is_read_from_the_cloud(
    control_plane: ControlPlane, cloud: Any, clock: VirtualClock, ami_id: str, ec2: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    child = instance("kid2", ami_id, parents=["ec2_instance:dad"])
    child["aws_resource"]["custom_config"]["tags"] = {"Dad": "$inherit$ec2_instance:dad$PrivateIpAddress"}
    definition = {"pcf_name": "family2", "flavor": "quasiparticle", "particles": [instance("dad", ami_id), child]}
    control_plane.plan(PlanInput(definition=definition, desired_state="running"))
    control_plane.acquire_lease(LeaseInput(pcf_id="ec2_instance:dad", execution=EXECUTION))
    throttle_read_backs(monkeypatch)
    control_plane.transition(TransitionInput(pcf_id="ec2_instance:dad", action="start", execution=EXECUTION))
    monkeypatch.undo()
    calls = Calls(cloud)  # dad was started, its read-back throttled: nothing stored to inherit from
    control_plane.sync_state(ParticleStep(pcf_id="ec2_instance:kid2", execution=EXECUTION))
    assert calls.names.count("DescribeInstances") == 2
