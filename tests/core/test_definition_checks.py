"""Everything that can be checked without AWS is checked when a definition is built: keys (with a "did you
mean"), policies, regions, AWS's parameter types and enums, ``$inherit$`` targets, names, particle counts,
and, across the definitions of one file, unique keys, top-level relatives and cycles."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from pcf.core import State
from pcf.core.builder import build
from pcf.core.definition import MAX_PARTICLES
from pcf.core.pcf_exceptions import (
    DefinitionError,
    DependencyCycleError,
    InvalidConfigException,
    InvalidUniqueKeysException,
    InvalidValueReplaceException,
    UnknownParentError,
)
from pcf.core.printable import escape_unprintable
from pcf_cli.selection import build_definitions, in_dependency_order, select


def instance(name: str, **resource: Any) -> dict[str, Any]:
    custom = resource.pop("custom", {})
    extra = resource.pop("extra", {})
    return {
        "pcf_name": name,
        "flavor": "ec2_instance",
        "aws_resource": {"ImageId": "ami-12345678", "InstanceType": "t3.micro", **resource,
                         "custom_config": {"instance_name": f"pcf-{name}", **custom}},
        **extra,
    }


def volume(name: str, **resource: Any) -> dict[str, Any]:
    custom = resource.pop("custom", {})
    return {
        "pcf_name": name,
        "flavor": "ebs_volume",
        "aws_resource": {"AvailabilityZone": "us-east-1a", "Size": 8, **resource,
                         "custom_config": {"volume_name": f"pcf-{name}", **custom}},
    }


def group(*members: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"pcf_name": "group", "flavor": "quasiparticle", "particles": list(members), **extra}


def refused(definition: dict[str, Any]) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        build(definition)
    return caught.value


# -- keys and policies ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "field", "suggestion"),
    [("multipler", "multipler", "multiplier"), ("parent", "parent", "parents"),
     ("persist_on_terminaton", "persist_on_terminaton", "persist_on_termination")],
)
def test_a_misspelt_key_is_refused_with_the_closest_known_one(key: str, field: str, suggestion: str) -> None:
    error = refused(instance("web", extra={key: 1}))

    assert error.field == field
    assert error.reason == f"is not a known setting; did you mean {suggestion!r}?"


def test_a_misspelt_key_of_a_member_names_the_member() -> None:
    error = refused(group(instance("web", extra={"multipler": 3})))

    assert error.field == "particles[0].multipler"
    assert error.reason == "is not a known setting; did you mean 'multiplier'?"


def test_provider_resource_keys_pass_for_flavors_of_other_clouds() -> None:
    particle = build(instance("web", extra={"gcp_resource": {"zone": "x"}}))

    assert particle.particle_definition["gcp_resource"] == {"zone": "x"}


@pytest.mark.parametrize(
    ("definition", "field", "reason"),
    [
        (instance("web", extra={"heal": "maybe"}), "heal", "must be true or false, not 'maybe'"),
        (instance("web", extra={"drift": "ignore"}), "drift", "'ignore' is not allowed: 'revert' or 'report'"),
        (group(instance("web"), heal="maybe"), "heal", "must be true or false, not 'maybe'"),
        (group(instance("web", extra={"drift": "ignore"})), "particles[0].drift",
         "'ignore' is not allowed: 'revert' or 'report'"),
    ],
)
def test_healing_policies_are_checked_when_built(definition: dict[str, Any], field: str, reason: str) -> None:
    error = refused(definition)

    assert (error.field, error.reason) == (field, reason)


# -- AWS's model: regions, parameter types, enums, custom_config --------------------------------------------
@pytest.mark.parametrize(
    ("definition", "field", "words"),
    [
        (instance("web", region_name="xx-fake-9"), "ec2_instance:web.aws_resource.region_name", "not a region"),
        (instance("web", region_name="us-east1"), "ec2_instance:web.aws_resource.region_name",
         "did you mean 'us-east-1'?"),
        (volume("data", region_name="mars-1"), "ebs_volume:data.aws_resource.region_name", "not a region"),
        (volume("data", Size="big"), "ebs_volume:data.aws_resource.Size", "must be a whole number, not str 'big'"),
        (volume("data", VolumeType="gp4"), "ebs_volume:data.aws_resource.VolumeType", "did you mean 'gp3'?"),
        (instance("web", InstanceType=3), "ec2_instance:web.aws_resource.InstanceType", "must be a string"),
        (instance("web", InstanceInitiatedShutdownBehavior="halt"),
         "ec2_instance:web.aws_resource.InstanceInitiatedShutdownBehavior", "one of stop, terminate"),
        (instance("web", BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": "8G"}}]),
         "ec2_instance:web.aws_resource.BlockDeviceMappings.0.Ebs.VolumeSize", "whole number"),
        (instance("web", IamInstanceProfile={"Nme": "app"}), "ec2_instance:web.aws_resource.IamInstanceProfile.Nme",
         "did you mean 'Name'?"),
        (instance("web", InstanceTyp="t3.micro"), "ec2_instance:web.aws_resource.InstanceTyp",
         "did you mean 'InstanceType'?"),
        (instance("web", custom={"instance_nme": "x"}), "ec2_instance:web.aws_resource.custom_config.instance_nme",
         "did you mean 'instance_name'?"),
        (volume("data", custom={"atach": True}), "ebs_volume:data.aws_resource.custom_config.atach",
         "did you mean 'attach'?"),
    ],
)
def test_aws_parameters_are_checked_against_aws_model(definition: dict[str, Any], field: str, words: str) -> None:
    error = refused(definition)

    assert isinstance(error, InvalidConfigException)
    assert error.field == field
    assert words in error.reason


def test_an_instance_type_newer_than_the_model_is_let_through() -> None:
    particle = build(instance("web", InstanceType="zz9.galactic"))

    assert particle.desired_state_definition["InstanceType"] == "zz9.galactic"


def test_references_are_left_for_the_apply_to_resolve() -> None:
    particle = build(instance("web", SubnetId="$lookup$subnet$private", region_name="eu-west-1"))

    assert particle.desired_state_definition["SubnetId"] == "$lookup$subnet$private"


# -- $inherit$ targets ------------------------------------------------------------------------------------
def test_inherit_of_a_field_the_parent_flavor_has_is_accepted() -> None:
    address = "$inherit$ec2_instance:master$NetworkInterfaces.0.PrivateIpAddress"
    worker = instance("worker", extra={"parents": ["ec2_instance:master"]}, custom={"userdata_params": {"ip": address}})
    data = volume("data", AvailabilityZone="$inherit$ec2_instance:master$Placement.AvailabilityZone")
    data["parents"] = ["ec2_instance:master"]

    built = build(group(instance("master"), worker, data))

    assert len(built.members()) == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("$inherit$ec2_instance:master$PrivateIpAdress", "did you mean 'PrivateIpAddress'?"),
        ("$inherit$ec2_instance:master$Placement.Zone", "Placement has no field 'Zone'"),
        ("$inherit$ec2_instance:master$InstanceId.Suffix", "InstanceId is a string"),
    ],
)
def test_inherit_of_a_field_the_parent_flavor_lacks_is_refused(reference: str, words: str) -> None:
    data = volume("data", AvailabilityZone=reference)
    data["parents"] = ["ec2_instance:master"]

    error = refused(group(instance("master"), data))

    assert isinstance(error, InvalidValueReplaceException)
    assert error.field == "particles[1].aws_resource.AvailabilityZone"
    assert words in error.reason


def test_inherit_from_an_unknown_flavor_is_refused() -> None:
    error = refused(volume("data", AvailabilityZone="$inherit$ec2_instanse:master$Placement.AvailabilityZone"))

    assert error.field == "aws_resource.AvailabilityZone"
    assert "did you mean 'ec2_instance'?" in error.reason


# -- names ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["\x1b[31mred", "bell\x07", "nul\x00", "rtl\u202eevil", "two\nlines", "tab\tx"])
def test_control_characters_in_a_pcf_name_are_refused(bad: str) -> None:
    error = refused(instance(bad))

    assert error.field == "pcf_name"
    assert "must not contain" in error.reason
    assert escape_unprintable(error.reason).isprintable()


@pytest.mark.parametrize("bad", ["\x1b]0;title\x07", "rtl\u202e", "line\nbreak"])
def test_control_characters_in_resource_names_are_refused(bad: str) -> None:
    for definition, key in ((instance("web", custom={"instance_name": bad}), "instance_name"),
                            (volume("data", custom={"volume_name": bad}), "volume_name")):
        error = refused(definition)
        assert isinstance(error, InvalidUniqueKeysException)
        assert error.field.endswith(f"aws_resource.custom_config.{key}")


def test_a_name_with_a_space_is_still_a_valid_instance_name() -> None:
    assert build(instance("web", custom={"instance_name": "web server"})).instance_name == "web server"  # type: ignore[attr-defined]


# -- how many particles ----------------------------------------------------------------------------------
def test_too_many_particles_are_refused_before_they_are_made() -> None:
    members = [{**instance(f"w{i}"), "multiplier": 10_000} for i in range(20)]
    tracemalloc.start()
    try:
        error = refused(group(*members))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert error.field == "particles"
    assert f"at most {MAX_PARTICLES:,}" in error.reason
    assert peak < 8 * 1024 * 1024


def test_multipliers_taken_from_a_base_config_count_too() -> None:
    base = {**instance("w"), "multiplier": 6_000}
    copy = {"flavor": "ec2_instance", "pcf_name": "v", "base_particle_config": "w",
            "aws_resource": {"custom_config": {"instance_name": "pcf-v"}}}

    error = refused(group(base, copy))

    assert "12,000" in error.reason


def test_a_multiplier_on_a_top_level_particle_is_refused() -> None:
    error = refused({**instance("web"), "multiplier": 3})

    assert error.field == "multiplier"
    assert "members of a quasiparticle only" in error.reason


# -- the definitions of one file, together -----------------------------------------------------------------
def test_two_definitions_binding_one_instance_are_refused() -> None:
    twin = instance("other", custom={"instance_name": "pcf-web"})

    with pytest.raises(InvalidUniqueKeysException) as caught:
        build_definitions([instance("web"), twin])

    assert caught.value.field == "[1].ec2_instance:other.aws_resource.custom_config.instance_name"
    assert "also the aws_resource.custom_config.instance_name of ec2_instance:web" in caught.value.reason


def test_a_member_and_a_top_level_particle_binding_one_volume_are_refused() -> None:
    with pytest.raises(InvalidUniqueKeysException):
        build_definitions([group(instance("web"), volume("data")), volume("spare", custom={"volume_name": "pcf-data"})])


def test_a_top_level_parent_must_be_defined_in_the_file() -> None:
    with pytest.raises(UnknownParentError) as caught:
        build_definitions([instance("web", extra={"parents": ["ec2_instance:ghost"]})])

    assert caught.value.field == "parents[0]"
    assert "'ec2_instance:ghost' names no other top-level definition of this file" in caught.value.reason


def test_a_misspelt_top_level_parent_gets_a_suggestion() -> None:
    with pytest.raises(UnknownParentError) as caught:
        build_definitions([instance("db"), instance("web", extra={"parents": ["ec2_instance:bd"]})])

    assert caught.value.field == "[1].parents[0]"
    assert caught.value.reason.endswith("did you mean 'ec2_instance:db'?")


def test_a_cycle_across_top_level_definitions_is_refused() -> None:
    with pytest.raises(DependencyCycleError) as caught:
        build_definitions([instance("a", extra={"parents": ["ec2_instance:b"]}),
                           instance("b", extra={"parents": ["ec2_instance:a"]})])

    assert sorted(caught.value.members) == ["ec2_instance:a", "ec2_instance:b"]


def test_top_level_definitions_run_parents_first_and_stop_children_first() -> None:
    built = build_definitions([instance("web", extra={"parents": ["ec2_instance:db"]}), instance("db")])
    selections = select(built, None)
    for selection in selections:
        selection.set_desired_state(State.running)

    assert [s.top.name for s in in_dependency_order(selections)] == ["db", "web"]
    for selection in selections:
        selection.set_desired_state(State.stopped)
    assert [s.top.name for s in in_dependency_order(selections)] == ["web", "db"]
    assert {p.name for p in built[0].parents} == {"db"}
