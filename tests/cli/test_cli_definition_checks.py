"""What validation now refuses reaches the CLI as one escaped ``pcf: error:`` line, exit 2, nothing done; and
top-level definitions that depend on each other run in their order."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.cli_support import FLAVOR, CliRunner, MemoryCloud, particle


def assert_bad_input(result: Any, memory: MemoryCloud, start: str) -> None:
    assert result.code == 2, result.err
    assert len(result.err_lines) == 1 and result.err_lines[0].startswith(f"pcf: error: {start}"), result.err
    assert memory.log == [] and memory.resources == {}


CASES = {
    "typo key": (particle("a", multipler=3), "multipler: is not a known setting; did you mean 'multiplier'?"),
    "heal maybe": (particle("a", heal="maybe"), "heal: must be true or false, not 'maybe'"),
    "drift ignore": (particle("a", drift="ignore"), "drift: 'ignore' is not allowed"),
    "top-level multiplier": (particle("a", multiplier=3), "multiplier: multiplies members of a quasiparticle only"),
    "top-level unknown parent": (
        particle("a", parents=[f"{FLAVOR}:ghost"]),
        f"parents[0]: '{FLAVOR}:ghost' names no other top-level definition of this file",
    ),
    "shared unique key": (
        [particle("a"), {**particle("b"), "aws_resource": {"custom_config": {"name": "a"}}}],
        f"[1].{FLAVOR}:b.aws_resource.custom_config.name: 'a' is also",
    ),
}


@pytest.mark.parametrize("command", ["validate", "plan", "run"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_what_validation_refuses_exits_2(pcf_cli: CliRunner, memory: MemoryCloud, case: str, command: str) -> None:
    definition, expected = CASES[case]
    pcf_cli.write("pcf.json", definition)

    assert_bad_input(pcf_cli(command), memory, expected)


@pytest.mark.parametrize("hostile", ["\x1b[2J\x1b[31mred", "bell\x07", "rtl\u202eevil", "new\nline", "nul\x00"])
def test_control_characters_never_reach_the_terminal(pcf_cli: CliRunner, memory: MemoryCloud, hostile: str) -> None:
    pcf_cli.write("pcf.json", {**particle("a"), hostile: 1})  # an unknown key is echoed in the error

    result = pcf_cli("validate")

    assert result.code == 2 and len(result.err_lines) == 1
    assert result.err_lines[0].isprintable()
    assert result.err_lines[0].startswith(f"pcf: error: {ascii(hostile)[1:-1]}: is not a known setting")


def test_top_level_parents_run_first_and_stop_last(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.json", [particle("web", parents=[f"{FLAVOR}:db"]), particle("db")])

    assert pcf_cli("run").code == 0
    assert pcf_cli("stop").code == 0

    assert memory.log == [
        (f"{FLAVOR}:db", "start"), (f"{FLAVOR}:web", "start"), (f"{FLAVOR}:web", "stop"), (f"{FLAVOR}:db", "stop"),
    ]
