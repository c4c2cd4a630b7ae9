"""Bad input exits 2 with one ``pcf: error: <field>: <reason>`` line, no traceback, and nothing done."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.cli_support import FLAVOR, CliResult, CliRunner, MemoryCloud, cluster, particle


def assert_bad_input(result: CliResult, memory: MemoryCloud, expected: str) -> None:
    assert result.code == 2, result.err
    assert result.err_lines == [f"pcf: error: {expected}"]
    assert result.out == ""
    assert memory.log == [] and memory.resources == {}


def with_parents(parents: list[str]) -> dict[str, Any]:
    definition = cluster()
    definition["particles"][0]["parents"] = parents
    return definition


BAD_DEFINITIONS = {
    "unknown flavor, closest suggested": (
        {**particle("a"), "flavor": "cli_test_particl"},
        "flavor: unknown flavor 'cli_test_particl'; did you mean 'cli_test_particle'?",
    ),
    "missing unique key": (
        {"pcf_name": "a", "flavor": FLAVOR, "aws_resource": {"custom_config": {}}},
        f"aws_resource.custom_config.name: is required by flavor '{FLAVOR}' (its UNIQUE_KEYS)",
    ),
    "unknown parent": (
        with_parents([f"{FLAVOR}:haed"]),
        f"particles[0].parents[0]: '{FLAVOR}:haed' names no particle of group; did you mean '{FLAVOR}:head'?",
    ),
    "dependency cycle": (
        with_parents([f"{FLAVOR}:disk-0"]),
        f"parents: dependency cycle: {FLAVOR}:disk-0 -> {FLAVOR}:head -> {FLAVOR}:worker-0 -> {FLAVOR}:disk-0",
    ),
    "bad state name": (
        particle("a", desired_state="runing"),
        "desired_state: 'runing' is not allowed: 'running', 'stopped' or 'terminated'",
    ),
}


@pytest.mark.parametrize("command", ["run", "apply", "validate", "plan"])
@pytest.mark.parametrize("case", sorted(BAD_DEFINITIONS))
def test_a_bad_definition_names_the_field(pcf_cli: CliRunner, memory: MemoryCloud, case: str, command: str) -> None:
    definition, expected = BAD_DEFINITIONS[case]
    pcf_cli.write("pcf.yml", definition)

    assert_bad_input(pcf_cli(command), memory, expected)


def test_the_position_of_a_bad_definition_in_a_list_is_named(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", [particle("a"), {**particle("b"), "flavor": "nope"}])

    result = pcf_cli("run")

    assert result.code == 2 and len(result.err_lines) == 1 and memory.log == []
    assert result.err.startswith("pcf: error: flavor: unknown flavor 'nope'; known flavors: ")
    assert result.err.endswith(" (in definition [1])\n")


def test_a_missing_file_is_bad_input(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    assert_bad_input(pcf_cli("run", "-f", "nope.yml"), memory, f"file: {pcf_cli.workdir / 'nope.yml'} does not exist")


def test_no_default_file_is_bad_input(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    result = pcf_cli("run")

    assert_bad_input(result, memory, result.err_lines[0].removeprefix("pcf: error: "))
    assert result.err.startswith("pcf: error: file: no pcf.json, pcf.yml, pcf.yaml in ")


def test_invalid_yaml_is_bad_input(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", "pcf_name: [unclosed\n")

    result = pcf_cli("run")

    assert result.code == 2 and len(result.err_lines) == 1
    assert result.err_lines == [
        f"pcf: error: file: {pcf_cli.workdir / 'pcf.yml'} is not valid YAML: "
        "expected ',' or ']', but got '<stream end>' at line 2, column 1"
    ]


def test_a_file_of_scalars_is_bad_input(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.json", [particle("a"), 3])

    assert_bad_input(pcf_cli("run"), memory, "file[1]: must be a definition (a mapping) or a list of them, not int")


def test_the_same_pcf_id_twice_at_top_level_is_bad_input(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.json", [particle("a"), particle("a")])

    assert_bad_input(pcf_cli("run"), memory, f"[1].pcf_name: {FLAVOR}:a is also defined by [0]")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["plan", "--state", "up"], "--state: invalid choice: 'up' (choose from 'running', 'stopped', 'terminated')"),
        (["run", "--timeout", "-1"], "-t/--timeout: -1 must not be negative"),
        (["run", "-t", "soon"], "-t/--timeout: 'soon' is not a number"),
        (["--target", "moon", "run"], "--target: invalid choice: 'moon' (choose from 'local', 'aws')"),
        (["run", "--max-workers", "0"], "--max-workers: 0 must be at least 1"),
        (["run", "--target", "moon"], "--target: invalid choice: 'moon' (choose from 'local', 'aws')"),
        (["run", "a", "b"], "Got unexpected extra argument (b)"),
        (["run", "--zzz"], "No such option '--zzz'."),
        (["history"], "PCF_ID: is required"),
        (["run", "--target", "aws", "--pending-seconds", "0"], "--pending-seconds: applies to the local target only"),
        (["--target", "aws"], "the following arguments are required: COMMAND"),
    ],
)
def test_a_bad_option_is_bad_input(pcf_cli: CliRunner, memory: MemoryCloud, argv: list[str], expected: str) -> None:
    pcf_cli.write("pcf.yml", particle("a"))

    assert_bad_input(pcf_cli(*argv), memory, expected)


def test_no_command_prints_the_help_and_exits_0_as_the_original(pcf_cli: CliRunner) -> None:
    result = pcf_cli()

    assert result.code == 0
    assert result.out.startswith("Usage: pcf ")
    assert result.err == ""


def test_help_exits_0(pcf_cli: CliRunner) -> None:
    result = pcf_cli("run", "--help")

    assert result.code == 0
    assert result.out.startswith("Usage: pcf run [OPTIONS] [NAME]")
    assert "--cascade" in result.out and "--timeout SECONDS" in result.out and "--no-color" in result.out


def test_an_unknown_command_lists_the_commands(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    result = pcf_cli("launch")

    assert result.code == 2
    assert result.err_lines[0].startswith(
        "pcf: error: 'launch' is not a pcf command; commands: apply, run, stop, terminate, validate, plan, schema, "
        "status, history"
    )
    assert memory.log == []
