"""Definitions are validated before anything acts; each failure names the field and the reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pcf.core.builder import build, build_from_file
from pcf.core.definition import definition_json_schema, find_default_definition, load_definition
from pcf.core.pcf_exceptions import (
    DefinitionError,
    DependencyCycleError,
    FlavorMissingException,
    InvalidUniqueKeysException,
    InvalidValueReplaceException,
    ResourceLookupNotDefinedException,
    UnknownFlavorError,
    UnknownParentError,
)
from pcf.core.quasiparticle import Quasiparticle
from tests.support.memory_flavor import MemoryCloud, MemoryParticle, memory_definition


def quasi(*particles: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"pcf_name": "q", "flavor": "quasiparticle", "particles": list(particles), **extra}


def test_unknown_flavor_suggests_the_closest(memory_cloud: MemoryCloud) -> None:
    with pytest.raises(UnknownFlavorError) as caught:
        build({"pcf_name": "x", "flavor": "ec2_instanse", "aws_resource": {}})
    assert caught.value.field == "flavor"
    assert "did you mean 'ec2_instance'" in caught.value.reason


def test_unknown_member_flavor_names_its_position(memory_cloud: MemoryCloud) -> None:
    with pytest.raises(UnknownFlavorError) as caught:
        Quasiparticle(quasi(memory_definition("a"), {"pcf_name": "b", "flavor": "memory_particl"}))
    assert caught.value.field == "particles[1].flavor"
    assert "memory_particle" in caught.value.reason


def test_missing_flavor_is_refused() -> None:
    with pytest.raises(FlavorMissingException):
        build({"pcf_name": "x"})


def test_missing_unique_key_names_the_path(memory_cloud: MemoryCloud) -> None:
    definition = memory_definition("a")
    del definition["aws_resource"]["custom_config"]["name"]
    with pytest.raises(InvalidUniqueKeysException) as caught:
        Quasiparticle(quasi(definition))
    assert caught.value.field == "particles[0].aws_resource.custom_config.name"
    assert "UNIQUE_KEYS" in caught.value.reason


def test_unique_key_shared_by_two_particles_is_refused(memory_cloud: MemoryCloud) -> None:
    second = memory_definition("b")
    second["aws_resource"]["custom_config"]["name"] = "a"
    with pytest.raises(InvalidUniqueKeysException, match="also the"):
        Quasiparticle(quasi(memory_definition("a"), second))


def test_bad_state_name_is_refused_with_the_allowed_ones(memory_cloud: MemoryCloud) -> None:
    with pytest.raises(DefinitionError) as caught:
        MemoryParticle(memory_definition("a", desired_state="runing"))
    assert caught.value.field == "desired_state"
    assert "'running'" in caught.value.reason


def test_set_desired_state_refuses_pending_and_nonsense(memory_cloud: MemoryCloud) -> None:
    particle = MemoryParticle(memory_definition("a"))
    for bad in ("pending", "started"):
        with pytest.raises(DefinitionError, match="not one of running, stopped, terminated"):
            particle.set_desired_state(bad)


def test_unknown_parent_names_the_field_and_suggests(memory_cloud: MemoryCloud) -> None:
    child = memory_definition("child", parents=["memory_particle:paren"])
    with pytest.raises(UnknownParentError) as caught:
        Quasiparticle(quasi(memory_definition("parent"), child))
    assert caught.value.field == "particles[1].parents[0]"
    assert "did you mean 'memory_particle:parent'" in caught.value.reason


def test_parent_must_be_a_pcf_id(memory_cloud: MemoryCloud) -> None:
    with pytest.raises(UnknownParentError, match="expected 'flavor:pcf_name'"):
        Quasiparticle(quasi(memory_definition("a"), memory_definition("b", parents=["a"])))


def test_dependency_cycle_names_its_members(memory_cloud: MemoryCloud) -> None:
    with pytest.raises(DependencyCycleError) as caught:
        Quasiparticle(quasi(
            memory_definition("a", parents=["memory_particle:c"]),
            memory_definition("b", parents=["memory_particle:a"]),
            memory_definition("c", parents=["memory_particle:b"]),
        ))
    assert set(caught.value.members) == {"memory_particle:a", "memory_particle:b", "memory_particle:c"}
    assert "->" in str(caught.value)


def test_self_parent_is_a_cycle(memory_cloud: MemoryCloud) -> None:
    with pytest.raises(DependencyCycleError):
        Quasiparticle(quasi(memory_definition("a", parents=["memory_particle:a"])))


def test_children_declared_on_the_parent_count_too(memory_cloud: MemoryCloud) -> None:
    with pytest.raises(DependencyCycleError):
        Quasiparticle(quasi(
            memory_definition("a", children=["memory_particle:b"]),
            memory_definition("b", children=["memory_particle:a"]),
        ))


def test_malformed_inherit_reference(memory_cloud: MemoryCloud) -> None:
    with pytest.raises(InvalidValueReplaceException) as caught:
        MemoryParticle(memory_definition("a", spec={"ip": "$inherit$nocolon$Key"}))
    assert caught.value.field == "aws_resource.ip"


def test_inherit_from_a_particle_not_in_the_definition(memory_cloud: MemoryCloud) -> None:
    child = memory_definition("b", parents=["memory_particle:a"], spec={"ip": "$inherit$memory_particle:zz$Ip"})
    with pytest.raises(InvalidValueReplaceException) as caught:
        Quasiparticle(quasi(memory_definition("a"), child))
    assert caught.value.field == "particles[1].aws_resource.ip"


def test_unknown_lookup_kind_lists_the_known_ones(memory_cloud: MemoryCloud) -> None:
    with pytest.raises(ResourceLookupNotDefinedException) as caught:
        MemoryParticle(memory_definition("a", spec={"ImageId": "$lookup$amii$my-image"}))
    assert caught.value.field == "aws_resource.ImageId"
    assert "security_groups" in caught.value.reason


def test_multiplier_suffixes_names_and_unique_keys(memory_cloud: MemoryCloud) -> None:
    q = Quasiparticle(quasi(memory_definition("w", multiplier=3)))
    names = sorted(p.name for p in q.members())
    assert names == ["w-0", "w-1", "w-2"]
    assert sorted(p.custom_config["name"] for p in q.members()) == ["w-0", "w-1", "w-2"]


def test_multiplied_parents_pair_by_index_and_fan_out_otherwise(memory_cloud: MemoryCloud) -> None:
    q = Quasiparticle(quasi(
        memory_definition("m"),
        memory_definition("w", multiplier=2, parents=["memory_particle:m"]),
        memory_definition("v", multiplier=2, parents=["memory_particle:w"]),
        memory_definition("x", parents=["memory_particle:w"]),
    ))
    parents = {p.pcf_id: sorted(pp.pcf_id for pp in p.parents) for p in q.members()}
    assert parents["memory_particle:v-1"] == ["memory_particle:w-1"]
    assert parents["memory_particle:x"] == ["memory_particle:w-0", "memory_particle:w-1"]
    assert parents["memory_particle:w-0"] == ["memory_particle:m"]


def test_base_particle_config_extends_an_earlier_particle(memory_cloud: MemoryCloud) -> None:
    base = memory_definition("base", spec={"size": 8, "kind": "gp3"})
    derived = {"pcf_name": "derived", "flavor": "memory_particle", "base_particle_config": "base",
               "aws_resource": {"custom_config": {"name": "derived"}, "size": 20}}
    q = Quasiparticle(quasi(base, derived))
    particle = q.get_particle("memory_particle", "derived")
    assert particle.desired_state_definition["size"] == 20
    assert particle.desired_state_definition["kind"] == "gp3"


def test_base_particle_config_must_name_an_earlier_particle(memory_cloud: MemoryCloud) -> None:
    derived = {"pcf_name": "d", "flavor": "memory_particle", "base_particle_config": "nope",
               "aws_resource": {"custom_config": {"name": "d"}}}
    with pytest.raises(DefinitionError) as caught:
        Quasiparticle(quasi(memory_definition("a"), derived))
    assert caught.value.field == "particles[1].base_particle_config"


def test_quasiparticle_level_parents_apply_to_every_other_member(memory_cloud: MemoryCloud) -> None:
    q = Quasiparticle(quasi(memory_definition("db"), memory_definition("a"), memory_definition("b"),
                            parents=["memory_particle:db"]))
    parents = {p.name: sorted(pp.name for pp in p.parents) for p in q.members()}
    assert parents == {"db": [], "a": ["db"], "b": ["db"]}


def test_persist_on_terminate_is_accepted_as_the_old_spelling(memory_cloud: MemoryCloud) -> None:
    assert MemoryParticle(memory_definition("a", persist_on_terminate=True)).persist_on_termination is True


def test_particle_definition_stays_dict_like(memory_cloud: MemoryCloud) -> None:
    q = Quasiparticle(quasi(memory_definition("a"), custom_config={"master": "a"}))
    assert q.particle_definition["custom_config"].get("master") == "a"
    assert isinstance(q.get_particle("memory_particle", "a").particle_definition, dict)


def test_constructor_reads_a_path_as_the_original_did(tmp_path: Any, memory_cloud: MemoryCloud) -> None:
    (tmp_path / "a.json").write_text('{"pcf_name": "a", // comment\n "flavor": "memory_particle", # another\n'
                                     ' "aws_resource": {"custom_config": {"name": "a"}}}')
    particle = MemoryParticle(str(tmp_path / "a.json"))
    assert particle.pcf_id == "memory_particle:a"
    assert particle.particle_definition == {"pcf_name": "a", "flavor": "memory_particle",
                                            "aws_resource": {"custom_config": {"name": "a"}}}
    with pytest.raises(DefinitionError, match="does not exist"):
        MemoryParticle(str(tmp_path / "missing.json"))


def test_files_load_as_json_or_yaml(tmp_path: Any, memory_cloud: MemoryCloud) -> None:
    (tmp_path / "pcf.yml").write_text("pcf_name: a\nflavor: memory_particle\naws_resource:\n"
                                      "  custom_config:\n    name: a\n")
    assert find_default_definition(tmp_path).name == "pcf.yml"
    assert build_from_file(tmp_path / "pcf.yml").pcf_id == "memory_particle:a"
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(DefinitionError, match="not valid JSON"):
        load_definition(tmp_path / "bad.json")
    with pytest.raises(DefinitionError, match="does not exist"):
        load_definition(tmp_path / "missing.json")


def test_json_schema_describes_both_shapes() -> None:
    schema = definition_json_schema()
    json.dumps(schema)
    assert {"ParticleSpec", "QuasiparticleSpec"} <= set(schema["$defs"])
    assert "persist_on_termination" in schema["$defs"]["ParticleSpec"]["properties"]


@pytest.mark.parametrize("how", ["constructor", "from_file", "build_from_file"])
def test_every_file_loader_reads_templates_from_the_files_folder(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    from pcf.particle.aws.ec2.ec2_instance import EC2Instance

    folder = tmp_path / "defs"
    (folder / "userdata").mkdir(parents=True)
    (folder / "userdata" / "boot.sh.j2").write_text("#!/bin/bash\necho {{ word }}\n")
    (folder / "web.json").write_text(json.dumps({"pcf_name": "web", "flavor": "ec2_instance", "aws_resource": {
        "ImageId": "ami-12345678", "custom_config": {"instance_name": "web", "userdata_params": {"word": "hi"},
                                                    "userdata_template_file": "userdata/boot.sh.j2"}}}))
    monkeypatch.chdir(tmp_path)  # elsewhere than the file's folder
    path = folder / "web.json"
    particle = {"constructor": lambda: EC2Instance(str(path)), "from_file": lambda: EC2Instance.from_file(path),
                "build_from_file": lambda: build_from_file(path)}[how]()
    assert isinstance(particle, EC2Instance)
    assert particle.render_desired_user_data() == "#!/bin/bash\necho hi\n"
