"""``pcf validate``, ``pcf plan`` (with and without ``--observe``) and ``pcf schema``; default file discovery."""

from __future__ import annotations

import json

import pytest

from pcf.core import State
from tests.cli.cli_support import FLAVOR, CliRunner, MemoryCloud, cluster, particle

HEAD, W0, W1 = f"{FLAVOR}:head", f"{FLAVOR}:worker-0", f"{FLAVOR}:worker-1"
D0, D1 = f"{FLAVOR}:disk-0", f"{FLAVOR}:disk-1"


def test_validate_counts_particles_and_start_levels(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", [cluster(workers=3), particle("solo")])

    result = pcf_cli("validate")

    assert result.code == 0
    assert result.out.splitlines() == [
        "valid: group (quasiparticle): 7 particles, start order in 3 levels",
        "valid: solo (cli_test_particle): 1 particle, start order in 1 level",
    ]
    assert result.err == "" and memory.log == []


def test_plan_run_puts_parents_first(pcf_cli: CliRunner) -> None:
    pcf_cli.write("pcf.yml", cluster())

    result = pcf_cli("plan", "--state", "running")

    assert result.code == 0
    assert result.out.splitlines() == [
        "plan: group -> running (5 particles in 3 levels)",
        f"  start level 1: {HEAD}",
        f"  start level 2: {W0}, {W1}",
        f"  start level 3: {D0}, {D1}",
    ]
    assert result.err == "", "a plan without --observe opens no target"


@pytest.mark.parametrize("state", ["stopped", "terminated"])
def test_plan_stop_and_terminate_put_children_first(pcf_cli: CliRunner, state: str) -> None:
    pcf_cli.write("pcf.yml", cluster())

    result = pcf_cli("plan", "--state", state)

    assert result.out.splitlines()[1:] == [
        f"  stop level 1: {D0}, {D1}",
        f"  stop level 2: {W0}, {W1}",
        f"  stop level 3: {HEAD}",
    ]


def test_plan_uses_the_definition_states_and_names_a_member(pcf_cli: CliRunner) -> None:
    pcf_cli.write("pcf.yml", cluster(desired_state="running"))

    whole = pcf_cli("plan")
    member = pcf_cli("plan", "disk-1")

    assert whole.out.splitlines()[0] == "plan: group -> running (5 particles in 3 levels)"
    assert member.out.splitlines() == [
        f"plan: {D1} -> running (3 particles in 3 levels)",
        f"  start level 1: {HEAD}",
        f"  start level 2: {W1}",
        f"  start level 3: {D1}",
    ]


def test_plan_observe_shows_states_and_next_actions_without_acting(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", cluster())
    assert pcf_cli("run", "worker-0").code == 0
    memory.log.clear()

    result = pcf_cli("plan", "--state", "stopped", "--observe")

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "plan: group, observed"
    assert lines[1].split() == ["level", "pcf_id", "id", "observed", "desired", "next"]
    rows = {line.split()[2]: line.split()[3:] for line in lines[2:]}
    assert rows[W0][1:4] == ["running", "stopped", "stop"]
    assert rows[D0][:4] == ["-", "terminated", "stopped", "done"]  # nothing exists to stop
    assert lines[2].split()[:2] == ["stop", "1"]
    assert memory.log == [], "observing is read-only"
    assert memory.states() == {HEAD: State.running, W0: State.running}
    assert result.err_lines[0].startswith("target: local")


def test_schema_is_json_with_both_definition_kinds(pcf_cli: CliRunner) -> None:
    result = pcf_cli("schema")

    schema = json.loads(result.out)
    assert result.code == 0
    assert schema["oneOf"] == [{"$ref": "#/$defs/QuasiparticleSpec"}, {"$ref": "#/$defs/ParticleSpec"}]
    particle_schema = schema["$defs"]["ParticleSpec"]
    assert set(particle_schema["required"]) == {"pcf_name", "flavor"}
    assert {"parents", "multiplier", "desired_state", "aws_resource"} <= set(particle_schema["properties"])
    assert "particles" in schema["$defs"]["QuasiparticleSpec"]["required"]


def test_default_file_is_the_first_of_json_yml_yaml(pcf_cli: CliRunner) -> None:
    pcf_cli.write("pcf.yaml", particle("from-yaml"))
    assert pcf_cli("validate").out.startswith("valid: from-yaml ")
    pcf_cli.write("pcf.yml", particle("from-yml"))
    assert pcf_cli("validate").out.startswith("valid: from-yml ")
    pcf_cli.write("pcf.json", particle("from-json"))
    assert pcf_cli("validate").out.startswith("valid: from-json ")
    assert pcf_cli("validate", "-f", "pcf.yaml").out.startswith("valid: from-yaml ")
