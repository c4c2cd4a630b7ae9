"""A hostile or broken definition file makes ``pcf validate`` exit 2 with one ``pcf: error: file: ...`` line."""

from __future__ import annotations

import pytest

from tests.cli.cli_support import CliRunner, MemoryCloud

BILLION_LAUGHS = 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]\n" for level in range(1, 9)
)

BAD_FILES = {
    "alias bomb": ("pcf.yml", BILLION_LAUGHS.encode(), "line 7, column 5: more than 1,000,000 values once YAML "
                   "aliases are expanded"),
    "deep YAML": ("pcf.yml", b"a: " + b"[" * 100_000 + b"]" * 100_000, "line 1, column 67: nesting deeper than 64 "
                  "levels"),
    "deep JSON": ("pcf.json", b'{"a": ' + b"[" * 1_000 + b"]" * 1_000 + b"}", "line 1, column 70: nesting deeper "
                  "than 64 levels"),
    "not UTF-8": ("pcf.yml", b"pcf_name: caf\xe9\n", "line 1, column 14 (byte 13): not valid UTF-8 (byte 0xe9)"),
    "duplicate YAML key": ("pcf.yml", b"pcf_name: a\nflavor: x\npcf_name: b\n", "line 3, column 1: duplicate key "
                           "'pcf_name'"),
    "duplicate JSON key": ("pcf.json", b'{"aws_resource": {"name": 1, "name": 2}}', "at aws_resource.name: "
                           "duplicate key 'name'"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_validate_refuses_a_bad_file_in_one_line(pcf_cli: CliRunner, memory: MemoryCloud, case: str) -> None:
    name, content, where = BAD_FILES[case]
    (pcf_cli.workdir / name).write_bytes(content)

    result = pcf_cli("validate", "-f", name)

    assert result.code == 2, result.err
    assert result.err_lines == [f"pcf: error: file: {pcf_cli.workdir / name}: {where}"]
    assert result.out == ""
    assert memory.log == []
