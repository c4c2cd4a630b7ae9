"""Every public name of the original PCF's modules that this project implements exists at the same path, with the
same leading parameters (read from the original 0.4.6's source)."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

SURFACE: dict[str, list[str]] = {
    "pcf": ["VERSION"],
    "pcf.core": ["State", "STATE_STRING_TO_ENUM"],
    "pcf.core.particle": ["Particle", "MetaParticle"],
    "pcf.core.quasiparticle": ["Quasiparticle"],
    "pcf.core.aws_resource": ["AWSResource"],
    "pcf.core.pcf": ["PCF"],
    "pcf.core.particle_flavor_scanner": ["get_particle_flavor", "get_particle_flavor_registry",
                                         "ParticleFlavorNotFoundError", "InvalidInputException"],
    "pcf.particle.aws.ec2.ec2_instance": ["EC2Instance"],
    "pcf.particle.aws.ec2.ebs_volume": ["EBSVolume"],
    "pcf.quasiparticle.aws.distributed_master_worker": ["DistributedMasterWorker"],
    "pcf.util.pcf_util": [
        "generate_pcf_id", "extract_components_from_pcf_id", "update_dict", "diff_dict", "is_dict_update_needed",
        "keep_and_replace_keys", "keep_and_remove_keys", "is_list_equal", "is_dict_equal", "get_item_from_dicts",
        "replace_value_nested_dict", "find_nested_dict_value", "find_nested_vars", "param_filter",
        "get_particle_unique_identifiers", "transform_list_of_dicts_to_desired_list", "list_to_dict",
        "get_value_from_particles", "pkg_submodules", "particle_class_from_flavor"],
    "pcf.util.aws.aws_lookup": ["AWSLookup"],
    "pcf.util.aws.tag_specifications": ["TagSpecifications", "EC2InstanceTagSpecifications", "EBSTagSpecifications"],
    "pcf.cli.cli": ["cli"],
    "pcf.cli.utils": ["click_options", "color", "fail", "similar_strings", "did_you_mean",
                      "load_pcf_config_from_file", "read_config_file", "particle_class_instance",
                      "particles_from_file", "execute_applying_command"],
    "pcf.cli.commands": ["COMMON_APPLY_OPTIONS"],
    "pcf.cli.commands.apply": ["apply"],
    "pcf.cli.commands.run": ["run"],
    "pcf.cli.commands.stop": ["stop"],
    "pcf.cli.commands.terminate": ["terminate"],
}

METHODS: dict[str, list[str]] = {
    "pcf.core.particle.Particle": [
        "get_pcf_id", "validate_unique_id", "get_state", "sync_state", "use_cached_state", "set_desired_state",
        "measure", "apply", "apply_cascade", "get_and_replace_parent_variables", "link_relatives",
        "link_to_parent", "link_to_child", "register_state_transition", "get_state_transition_function", "start",
        "stop", "terminate", "update", "is_state_equivalent", "is_state_definition_equivalent",
        "get_desired_state_definition", "get_current_state_definition", "wait", "get_attribute_value", "registry"],
    "pcf.core.quasiparticle.Quasiparticle": [
        "fuse", "add_parents_to_particle", "apply", "sync_state", "get_state", "set_desired_state",
        "set_particle_state", "get_particle", "update_particle_definition"],
    "pcf.core.aws_resource.AWSResource": ["client", "resource", "apply", "get_region", "set_region", "get_label",
                                          "get_identifier", "arn", "id_replace", "lookup"],
    "pcf.core.pcf.PCF": ["load_pcf_definition", "load_particle_definition", "link_particles", "get_particle",
                         "get_particle_from_pcf_id", "get_particles", "add_particle", "add_particles", "apply"],
    "pcf.util.aws.aws_lookup.AWSLookup": ["get_id", "ec2_client", "ami", "instance_name", "subnet", "snapshot",
                                          "iam", "methods", "region_name"],
    "pcf.util.aws.tag_specifications.TagSpecifications": [
        "render", "add_tag", "add_tags", "delete_tag", "delete_tags", "create_from_aws_response", "__sub__"],
}

SIGNATURES: dict[str, list[str]] = {
    "pcf.core.particle.Particle.apply": ["sync", "cascade", "validate_config", "max_timeout", "src_cascade",
                                         "cache_ttl"],
    "pcf.core.particle.Particle.apply_cascade": ["direction", "desired_state", "sync", "src_cascade"],
    "pcf.core.quasiparticle.Quasiparticle.apply": ["sync", "cascade", "validate_config", "rollback", "max_timeout"],
    "pcf.core.pcf.PCF.apply": ["sync", "cascade", "validate_config", "max_timeout", "particles_dict"],
    "pcf.core.aws_resource.AWSResource.__init__": ["particle_definition", "resource_name", "arn", "session"],
    "pcf.util.aws.aws_lookup.AWSLookup.get_id": ["resource", "names"],
    "pcf.util.aws.tag_specifications.TagSpecifications.__init__": ["resource_type"],
    "pcf.util.pcf_util.update_dict": ["curr_dict", "updated_dict"],
    "pcf.util.pcf_util.get_value_from_particles": ["particles", "particle_class", "attr_name"],
    "pcf.util.pcf_util.pkg_submodules": ["package", "recursive"],
    "pcf.cli.utils.execute_applying_command": ["pcf_name", "config_file", "desired_state", "cascade", "quiet",
                                               "timeout"],
    "pcf.cli.utils.did_you_mean": ["suggestions", "fg", "exit_after", "exit_code"],
}


def resolve(dotted: str) -> Any:
    """The object a dotted path names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            target = getattr(target, name)
        return target
    raise ImportError(dotted)


@pytest.mark.parametrize(("module", "names"), sorted(SURFACE.items()))
def test_module_names(module: str, names: list[str]) -> None:
    imported = importlib.import_module(module)
    assert [n for n in names if not hasattr(imported, n)] == []


@pytest.mark.parametrize(("cls", "names"), sorted(METHODS.items()))
def test_class_members(cls: str, names: list[str]) -> None:
    target = resolve(cls)
    assert [n for n in names if not hasattr(target, n)] == []


@pytest.mark.parametrize(("function", "leading"), sorted(SIGNATURES.items()))
def test_leading_parameters(function: str, leading: list[str]) -> None:
    parameters = [p for p in inspect.signature(resolve(function)).parameters if p not in ("self", "cls")]
    assert parameters[: len(leading)] == leading
