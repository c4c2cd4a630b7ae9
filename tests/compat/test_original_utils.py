"""The original PCF's utilities as its users call them: ``pcf_util``, ``TagSpecifications``, ``$lookup$`` kinds and
the EBS volume's ``tags``."""

from __future__ import annotations

from typing import Any

import pytest

from pcf.cli import commands
from pcf.cli.commands import apply, run, stop, terminate
from pcf.core.pcf_exceptions import InvalidConfigException
from pcf.core.runtime import Runtime
from pcf.particle.aws.ec2.ebs_volume import EBSVolume
from pcf.particle.aws.ec2.ec2_instance import EC2Instance
from pcf.quasiparticle.aws.distributed_master_worker import DistributedMasterWorker
from pcf.util import pcf_util
from pcf.util.aws.tag_specifications import EBSTagSpecifications, EC2InstanceTagSpecifications, TagSpecifications


# -- update_dict / diff_dict ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("original", "updated"), [
    ({"lolcats": {"eat": "freefood"}}, {"lolcats": {}}),
    ({"lolcats": {"eat": "freefood"}}, {"lolcats": None}),
    ({"lolcats": ["fly"]}, {"lolcats": []}),
    ({"lolcats": "lol"}, {"lolcats": ""}),
])
def test_update_dict_replaces_with_an_empty_or_none_value(original: dict[str, Any], updated: dict[str, Any]) -> None:
    new, diff = pcf_util.update_dict(original, updated)
    assert new == updated
    assert diff == {"lolcats": {"original": original["lolcats"], "updated": updated["lolcats"]}}


def test_update_dict_reports_new_keys_and_leaves_its_input_alone() -> None:
    original: dict[str, Any] = {}
    updated = {"gg": "wp", "lol": {"cats": "grumpy"}, "borg": ["resistance", "is", "futile"]}
    new, diff = pcf_util.update_dict(original, updated)
    assert original == {}
    assert new == updated
    assert diff == {"gg": {"new": "wp"}, "lol": {"new": {"cats": "grumpy"}}, "borg": {"new": updated["borg"]}}
    assert pcf_util.update_dict(updated, {}) == (updated, {})


def test_diff_dict_nests_and_update_dict_merges_nested_dicts() -> None:
    original = {"gg": "wp", "lol": {"cats": "grumpy"}, "borg": ["resistance"], "don't": "touch me"}
    updated = {"gg": "glhf", "lol": {"cats": "grumpy", "rofl": "copter"}, "borg": ["resistance", "is"]}
    expected = {"borg": {"original": ["resistance"], "updated": ["resistance", "is"]},
                "lol": {"rofl": {"new": "copter"}}, "gg": {"original": "wp", "updated": "glhf"}}
    assert pcf_util.diff_dict(original, updated) == expected
    new, diff = pcf_util.update_dict(original, updated)
    assert diff == expected
    assert new == {"gg": "glhf", "lol": {"cats": "grumpy", "rofl": "copter"}, "borg": ["resistance", "is"],
                   "don't": "touch me"}
    assert pcf_util.diff_dict({"test": 72, "test2": 66}, {"test": 72}) == {}


# -- particles and modules ----------------------------------------------------------------------------------
class Holder:
    flavor = "compat_holder"
    value = "wahoo"
    synced = 0

    def sync_state(self) -> None:
        self.synced += 1


def test_get_value_from_particles_needs_exactly_one_of_the_flavor() -> None:
    holder = Holder()
    assert pcf_util.get_value_from_particles([holder], Holder, "value") == "wahoo"
    assert holder.synced == 1
    with pytest.raises(InvalidConfigException):
        pcf_util.get_value_from_particles([holder, Holder()], Holder, "value")
    with pytest.raises(InvalidConfigException):
        pcf_util.get_value_from_particles([], Holder, "value")


def test_pkg_submodules_and_particle_class_from_flavor() -> None:
    found = pcf_util.pkg_submodules(commands)
    assert all(module in found for module in (apply, run, stop, terminate))
    assert pcf_util.pkg_submodules("non-existent-module") == []
    assert pcf_util.particle_class_from_flavor("ec2_instance") is EC2Instance
    assert pcf_util.particle_class_from_flavor("distributed_master_worker") is DistributedMasterWorker
    assert pcf_util.particle_class_from_flavor("no particle for this flavor") is None


def test_find_nested_vars_and_small_helpers() -> None:
    found = pcf_util.find_nested_vars({"a": {"b": "$inherit$ec2_instance:x$InstanceId"}, "c": ["$lookup$ami$u", 1]})
    assert found == [("a.b", ["inherit", "ec2_instance:x", "InstanceId"]), ("c0", ["lookup", "ami", "u"])]
    assert pcf_util.get_item_from_dicts("k", {"j": 1}, {"k": 2}, {"k": 3}) == 2
    assert pcf_util.get_item_from_dicts("k") is None
    assert pcf_util.transform_list_of_dicts_to_desired_list([{"k": 1}, {"k": 1}, {"k": 2}, {}], "k") == [1, 2]


# -- TagSpecifications ---------------------------------------------------------------------------------------
def test_tag_specifications_as_the_original() -> None:
    spec = TagSpecifications("gg", rofl="lol")
    assert (spec.resource_type, spec.tags) == ("gg", {"rofl": "lol"})
    assert TagSpecifications("gg").render() == [{"ResourceType": "gg", "Tags": []}]
    spec.add_tag("lol", "cats")
    spec.add_tags({"Key": "gl", "Value": "hf"}, gg="wp")
    assert spec.tags == {"rofl": "lol", "lol": "cats", "gl": "hf", "gg": "wp"}
    spec.delete_tag("absent")
    spec.delete_tag(None)
    spec.delete_tags("rofl", "gl")
    assert spec.tags == {"lol": "cats", "gg": "wp"}
    rendered = spec.render()[0]
    assert rendered["ResourceType"] == "gg"
    assert sorted(rendered["Tags"], key=lambda t: t["Key"]) == [{"Key": "gg", "Value": "wp"},
                                                                 {"Key": "lol", "Value": "cats"}]


def test_tag_specifications_from_an_aws_response_and_subtracted() -> None:
    entry = {"ResourceType": "instance", "Tags": [{"Key": "gl", "Value": "hf"}]}
    for response in ({"TagSpecifications": [entry]}, [entry]):
        spec = TagSpecifications.create_from_aws_response(response)
        assert (spec.resource_type, spec.tags) == ("instance", {"gl": "hf"})
    with pytest.raises(ValueError, match="exactly one"):
        TagSpecifications.create_from_aws_response([entry, entry])
    both = TagSpecifications("sad", gg="cats", lol="cats")
    assert (both - TagSpecifications("sad", lol="cats")).tags == {"gg": "cats"}
    assert (TagSpecifications("sad") - both).tags == {}
    with pytest.raises(ValueError, match="resource_type"):
        both - TagSpecifications("happy")
    assert EC2InstanceTagSpecifications(a="b").render()[0]["ResourceType"] == "instance"
    assert EBSTagSpecifications(a="b").resource_type == "volume"


# -- lookups and EBS ---------------------------------------------------------------------------------------
def test_lookup_instance_name_reads_the_pcfname_tag_of_an_instance(
    cloud: Any, ec2: Any, ami_id: str, runtime: Runtime
) -> None:
    existing = ec2.run_instances(ImageId=ami_id, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "PCFName", "Value": "named-elsewhere"}]}])
    instance_id = existing["Instances"][0]["InstanceId"]
    particle = EC2Instance({"pcf_name": "lookup", "flavor": "ec2_instance", "aws_resource": {
        "ImageId": ami_id, "InstanceType": "t3.micro",
        "custom_config": {"instance_name": f"$lookup$instance_name${instance_id}"}}})
    particle.prepare()
    assert particle.desired_state_definition["custom_config"]["instance_name"] == "named-elsewhere"
    assert particle.instance_name == "named-elsewhere"


def test_an_ebs_volume_has_its_tags() -> None:
    volume = EBSVolume({"pcf_name": "data", "flavor": "ebs_volume", "aws_resource": {
        "AvailabilityZone": "us-east-1a", "Size": 8, "custom_config": {"volume_name": "data", "tags": {"team": "a"}}}})
    assert volume.state is None, "the original EBSVolume starts with a None state"
    tags = {t["Key"]: t["Value"] for t in volume.tags}
    assert (tags["PCFName"], tags["team"]) == ("data", "a")
