"""The original PCF's helpers that the framework itself no longer calls, held to the original's behaviour so the
code that calls them runs unchanged: ``pcf_util``'s dict helpers, a quasiparticle's member helpers,
``PCF.add_particles`` and an ``AWSResource``'s region and client helpers."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from pcf.core import State
from pcf.core.pcf import PCF
from pcf.core.quasiparticle import Quasiparticle
from pcf.particle.aws.ec2.ebs_volume import EBSVolume
from pcf.util import pcf_util
from pcf.util.aws.aws_lookup import AWSLookup


def test_find_nested_dict_value_walks_dict_keys_none_when_absent_empty_text_for_no_keys() -> None:
    tree = {"a": {"b": {"c": 3}}, "l": [{"x": 1}]}

    assert pcf_util.find_nested_dict_value(tree, ["a", "b", "c"]) == 3
    assert pcf_util.find_nested_dict_value(tree, ["a", "missing"]) is None
    assert pcf_util.find_nested_dict_value(tree, ["l", "x"]) is None  # lists are not walked
    assert pcf_util.find_nested_dict_value(tree, []) == ""


def test_replace_value_nested_dict_sets_existing_keys_walks_lists_and_reads_an_index_suffix() -> None:
    tree: dict[str, Any] = {"a": {"b": 1}, "items": [{"v": 1}, {"v": 2}], "Tags": ["x", "y"], "ec2": 0}

    assert pcf_util.replace_value_nested_dict(tree, ["a", "b"], 9) is tree
    pcf_util.replace_value_nested_dict(tree, ["items", "v"], 7)
    pcf_util.replace_value_nested_dict(tree, ["Tags1"], "z")
    pcf_util.replace_value_nested_dict(tree, ["ec2"], 5)
    pcf_util.replace_value_nested_dict(tree, ["nope", "deeper"], 1)

    assert tree == {"a": {"b": 9}, "items": [{"v": 7}, {"v": 7}], "Tags": ["x", "z"], "ec2": 5}


def test_is_dict_equal_asks_whether_the_second_holds_the_first() -> None:
    assert pcf_util.is_dict_equal({"a": [1, 2], "b": {"c": 1}}, {"a": [2, 1], "b": {"c": 1, "d": 2}, "e": 3})
    assert not pcf_util.is_dict_equal({"a": 1, "z": 0}, {"a": 1})
    assert not pcf_util.is_dict_equal({"a": [1, 2]}, {"a": [1, 3]})
    assert not pcf_util.is_dict_equal({"a": 1}, [("a", 1)])


def test_the_key_helpers_keep_rename_and_remove_on_copies() -> None:
    source = {"VolumeSize": 8, "Iops": 100, "Other": {"deep": [1]}}

    renamed = pcf_util.keep_and_replace_keys(source, {"VolumeSize": "Size", "Iops": ""})
    removed = pcf_util.keep_and_remove_keys(source, {"Other": ""})
    removed["Iops"] = 0

    assert renamed == {"Size": 8, "Iops": 100}
    assert removed == {"VolumeSize": 8, "Iops": 0}
    assert source["Iops"] == 100


def test_list_to_dict_update_check_and_unique_identifiers() -> None:
    assert pcf_util.list_to_dict("id", [{"id": "a", "v": 1}, {"id": "b"}]) == {"a": {"id": "a", "v": 1},
                                                                              "b": {"id": "b"}}
    assert pcf_util.is_dict_update_needed({"a": 1}, {"a": 2})
    assert not pcf_util.is_dict_update_needed({"a": 1}, {"a": 1})
    assert pcf_util.get_particle_unique_identifiers("ec2_instance") == ["aws_resource.custom_config.instance_name"]


def member(name: str, **extra: Any) -> dict[str, Any]:
    return {"pcf_name": name, "flavor": "ebs_volume",
            "aws_resource": {"AvailabilityZone": "us-east-1a", "Size": 1, "custom_config": {"volume_name": name}},
            **extra}


def test_a_quasiparticles_member_helpers() -> None:
    group = Quasiparticle({"pcf_name": "g", "flavor": "quasiparticle", "particles": [member("one"), member("g")]})
    group.normalized_definition["parents"] = ["ebs_volume:base"]  # as a parent group would hand down

    group.set_particle_state("ebs_volume", State.running, "one")
    group.set_particle_state("ebs_volume", "stopped")  # no name: the member named as the group
    one = group.get_particle("ebs_volume", "one")
    assert one is not None
    merged = group.update_particle_definition({"aws_resource": {"Size": 5}}, one)
    with_parents = group.add_parents_to_particle({"pcf_name": "x", "parents": ["ebs_volume:other"]})

    assert one.desired_state is State.running
    assert group.get_particle("ebs_volume", "g").desired_state is State.stopped  # type: ignore[union-attr]
    assert merged["aws_resource"]["Size"] == 5 and merged["aws_resource"]["AvailabilityZone"] == "us-east-1a"
    assert with_parents["parents"] == ["ebs_volume:other", "ebs_volume:base"]


def test_pcf_add_particles_refuses_a_second_particle_with_the_same_id() -> None:
    field = PCF([])
    field.add_particles([EBSVolume(member("a")), EBSVolume(member("b"))])

    assert sorted(p.pcf_id for p in field.all_particles()) == ["ebs_volume:a", "ebs_volume:b"]
    with pytest.raises(ValueError, match="already in the field"):
        field.add_particles([EBSVolume(member("a"))])


def test_an_aws_resources_region_and_client_helpers(cloud: Any) -> None:
    volume = EBSVolume(member("r"))
    session = boto3.Session(region_name="eu-west-1")

    volume.set_region(session, "eu-west-1")

    assert volume.get_region() == "eu-west-1"
    assert volume._get_client(None, region_name="eu-west-1").meta.region_name == "eu-west-1"
    assert AWSLookup(region_name="eu-west-1").ec2_client.meta.region_name == "eu-west-1"
