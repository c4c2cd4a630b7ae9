"""Definitions and flavors written in the original PCF's style run from nothing to running to terminated on the
local cloud: JSON with comments, YAML, the quickstart's ``DistributedMasterWorker``, a user flavor subclassing
``AWSResource`` and a user ``_validate_config``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pcf.core import State
from pcf.core.aws_resource import AWSResource
from pcf.core.pcf_exceptions import InvalidConfigException
from pcf.core.quasiparticle import Quasiparticle
from pcf.core.runtime import Runtime
from pcf.particle.aws.ec2.ebs_volume import EBSVolume
from pcf.particle.aws.ec2.ec2_instance import EC2Instance
from pcf.quasiparticle.aws.distributed_master_worker import DistributedMasterWorker


def instance_states(ec2: Any) -> dict[str, str]:
    """Each instance's PCFName tag and state, as EC2 reports them."""
    found = {}
    for reservation in ec2.describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            if "PCFName" in tags:
                found[tags["PCFName"]] = instance["State"]["Name"]
    return found


def volume_names(ec2: Any) -> list[str]:
    return sorted(t["Value"] for v in ec2.describe_volumes()["Volumes"] for t in v.get("Tags", [])
                  if t["Key"] == "PCFName")


def cycle(particle: Any, runtime: Runtime) -> None:
    particle.set_desired_state("running")
    particle.apply(runtime=runtime)
    assert particle.get_state() is State.running
    particle.set_desired_state("terminated")
    particle.apply(runtime=runtime)
    assert particle.get_state() is State.terminated


def test_a_json_file_with_comments(tmp_path: Path, cloud: Any, ec2: Any, ami_id: str, runtime: Runtime) -> None:
    path = tmp_path / "web.json"
    path.write_text(f"""{{
  // a web server and its data volume, as the original's users wrote them
  "pcf_name": "web", "flavor": "quasiparticle",
  "particles": [
    {{"pcf_name": "server", "flavor": "ec2_instance",  # comments after values too
      "aws_resource": {{"ImageId": "{ami_id}", "InstanceType": "t3.micro", "MaxCount": 1, "MinCount": 1,
                       "custom_config": {{"instance_name": "compat-web", "tags": {{"NAME": "Value"}}}}}}}},
    {{"pcf_name": "data", "flavor": "ebs_volume", "parents": ["ec2_instance:server"],
      "aws_resource": {{"AvailabilityZone": "$inherit$ec2_instance:server$Placement.AvailabilityZone",
                       "Size": 8, "VolumeType": "gp2", "custom_config": {{"volume_name": "compat-data"}}}}}}
  ]
}}
""")
    quasi = Quasiparticle(str(path))
    quasi.set_desired_state("running")
    quasi.apply(runtime=runtime)
    assert instance_states(ec2) == {"compat-web": "running"}
    assert volume_names(ec2) == ["compat-data"]
    quasi.set_desired_state("terminated")
    quasi.apply(runtime=runtime)
    assert instance_states(ec2) == {"compat-web": "terminated"}
    assert volume_names(ec2) == []


def test_a_yaml_file(tmp_path: Path, cloud: Any, ec2: Any, ami_id: str, runtime: Runtime) -> None:
    path = tmp_path / "single.yml"
    path.write_text(f"pcf_name: single\nflavor: ec2_instance\naws_resource:\n  ImageId: {ami_id}\n"
                    "  InstanceType: t3.micro\n  InstanceInitiatedShutdownBehavior: stop\n"
                    "  custom_config:\n    instance_name: compat-single\n")
    particle = EC2Instance(path)
    cycle(particle, runtime)
    assert instance_states(ec2) == {"compat-single": "terminated"}


def test_the_quickstart_distributed_master_worker(cloud: Any, ec2: Any, ami_id: str, runtime: Runtime) -> None:
    def node(name: str, **extra: Any) -> dict[str, Any]:
        return {"pcf_name": name, "flavor": "ec2_instance", **extra, "aws_resource": {
            "ImageId": ami_id, "InstanceType": "t3.micro",
            "custom_config": {"instance_name": f"compat-{name}", "tags": {"Role": name}}}}

    cluster = DistributedMasterWorker({
        "pcf_name": "cluster", "flavor": "distributed_master_worker", "custom_config": {"master": "master"},
        "particles": [node("master"), node("worker", multiplier=2)]})
    workers = [p for p in cluster.members() if "worker" in p.name]
    assert all(p.parents == {cluster.get_particle("ec2_instance", "master")} for p in workers)
    cycle(cluster, runtime)
    assert instance_states(ec2) == {"compat-master": "terminated", "compat-worker-0": "terminated",
                                    "compat-worker-1": "terminated"}


class SQSQueue(AWSResource):
    """A user's flavor in the original developer quickstart's shape: a queue that exists (running) or not."""

    flavor = "compat_sqs_queue"
    UNIQUE_KEYS = ["aws_resource.QueueName"]
    equivalent_states = {State.running: 1, State.stopped: 0, State.terminated: 0}

    def __init__(self, particle_definition: Any) -> None:
        super().__init__(particle_definition, "sqs")
        self.queue_name = self.desired_state_definition["QueueName"]

    def _validate_config(self) -> None:
        if not self.queue_name.startswith("compat-"):
            raise InvalidConfigException(f"{self.queue_name}: queue names start with compat-")

    def sync_state(self) -> None:
        try:
            url = self.client.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        except self.client.exceptions.QueueDoesNotExist:
            self.state = State.terminated
            self.current_state_definition = {}
            return
        self.state = State.running
        self.current_state_definition = {"QueueName": self.queue_name, "QueueUrl": url}

    def _start(self) -> Any:
        return self.client.create_queue(QueueName=self.queue_name)

    def _stop(self) -> Any:
        return self._terminate()

    def _terminate(self) -> Any:
        return self.client.delete_queue(QueueUrl=self.client.get_queue_url(QueueName=self.queue_name)["QueueUrl"])

    def is_state_definition_equivalent(self) -> bool:
        return True


def test_a_user_flavor_subclassing_aws_resource(cloud: Any, runtime: Runtime) -> None:
    sqs = cloud.client("sqs")
    queue = SQSQueue({"pcf_name": "jobs", "flavor": "compat_sqs_queue", "aws_resource": {"QueueName": "compat-jobs"}})
    queue.set_desired_state(State.running)
    queue.apply(validate_config=True, runtime=runtime)
    assert [url.rsplit("/", 1)[1] for url in sqs.list_queues()["QueueUrls"]] == ["compat-jobs"]
    queue.set_desired_state(State.terminated)
    queue.apply(runtime=runtime)
    assert sqs.list_queues().get("QueueUrls", []) == []


def test_a_user_validate_config_refuses_before_anything_is_created(cloud: Any, runtime: Runtime) -> None:
    sqs = cloud.client("sqs")
    queue = SQSQueue({"pcf_name": "bad", "flavor": "compat_sqs_queue", "aws_resource": {"QueueName": "other"}})
    queue.set_desired_state(State.running)
    with pytest.raises(InvalidConfigException, match="queue names start with compat-"):
        queue.apply(validate_config=True, runtime=runtime)
    assert sqs.list_queues().get("QueueUrls", []) == []


def test_the_user_flavor_in_a_quasiparticle_file(tmp_path: Path, cloud: Any, runtime: Runtime) -> None:
    path = tmp_path / "queues.json"
    path.write_text(json.dumps({"pcf_name": "queues", "flavor": "quasiparticle", "particles": [
        {"pcf_name": "q", "flavor": "compat_sqs_queue", "multiplier": 2, "aws_resource": {"QueueName": "compat-q"}},
    ]}))
    quasi = Quasiparticle(str(path))
    cycle(quasi, runtime)
    assert cloud.client("sqs").list_queues().get("QueueUrls", []) == []


def test_the_original_ec2_and_ebs_test_definitions(cloud: Any, ec2: Any, ami_id: str, runtime: Runtime) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(Description="test", GroupName="test_sg", VpcId=vpc)["GroupId"]
    profile = cloud.client("iam").create_instance_profile(InstanceProfileName="ecsInstanceRole")["InstanceProfile"]
    instance = EC2Instance({"pcf_name": "gg-pcf", "flavor": "ec2_instance", "aws_resource": {
        "custom_config": {"instance_name": "gg-instance"}, "ImageId": ami_id, "InstanceType": "m4.large",
        "KeyName": "secret-key", "MaxCount": 1, "MinCount": 1, "SecurityGroupIds": [group], "SubnetId": subnet,
        "IamInstanceProfile": {"Arn": profile["Arn"]}, "InstanceInitiatedShutdownBehavior": "stop",
        "tags": {"Test": "Tag"}}})  # the original ignored these tags; here they are the instance's
    instance.set_desired_state(State.running)
    instance.apply(runtime=runtime)
    assert instance.get_state() is State.running
    [reservation] = ec2.describe_instances()["Reservations"]
    assert {"Key": "Test", "Value": "Tag"} in reservation["Instances"][0]["Tags"]
    instance.set_desired_state(State.terminated)
    instance.apply(sync=False, runtime=runtime)

    volume = EBSVolume({"pcf_name": "gg-pcf", "flavor": "ebs_volume", "aws_resource": {
        "custom_config": {"volume_name": "pcf-ebs-example"}, "AvailabilityZone": "us-east-1a", "Encrypted": True,
        "Size": 10, "VolumeType": "standard",
        "TagSpecifications": [{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "gg-pcf"}]}]}})
    cycle(volume, runtime)
    assert sorted(t["Key"] for t in volume.tags) == ["Name", "PCFDeployment", "PCFName"]
