"""The control-plane steps driven as the workflow drives them, on the local cloud and a state store: a run planned
into pages, each particle visited (``converge``) until done."""

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
from pcf_control_plane import run_steps
from pcf_control_plane.converge import converge
from pcf_control_plane.errors import UnknownParticleError
from pcf_control_plane.messages import ConvergeInput, PageStep, PlanInput
from pcf_control_plane.steps import ControlPlane
from pcf_control_plane.store import DynamoDBStateStore, HistoryKind, ParticleSpec
from pcf_control_plane.store.table import create_table
from pcf_local_cloud.clock import VirtualClock
from tests.store.store_support import CallCounter
from tests.support.ec2_calls import Calls
from tests.support.steps import STORES, instance, live_instances, plan_all, run_ids, steps_over, visit_until_done

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:apply:test-1"


@pytest.fixture(params=STORES)
def control_plane(request: pytest.FixtureRequest, cloud: Any, clock: VirtualClock) -> ControlPlane:
    """The steps over each store implementation (DynamoDB on the local cloud)."""
    return steps_over(request.param, cloud, clock)


def plan(steps: ControlPlane, definition: dict[str, Any], state: str, execution: str = EXECUTION) -> Any:
    return plan_all(steps, PlanInput(definition=definition, desired_state=state, execution=execution))


def drive(steps: ControlPlane, pcf_id: str, clock: VirtualClock, execution: str = EXECUTION) -> list[str]:
    return visit_until_done(steps, pcf_id, clock, execution)


def visit(steps: ControlPlane, pcf_id: str, execution: str = EXECUTION) -> Any:
    return converge(steps, ConvergeInput(pcf_id=pcf_id, execution=execution))


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
    out = plan(control_plane, definition, "running")
    assert out.particles == 3
    assert run_ids(control_plane, out, EXECUTION) == [["ec2_instance:m"], ["ec2_instance:w-0", "ec2_instance:w-1"]]
    stored = control_plane.store.get_spec("ec2_instance:w-1")
    assert stored is not None and stored.desired_state == "running"
    assert stored.definition["parents"] == ["ec2_instance:m"]
    assert stored.quasiparticle == "quasiparticle:c"
    assert control_plane.store.members_of("quasiparticle:c") == ["ec2_instance:m", "ec2_instance:w-0",
                                                                   "ec2_instance:w-1"]
    assert control_plane.store.list_history("ec2_instance:m")[0].cause == EXECUTION


def test_a_bad_definition_is_refused_and_nothing_is_stored(control_plane: ControlPlane, ami_id: str) -> None:
    with pytest.raises(UnknownFlavorError):
        plan(control_plane, {**instance("x", ami_id), "flavor": "ec2_instanse"}, "running")
    with pytest.raises(DefinitionError, match="instance_name"):
        bad = instance("y", ami_id)
        del bad["aws_resource"]["custom_config"]["instance_name"]
        plan(control_plane, bad, "running")
    assert control_plane.store.get_spec("ec2_instance:x") is None
    assert control_plane.store.get_spec("ec2_instance:y") is None
    assert control_plane.store.get_run(EXECUTION) is None


def test_a_member_refused_late_leaves_every_member_unwritten(control_plane: ControlPlane, ami_id: str) -> None:
    worker = instance("w", ami_id, parents=["ec2_instance:m"],
                      callbacks={"start": {"function": lambda particle: None}})  # a library-mode callable
    definition = {"pcf_name": "c", "flavor": "quasiparticle", "particles": [instance("m", ami_id), worker]}
    with pytest.raises(DefinitionError, match=r"ec2_instance:w\.callbacks\.start\.function"):
        plan(control_plane, definition, "running")
    assert control_plane.store.get_spec("ec2_instance:m") is None, "checked before anything was written"
    assert control_plane.store.list_history("ec2_instance:m") == []


def test_a_visit_refuses_an_unregistered_callback_in_a_stored_spec(
    control_plane: ControlPlane, ami_id: str, ec2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan(control_plane, instance("evil", ami_id), "running")
    planned = control_plane.store.get_spec("ec2_instance:evil")
    assert planned is not None
    hostile = {**planned.definition, "callbacks": {"start": {"function": "os:system", "kwargs": {"command": "true"}}}}
    fields = planned.model_dump(include=set(ParticleSpec.model_fields))
    control_plane.store.put_spec(ParticleSpec(**{**fields, "definition": hostile}))  # written to the store directly
    ran: list[str] = []
    monkeypatch.setattr("os.system", ran.append)

    with pytest.raises(NoCallbackFunctionException) as refused:
        converge(control_plane, ConvergeInput(pcf_id="ec2_instance:evil", execution="unplanned"))

    assert refused.value.field.endswith("callbacks.start.function") and "os:system" in refused.value.reason
    assert ran == [] and live_instances(ec2, "cp-evil") == []


def test_plan_writes_many_members_page_by_page_with_their_generations(
    control_plane: ControlPlane, ami_id: str
) -> None:
    definition = {"pcf_name": "big", "flavor": "quasiparticle", "particles": [
        instance("m", ami_id), instance("w", ami_id, multiplier=45, parents=["ec2_instance:m"])]}
    first = plan(control_plane, definition, "running")
    again = plan(control_plane, definition, "stopped", execution=f"{EXECUTION}-again")
    assert [level.pages for level in first.levels] == [[0], [0, 1]], "45 workers: pages of 40 and 5"

    def generations(run: str, planned: Any) -> dict[str, int]:
        return {item.pcf_id: item.generation for level in planned.levels for page in level.pages
                for item in run_steps.load_page(control_plane, PageStep(
                    run=run, execution=run, phase=level.phase, level=level.level, page=page)).items}

    members = ["ec2_instance:m", *(f"ec2_instance:w-{i}" for i in range(45))]
    assert sorted(generations(EXECUTION, first)) == sorted(members)
    assert set(generations(EXECUTION, first).values()) == {1}
    assert set(generations(f"{EXECUTION}-again", again).values()) == {2}
    for pcf_id in generations(EXECUTION, first):
        assert control_plane.store.get_spec(pcf_id).desired_state == "stopped"
        assert [h.detail["generation"] for h in control_plane.store.list_history(pcf_id, newest_first=False)
                if h.kind is HistoryKind.plan] == [1, 2]


def test_a_single_instance_runs_stops_and_terminates(
    control_plane: ControlPlane, ami_id: str, ec2: Any, clock: VirtualClock
) -> None:
    for n, (state, expected) in enumerate((("running", ["start"]), ("stopped", ["stop"]),
                                           ("terminated", ["terminate"]))):
        plan(control_plane, instance("solo", ami_id), state, execution=f"{EXECUTION}-{n}")
        assert drive(control_plane, "ec2_instance:solo", clock, execution=f"{EXECUTION}-{n}") == expected
    observation = control_plane.store.get_observation("ec2_instance:solo")
    assert observation is not None and observation.state == "terminated"
    kinds = [item.kind for item in control_plane.store.list_history("ec2_instance:solo", newest_first=False)]
    assert kinds.count(HistoryKind.transition) == 3
    assert HistoryKind.observation in kinds
    assert control_plane.store.current_lease("ec2_instance:solo") is None


def test_a_visit_answers_and_stores_the_state_it_left(
    control_plane: ControlPlane, cloud: Any, ami_id: str, ec2: Any
) -> None:
    cloud.pending_seconds = 5.0
    plan(control_plane, instance("fresh", ami_id), "running")

    out = visit(control_plane, "ec2_instance:fresh")

    [launched] = live_instances(ec2, "cp-fresh")
    assert (out.acted, out.state, out.resource_id) == ("start", "pending", launched["InstanceId"])
    stored = control_plane.store.get_observation("ec2_instance:fresh")
    assert stored is not None and (stored.state, stored.resource_id) == ("pending", launched["InstanceId"])
    assert control_plane.store.find_by_resource_id(launched["InstanceId"]) == "ec2_instance:fresh", (
        "events about the new instance find their particle before the next visit")
    history = control_plane.store.list_history("ec2_instance:fresh", newest_first=False)
    assert [(h.kind, h.detail.get("state")) for h in history][-2:] == [
        (HistoryKind.transition, None), (HistoryKind.observation, "pending")]


def test_a_throttled_read_back_leaves_the_transition_done(
    control_plane: ControlPlane, ami_id: str, ec2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan(control_plane, instance("busy", ami_id), "running")
    reads = throttle_read_backs(monkeypatch)
    out = visit(control_plane, "ec2_instance:busy")

    assert len(reads) == 2 and (out.action, out.acted) == ("later", "start")
    assert len(live_instances(ec2, "cp-busy")) == 1
    stored = control_plane.store.get_observation("ec2_instance:busy")
    assert stored is not None and stored.state == "terminated", "the next visit records it instead"
    [transition] = [h for h in control_plane.store.list_history("ec2_instance:busy")
                    if h.kind is HistoryKind.transition]
    assert transition.detail == {"action": "start", "generation": 1, "created": True}
    monkeypatch.undo()
    assert visit(control_plane, "ec2_instance:busy").action == "done"
    assert len(live_instances(ec2, "cp-busy")) == 1


def test_a_read_back_that_fails_for_good_fails_the_visit(
    control_plane: ControlPlane, ami_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan(control_plane, instance("denied", ami_id), "running")
    throttle_read_backs(monkeypatch, code="UnauthorizedOperation", status=403)
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        visit(control_plane, "ec2_instance:denied")


def test_a_recreation_after_termination_gets_a_new_instance(
    control_plane: ControlPlane, ami_id: str, ec2: Any, clock: VirtualClock
) -> None:
    plan(control_plane, instance("again", ami_id), "running")
    drive(control_plane, "ec2_instance:again", clock)
    [first] = live_instances(ec2, "cp-again")
    ec2.terminate_instances(InstanceIds=[first["InstanceId"]])  # behind the framework's back
    assert drive(control_plane, "ec2_instance:again", clock) == ["start"]
    [second] = live_instances(ec2, "cp-again")
    assert second["InstanceId"] != first["InstanceId"]


@pytest.mark.parametrize(("settings", "seconds"), [
    ({}, 900 + 120 * (5 + 60)),  # the defaults: 120 visits 5 s apart
    ({"wait_seconds": 60, "max_polls": 1000}, 86_400),  # capped at the page machine's timeout
    ({"wait_seconds": 0, "max_polls": 1}, 960),
    ({"ttl_seconds": 30}, 30),
])
def test_the_lease_a_visit_takes_lasts_as_long_as_its_particle_may_converge(
    control_plane: ControlPlane, cloud: Any, ami_id: str, settings: dict[str, Any], seconds: float
) -> None:
    cloud.pending_seconds = 5.0  # the lease is kept while the launch is in progress
    plan(control_plane, instance("long", ami_id), "running")
    converge(control_plane, ConvergeInput(pcf_id="ec2_instance:long", execution=EXECUTION, **settings))
    lease = control_plane.store.current_lease("ec2_instance:long")
    assert lease is not None and lease.expires_at - lease.acquired_at == pytest.approx(seconds)


def test_an_unplanned_particle_is_a_named_error(control_plane: ControlPlane) -> None:
    with pytest.raises(UnknownParticleError, match="plan"):
        visit(control_plane, "ec2_instance:nobody")


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
        out = plan(control_plane, definition, "running")
        for level in run_ids(control_plane, out, EXECUTION):
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
        plan(control_plane, web, "running")

    assert refused.value.field == "ec2_instance:web.aws_resource.custom_config.userdata_template_file"
    assert "never reads files a definition names" in refused.value.reason
    assert "custom_config.userdata_template" in refused.value.reason
    assert control_plane.store.get_spec("ec2_instance:web") is None
    web["aws_resource"]["custom_config"]["userdata_template"] = "echo {{ x }}\n"
    with no_definition_files():
        plan(control_plane, web, "running")
    stored = control_plane.store.get_spec("ec2_instance:web").definition["aws_resource"]["custom_config"]
    assert stored["userdata_template"] == "echo {{ x }}\n", "the stored spec carries the text to the transitions"


def test_a_child_inherits_from_the_parents_stored_observation_without_reading_it(
    control_plane: ControlPlane, cloud: Any, clock: VirtualClock, ami_id: str, ec2: Any
) -> None:
    child = instance("kid", ami_id, parents=["ec2_instance:mom"])
    child["aws_resource"]["custom_config"]["tags"] = {"Mom": "$inherit$ec2_instance:mom$PrivateIpAddress"}
    definition = {"pcf_name": "family", "flavor": "quasiparticle", "particles": [instance("mom", ami_id), child]}
    plan(control_plane, definition, "running")
    assert control_plane.store.get_spec("ec2_instance:mom").exports == ("PrivateIpAddress",)
    drive(control_plane, "ec2_instance:mom", clock)
    calls = Calls(cloud)
    drive(control_plane, "ec2_instance:kid", clock)
    assert calls.names == ["DescribeInstances", "RunInstances", "DescribeInstances"], (
        "only the child itself is read, before and after its launch")
    [mom], [kid] = live_instances(ec2, "cp-mom"), live_instances(ec2, "cp-kid")
    assert {t["Key"]: t["Value"] for t in kid["Tags"]}["Mom"] == mom["PrivateIpAddress"]


def test_a_visit_reads_the_particle_and_its_parents_in_one_call(
    cloud: Any, clock: VirtualClock, ami_id: str
) -> None:
    client = cloud.client("dynamodb")
    create_table(client, "pcf-reads", sleep=lambda _: None)
    store = DynamoDBStateStore(client, "pcf-reads", clock=clock.now, sleep=clock.sleep)
    steps = ControlPlane(store, cloud.client_factory, clock=clock.now, deployment="test")
    child = instance("son", ami_id, parents=["ec2_instance:dad"])
    child["aws_resource"]["custom_config"]["tags"] = {"Dad": "$inherit$ec2_instance:dad$PrivateIpAddress"}
    planned = plan(steps, {"pcf_name": "f3", "flavor": "quasiparticle",
                           "particles": [instance("dad", ami_id), child]}, "running")
    drive(steps, "ec2_instance:dad", clock)
    [son] = run_steps.load_page(steps, PageStep(run=EXECUTION, execution=EXECUTION, phase="start", level=1,
                                                page=0)).items
    assert planned.levels[1].particles == 1

    with CallCounter(client) as counter:
        converge(steps, ConvergeInput(execution=EXECUTION, **son.model_dump()))

    assert counter.calls["BatchGetItem"] == 1, "spec, observation and lease, with the parent's spec and observation"
    assert "GetItem" not in counter.calls and "Query" not in counter.calls, "the page told the generation"


def test_without_a_stored_value_the_parent_is_read_from_the_cloud(
    control_plane: ControlPlane, cloud: Any, clock: VirtualClock, ami_id: str, ec2: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    child = instance("kid2", ami_id, parents=["ec2_instance:dad"])
    child["aws_resource"]["custom_config"]["tags"] = {"Dad": "$inherit$ec2_instance:dad$PrivateIpAddress"}
    definition = {"pcf_name": "family2", "flavor": "quasiparticle", "particles": [instance("dad", ami_id), child]}
    plan(control_plane, definition, "running")
    throttle_read_backs(monkeypatch)
    assert visit(control_plane, "ec2_instance:dad").acted == "start"
    monkeypatch.undo()
    calls = Calls(cloud)  # dad was started, its read-back throttled: nothing stored to inherit from
    visit(control_plane, "ec2_instance:kid2")
    assert calls.names.count("DescribeInstances") == 2, "the child, and its parent from the cloud"
