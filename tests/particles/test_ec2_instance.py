"""EC2Instance: the seed's class tables, identity, lifecycle and idempotent creation on the local cloud."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from pcf.core import State
from pcf.core.decision import Action
from pcf.core.pcf_exceptions import NoResourceException, TooManyResourceException
from pcf.core.registry import get_particle_flavor
from pcf.particle.aws.ec2.ec2_instance import EC2Instance, _construct_arn, _get_instance_id_from_arn
from pcf.util.aws.clients import ClientFactory
from pcf.util.definition_files import template_root
from pcf.util.pcf_util import tags_to_dict
from tests.support.tags import named


def make_particle(ami_id: str, name: str = "web", custom: dict[str, Any] | None = None, **resource: Any) -> EC2Instance:
    config = {"instance_name": f"pcf-{name}", **(custom or {})}
    aws_resource = {"ImageId": ami_id, "InstanceType": "t2.micro", **resource, "custom_config": config}
    return EC2Instance({"pcf_name": name, "flavor": "ec2_instance", "aws_resource": aws_resource})


def live_instances(ec2: Any, instance_name: str) -> list[dict[str, Any]]:
    response = ec2.describe_instances(
        Filters=[
            {"Name": "tag:PCFName", "Values": [instance_name]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ]
    )
    return [i for r in response["Reservations"] for i in r["Instances"]]


def describe(ec2: Any, instance_id: str) -> dict[str, Any]:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


# -- the seed's class tables ------------------------------------------------------------------------
def test_class_tables_are_the_seeds() -> None:
    assert EC2Instance.flavor == "ec2_instance"
    assert EC2Instance.state_lookup == {
        "missing": State.terminated,
        "pending": State.pending,
        "running": State.running,
        "shutting-down": State.pending,
        "stopped": State.stopped,
        "stopping": State.pending,
        "terminated": State.terminated,
    }
    assert EC2Instance.equivalent_states == {}
    start_params = {
        "BlockDeviceMappings", "IamInstanceProfile", "ImageId", "InstanceInitiatedShutdownBehavior",
        "InstanceType", "KeyName", "MaxCount", "MinCount", "SecurityGroupIds", "SubnetId",
        "TagSpecifications", "UserData",
    }  # fmt: skip
    state_params = {
        "IamInstanceProfile", "ImageId", "InstanceInitiatedShutdownBehavior", "InstanceType", "KeyName",
        "SecurityGroupIds", "SubnetId", "TagSpecifications", "UserData",
    }  # fmt: skip
    ebs_conversions = {
        "DeleteOnTermination": "", "Iops": "", "SnapshotId": "", "VolumeSize": "Size", "VolumeType": "",
    }  # fmt: skip
    assert start_params == EC2Instance.START_PARAM_FILTER
    assert state_params == EC2Instance.STATE_PARAM_FILTER
    assert ebs_conversions == EC2Instance.EBS_PARAM_CONVERSIONS
    assert EC2Instance.UNIQUE_KEYS == ["aws_resource.custom_config.instance_name"]
    assert get_particle_flavor("ec2_instance") is EC2Instance


def test_arn_helpers_round_trip() -> None:
    arn = _construct_arn("123456789012", "eu-west-1", "i-0abc")
    assert arn == "arn:aws:ec2:eu-west-1:123456789012:instance/instance-id/i-0abc"
    assert _get_instance_id_from_arn(arn) == "i-0abc"


def test_constructor_makes_no_calls(tmp_path: Any) -> None:
    calls: list[str] = []
    factory = ClientFactory(on_client_created=lambda service, client: calls.append(service))
    particle = EC2Instance(
        {
            "pcf_name": "web",
            "flavor": "ec2_instance",
            "aws_resource": {
                "ImageId": "ami-12345678",
                "custom_config": {"instance_name": "web-1"},
            },
        },
        client_factory=factory,
    )
    assert calls == []
    assert particle.get_label() == "web-1"
    assert particle.unique_keys == ["aws_resource.custom_config.instance_name"]
    assert particle.observed_state is None
    assert not hasattr(particle, "state")  # unset until the first sync, as in the original PCF


# -- create, stop, start, terminate -----------------------------------------------------------------
def test_start_from_nothing_runs_a_tagged_instance_with_rendered_user_data(
    cloud: Any, ec2: Any, ami_id: str, runtime: Any, tmp_path: Any
) -> None:
    template = tmp_path / "boot.sh.j2"
    template.write_text("echo {{ greeting }} > /tmp/hello\n")
    with template_root(tmp_path):  # a template is read from under the definition's folder
        particle = make_particle(
            ami_id,
            region_name="us-east-1",
            custom={
                "tags": {"Team": "data", "Cost": 42},
                "userdata_template_file": str(template),
                "userdata_params": {"greeting": "bonjour"},
                "userdata_bash": True,
            },
        )
    particle.set_desired_state("running")

    result = particle.apply(runtime=runtime)

    outcome = result.outcomes["ec2_instance:web"]
    assert outcome.transitions == [Action.start]
    assert outcome.created and outcome.final_state is State.running
    [instance] = live_instances(ec2, "pcf-web")
    assert instance["InstanceId"] == particle.get_instance_id()
    assert instance["State"]["Name"] == "running"
    assert instance["InstanceType"] == "t2.micro"
    assert tags_to_dict(instance["Tags"]) == {
        "PCFName": "pcf-web",
        "PCFDeployment": "pcf",
        "Team": "data",
        "Cost": "42",
    }
    raw = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")["UserData"]["Value"]
    assert base64.b64decode(raw).decode() == "#!/bin/bash\necho bonjour > /tmp/hello\n"
    assert particle.arn.endswith(f"instance/instance-id/{instance['InstanceId']}")
    assert particle.current_state_definition["PrivateIpAddress"] == instance["PrivateIpAddress"]


def test_stop_start_terminate_round_trip(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = make_particle(ami_id)
    particle.set_desired_state("running")
    particle.apply(runtime=runtime)
    instance_id = particle.get_instance_id()

    particle.set_desired_state("stopped")
    stopped = particle.apply(runtime=runtime).outcomes["ec2_instance:web"]
    assert stopped.transitions == [Action.stop]
    assert describe(ec2, instance_id)["State"]["Name"] == "stopped"
    assert particle.state is State.stopped

    particle.set_desired_state("running")
    started = particle.apply(runtime=runtime).outcomes["ec2_instance:web"]
    assert started.transitions == [Action.start] and not started.created
    assert describe(ec2, instance_id)["State"]["Name"] == "running"
    assert particle.get_instance_id() == instance_id

    particle.set_desired_state("terminated")
    ended = particle.apply(runtime=runtime).outcomes["ec2_instance:web"]
    assert ended.transitions == [Action.terminate]
    gone = describe(ec2, instance_id)
    assert gone["State"]["Name"] == "terminated"
    assert tags_to_dict(gone["Tags"])["PCFName"] == "pcf-web"  # the name tag is never removed
    assert particle.state is State.terminated
    assert particle.current_state_definition == {}
    with pytest.raises(NoResourceException):
        particle.get_instance_id()


def test_terminate_of_a_missing_instance_does_nothing(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = make_particle(ami_id)
    particle.set_desired_state("terminated")
    outcome = particle.apply(runtime=runtime).outcomes["ec2_instance:web"]
    assert outcome.transitions == []
    assert particle.terminate() is None
    assert particle.stop() is None
    assert live_instances(ec2, "pcf-web") == []


def test_terminate_twice_calls_terminate_once(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = make_particle(ami_id)
    particle.set_desired_state("running")
    particle.apply(runtime=runtime)
    assert particle.terminate() is not None
    assert particle.terminate() is None


def test_stopped_desired_from_nothing_creates_nothing(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = make_particle(ami_id)
    particle.set_desired_state("stopped")
    outcome = particle.apply(runtime=runtime).outcomes["ec2_instance:web"]
    assert outcome.transitions == []
    assert outcome.final_state is State.terminated
    assert live_instances(ec2, "pcf-web") == []


# -- identity ---------------------------------------------------------------------------------------
def test_two_instances_with_the_same_name_are_refused(cloud: Any, ec2: Any, ami_id: str) -> None:
    for _ in range(2):
        ec2.run_instances(
            ImageId=ami_id,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": named("pcf-web")}],
        )
    particle = make_particle(ami_id)
    with pytest.raises(TooManyResourceException, match="2 instances"):
        _ = particle.arn
    with pytest.raises(TooManyResourceException):
        particle.sync_state()


def test_an_instance_shutting_down_yields_to_the_live_one(cloud: Any, ec2: Any, ami_id: str) -> None:
    ids = []
    for _ in range(2):
        response = ec2.run_instances(
            ImageId=ami_id,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": named("pcf-web")}],
        )
        ids.append(response["Instances"][0]["InstanceId"])
    cloud.force_instance_state(ids[0], "shutting-down")
    particle = make_particle(ami_id)
    particle.sync_state()
    assert particle.state is State.running
    assert particle.get_instance_id() == ids[1]


def test_the_arn_is_forgotten_when_the_instance_is_gone(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = make_particle(ami_id)
    particle.set_desired_state("running")
    particle.apply(runtime=runtime)
    first = particle.get_instance_id()
    ec2.terminate_instances(InstanceIds=[first])  # terminated behind the particle's back

    particle.sync_state()
    assert particle.state is State.terminated
    outcome = particle.apply(runtime=runtime).outcomes["ec2_instance:web"]
    assert outcome.created
    assert particle.get_instance_id() != first


# -- idempotent creation ------------------------------------------------------------------------------
def test_create_twice_in_one_scope_launches_one_instance(cloud: Any, ec2: Any, ami_id: str) -> None:
    particle = make_particle(ami_id)
    particle.idempotency_scope = "apply-1"
    first = particle.create()["Instances"][0]["InstanceId"]
    second = particle.create()["Instances"][0]["InstanceId"]
    assert first == second
    assert [i["InstanceId"] for i in live_instances(ec2, "pcf-web")] == [first]


def test_a_retried_start_from_a_second_worker_launches_once(cloud: Any, ec2: Any, ami_id: str) -> None:
    first, retry = make_particle(ami_id), make_particle(ami_id)
    for particle in (first, retry):
        particle.idempotency_scope = "generation-7"
        particle.sync_state()  # both saw nothing: the retry's view predates the first launch
    assert first.state is State.terminated and retry.state is State.terminated

    first._start()
    retry._start()

    [instance] = live_instances(ec2, "pcf-web")
    assert retry.get_instance_id() == first.get_instance_id() == instance["InstanceId"]


def test_another_scope_is_a_new_launch_request(cloud: Any, ec2: Any, ami_id: str) -> None:
    particle = make_particle(ami_id)
    particle.idempotency_scope = "a"
    particle.create()
    particle.idempotency_scope = "b"
    particle.create()
    assert len(live_instances(ec2, "pcf-web")) == 2


def test_after_terminate_a_new_apply_creates_a_new_instance(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = make_particle(ami_id)
    particle.set_desired_state("running")
    particle.apply(runtime=runtime)
    first = particle.get_instance_id()
    particle.set_desired_state("terminated")
    particle.apply(runtime=runtime)
    particle.set_desired_state("running")
    outcome = particle.apply(runtime=runtime).outcomes["ec2_instance:web"]
    assert outcome.created
    [instance] = live_instances(ec2, "pcf-web")
    assert instance["InstanceId"] != first


def test_same_scope_after_terminate_still_launches_anew(cloud: Any, ec2: Any, ami_id: str) -> None:
    particle = make_particle(ami_id)
    particle.idempotency_scope = "fixed"
    first = particle.create()["Instances"][0]["InstanceId"]
    particle.sync_state()
    particle._terminate()
    particle.sync_state()
    assert particle.state is State.terminated

    second = particle._start()["Instances"][0]["InstanceId"]

    assert second != first
    assert [i["InstanceId"] for i in live_instances(ec2, "pcf-web")] == [second]


def test_a_fresh_particle_reusing_a_spent_token_launches_anew_on_its_next_start(
    cloud: Any, ec2: Any, ami_id: str
) -> None:
    first = make_particle(ami_id)
    first.idempotency_scope = "fixed"
    spent = first.create()["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[spent])

    later = make_particle(ami_id)  # e.g. another process, same scope: EC2 answers with the spent instance
    later.idempotency_scope = "fixed"
    later.start()
    later.sync_state()
    assert later.state is State.terminated
    launched = later.start()["Instances"][0]["InstanceId"]

    assert launched != spent
    assert [i["InstanceId"] for i in live_instances(ec2, "pcf-web")] == [launched]


def test_a_just_launched_instance_missing_from_tag_queries_is_not_launched_twice(
    cloud: Any, ec2: Any, ami_id: str, clock: Any, runtime: Any
) -> None:
    particle = make_particle(ami_id)
    particle.clock = clock.now
    particle.idempotency_scope = "s"
    launched = particle.create()["Instances"][0]["InstanceId"]
    # EC2 is eventually consistent: for a moment a tag query may not list the new instance.
    ec2.delete_tags(Resources=[launched], Tags=[{"Key": "PCFName"}])

    particle.sync_state()
    assert particle.state is State.running
    assert particle.get_instance_id() == launched

    particle.set_desired_state("running")
    outcome = particle.apply(runtime=runtime).outcomes["ec2_instance:web"]
    assert outcome.transitions == [Action.update]  # the name tag is put back, nothing is launched
    assert [i["InstanceId"] for i in live_instances(ec2, "pcf-web")] == [launched]


def test_a_launch_long_gone_from_tag_queries_is_given_up(cloud: Any, ec2: Any, ami_id: str, clock: Any) -> None:
    particle = make_particle(ami_id)
    particle.clock = clock.now
    launched = particle.create()["Instances"][0]["InstanceId"]
    ec2.delete_tags(Resources=[launched], Tags=[{"Key": "PCFName"}])
    clock.advance(121)

    particle.sync_state()

    assert particle.state is State.terminated
