"""Definition files are read within limits: every refusal is one ``DefinitionError`` on ``file`` that says where."""

from __future__ import annotations

import json
import os
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pcf.core.definition import load_definition as core_load_definition
from pcf.core.definition_file import (
    DEFAULT_LIMITS,
    DefinitionLimits,
    load_definition,
    load_definitions,
    parse_definition_text,
)
from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.selection import load_definitions as cli_load_definitions

TOO_MANY = "more than 1,000,000 values once YAML aliases are expanded"
TOO_DEEP = "nesting deeper than 64 levels"
PEAK_BYTES = 4 * 1024 * 1024


def refusal(load: Callable[[], Any]) -> str:
    """The one-line reason ``load`` is refused with (field ``file``)."""
    with pytest.raises(DefinitionError) as caught:
        load()
    assert caught.value.field == "file"
    assert "\n" not in caught.value.reason
    return caught.value.reason


def parse_refusal(text: str | bytes, kind: str = "yaml", limits: DefinitionLimits = DEFAULT_LIMITS) -> str:
    source = "pcf.json" if kind == "json" else "pcf.yml"
    return refusal(lambda: parse_definition_text(text, kind, source, limits))  # type: ignore[arg-type]


def alias_bomb(levels: int, fan_out: int) -> str:
    """``levels`` lists, each ``fan_out`` aliases of the one before: ``fan_out ** levels`` leaves."""
    leaves = ", ".join(['"lol"'] * fan_out)
    lines = [f"l0: &l0 [{leaves}]"]
    for level in range(1, levels):
        aliases = ", ".join([f"*l{level - 1}"] * fan_out)
        lines.append(f"l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def peak_allocation(load: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        refusal(load)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def particle(index: int) -> dict[str, Any]:
    return {
        "pcf_name": f"web-{index}",
        "flavor": "ec2_instance",
        "parents": [f"ec2_instance:web-{index - 1}"] if index else [],
        "aws_resource": {
            "custom_config": {"name": f"web-{index}", "tags": {"team": "platform"}},
            "InstanceType": "t3.micro",
            "MaxCount": 1,
        },
    }


# --- alias bombs and recursive anchors ---------------------------------------------------------------------------


def test_the_billion_laughs_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    bomb = tmp_path / "pcf.yml"
    bomb.write_text(alias_bomb(levels=9, fan_out=9))
    assert bomb.stat().st_size < 1024

    peak = peak_allocation(lambda: load_definitions(bomb))

    assert refusal(lambda: load_definitions(bomb)) == f"{bomb}: line 7, column 5: {TOO_MANY}"
    assert peak < PEAK_BYTES


def test_ten_million_leaves_are_refused_with_little_memory() -> None:
    bomb = alias_bomb(levels=7, fan_out=10)

    assert peak_allocation(lambda: parse_definition_text(bomb, "yaml", "pcf.yml")) < PEAK_BYTES
    assert parse_refusal(bomb).endswith(TOO_MANY)


def test_the_expanded_size_limit_counts_every_use_of_an_alias() -> None:
    text = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n"  # the mapping, 2 keys, [1, 2, 3], [*a, *a, *a] (1 + 3 * 4): 20

    assert parse_definition_text(text, "yaml", "pcf.yml", DefinitionLimits(max_nodes=20)) == {
        "a": [1, 2, 3], "b": [[1, 2, 3]] * 3
    }
    assert parse_refusal(text, limits=DefinitionLimits(max_nodes=19)) == (
        "pcf.yml: line 1, column 1: more than 19 values once YAML aliases are expanded"
    )


@pytest.mark.parametrize(
    ("text", "where"),
    [("a: &a [*a]\n", "line 1, column 8"), ("a: &a {b: [1, {c: *a}]}\n", "line 1, column 19")],
)
def test_a_recursive_anchor_is_refused(text: str, where: str) -> None:
    assert parse_refusal(text) == f"pcf.yml: {where}: alias *a is inside the node &a it names (a recursive anchor)"


def test_nesting_through_aliases_counts_toward_the_depth() -> None:
    lines = ["l0: &l0 [x]"] + [f"l{i}: &l{i} [[[[[[[[[[*l{i - 1}]]]]]]]]]]" for i in range(1, 8)]

    assert parse_refusal("\n".join(lines)) == f"pcf.yml: line 8, column 15: {TOO_DEEP} once aliases are expanded"


def test_anchors_aliases_and_merge_keys_of_a_normal_size_load() -> None:
    text = (
        "defaults: &defaults\n  InstanceType: t3.micro\n  tags: &tags {team: platform}\n"
        "pcf_name: web\nflavor: ec2_instance\n"
        "aws_resource:\n  <<: *defaults\n  ImageId: ami-1\n  InstanceType: t3.large\n"
        "  custom_config: {name: web, tags: *tags}\n"
    )

    data = parse_definition_text(text, "yaml", "pcf.yml")

    assert data["aws_resource"] == {
        "InstanceType": "t3.large", "tags": {"team": "platform"}, "ImageId": "ami-1",
        "custom_config": {"name": "web", "tags": {"team": "platform"}},
    }


# --- nesting -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [65, 1_000, 100_000])
@pytest.mark.parametrize("kind", ["json", "yaml"])
def test_flow_nesting_past_the_limit_is_refused_where_it_passes(kind: str, levels: int) -> None:
    text = "[" * levels + "]" * levels
    source = "pcf.json" if kind == "json" else "pcf.yml"

    assert parse_refusal(text, kind) == f"{source}: line 1, column 65: {TOO_DEEP}"


@pytest.mark.parametrize("kind", ["json", "yaml"])
def test_nesting_at_the_limit_loads(kind: str) -> None:
    data = parse_definition_text('{"a":' * 63 + "[1]" + "}" * 63, kind, "pcf")  # type: ignore[arg-type]

    for _ in range(63):
        data = data["a"]
    assert data == [1]


def test_deep_json_nesting_inside_strings_does_not_count() -> None:
    text = json.dumps({"a": "[{" * 1_000, "b": ["\\\"[", "]"]})

    assert parse_definition_text(text, "json", "pcf.json") == json.loads(text)


def test_deep_json_nesting_is_located_across_lines() -> None:
    text = '{"a":\n  ' + '{"b":' * 70 + "1" + "}" * 71

    assert parse_refusal(text, "json") == f"pcf.json: line 2, column {3 + 5 * 63}: {TOO_DEEP}"


@pytest.mark.parametrize("levels", [65, 1_000, 100_000])
def test_block_yaml_nesting_past_the_limit_is_refused(levels: int) -> None:
    assert parse_refusal("- " * levels + "x\n") == f"pcf.yml: line 1, column 129: {TOO_DEEP}"


def test_indented_yaml_nesting_is_refused_at_the_mapping_that_passes_the_limit() -> None:
    text = "".join("  " * level + "a:\n" for level in range(65)) + "  " * 65 + "x: 1\n"

    assert parse_refusal(text) == f"pcf.yml: line 65, column 129: {TOO_DEEP}"


def test_the_depth_limit_is_configurable() -> None:
    assert parse_refusal('{"a": [[]]}', "json", DefinitionLimits(max_depth=2)) == (
        "pcf.json: line 1, column 8: nesting deeper than 2 levels"
    )
    assert parse_definition_text('{"a": []}', "json", "pcf.json", DefinitionLimits(max_depth=2)) == {"a": []}


# --- scalars -----------------------------------------------------------------------------------------------------


def test_a_5000_digit_integer_is_refused_in_json_naming_its_path() -> None:
    text = '{"a": {"b": [0, ' + "7" * 5_000 + "]}}"

    assert parse_refusal(text, "json") == "pcf.json: at a.b[1]: integer of 5,000 digits (more than 32)"


def test_a_5000_digit_integer_is_refused_in_yaml_at_its_position() -> None:
    assert parse_refusal("a:\n  b: -" + "7" * 5_000 + "\n") == (
        "pcf.yml: line 2, column 6: integer of 5,000 digits (more than 32)"
    )


@pytest.mark.parametrize("kind", ["json", "yaml"])
def test_integers_up_to_the_digit_limit_load(kind: str) -> None:
    assert parse_definition_text('{"a": -' + "9" * 32 + "}", kind, "pcf") == {"a": -int("9" * 32)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": NaN}', "at a: NaN is not a number (JSON has no NaN or Infinity)"),
        ('{"a": [-Infinity]}', "at a[0]: -Infinity is not a number (JSON has no NaN or Infinity)"),
        ('{"a": 1e400}', "at a: number 1e400 is too large for a float"),
        ("NaN", "at the top level: NaN is not a number (JSON has no NaN or Infinity)"),
    ],
)
def test_json_numbers_that_are_not_finite_are_refused(text: str, reason: str) -> None:
    assert parse_refusal(text, "json") == f"pcf.json: {reason}"


@pytest.mark.parametrize("value", [".nan", "-.inf", "1.0e+400"])
def test_yaml_numbers_that_are_not_finite_are_refused(value: str) -> None:
    assert parse_refusal(f"a: {value}\n") == f"pcf.yml: line 1, column 4: {value!r} is not a finite number"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a: 2024-13-45\n", "line 1, column 4: not a valid !!timestamp value: month must be in 1..12"),
        ("a: !!int abc\n", "line 1, column 4: not a valid !!int value: invalid literal for int() with base 10: 'abc'"),
        ("a: !!timestamp soon\n", "line 1, column 4: not a valid !!timestamp value"),
    ],
)
def test_a_yaml_value_its_constructor_cannot_build_is_refused_at_its_position(text: str, reason: str) -> None:
    assert parse_refusal(text) == f"pcf.yml: {reason}"


# --- keys, documents, tags ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"pcf_name": "a", "pcf_name": "b"}', "at pcf_name: duplicate key 'pcf_name'"),
        ('{"a": [1, {"b": 1, "c": 2, "b": 3}]}', "at a[1].b: duplicate key 'b'"),
        ('{"x y": {"k": {}, "k": {}}}', "at 'x y'.k: duplicate key 'k'"),
    ],
)
def test_duplicate_json_keys_are_refused_naming_the_path(text: str, reason: str) -> None:
    assert parse_refusal(text, "json") == f"pcf.json: {reason}"


@pytest.mark.parametrize(
    ("text", "where", "key"),
    [
        ("pcf_name: a\npcf_name: b\n", "line 2, column 1", "pcf_name"),
        ("a:\n  - b: 1\n    c: 2\n    'b': 3\n", "line 4, column 5", "b"),
        ("a: {x: 1, x: 2}\n", "line 1, column 11", "x"),
        ("a: &m {x: 1}\nb:\n  <<: *m\n  <<: *m\n", "line 4, column 3", "<<"),
    ],
)
def test_duplicate_yaml_keys_are_refused_at_the_second_one(text: str, where: str, key: str) -> None:
    assert parse_refusal(text) == f"pcf.yml: {where}: duplicate key {key!r}"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("yes: 1\n", "line 1, column 1: mapping key 'yes' is a !!bool, not a string (quote it)"),
        ("a:\n  1: x\n", "line 2, column 3: mapping key '1' is a !!int, not a string (quote it)"),
        ("? [a]\n: 1\n", "line 1, column 3: a mapping key must be a string, not a sequence"),
    ],
)
def test_a_yaml_key_that_is_not_a_string_is_refused(text: str, reason: str) -> None:
    assert parse_refusal(text) == f"pcf.yml: {reason}"


def test_a_second_yaml_document_is_refused() -> None:
    assert parse_refusal("pcf_name: a\n---\npcf_name: b\n") == (
        "pcf.yml: line 2, column 1: a second YAML document ('---'): a definition file holds one"
    )


@pytest.mark.parametrize("text", ['!!python/object/apply:os.system ["true"]\n', 'a: !!python/name:os.system ""\n',
                                  "a: !custom x\n"])
def test_a_tag_the_safe_loader_rejects_is_refused_in_one_line(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "system", lambda command: pytest.fail(f"os.system({command!r}) was called"))

    reason = parse_refusal(text)

    assert " is not allowed (plain YAML values only)" in reason and reason.startswith("pcf.yml: line 1, column ")


def test_yaml_syntax_errors_keep_their_one_line_reason() -> None:
    assert parse_refusal("pcf_name: [unclosed\n") == (
        "pcf.yml is not valid YAML: expected ',' or ']', but got '<stream end>' at line 2, column 1"
    )
    assert parse_refusal("a: \x07\n") == (
        "pcf.yml is not valid YAML: unacceptable character #x0007: special characters are not allowed "
        "at line 1, column 4"
    )
    assert parse_refusal("a: *nope\n") == "pcf.yml is not valid YAML: found undefined alias 'nope' at line 1, column 4"


def test_json_syntax_errors_keep_their_one_line_reason() -> None:
    assert parse_refusal('{"a": 1\n "b": 2}', "json") == (
        "pcf.json is not valid JSON: Expecting ',' delimiter: line 2 column 2 (char 9)"
    )


# --- bytes and encodings -----------------------------------------------------------------------------------------


def test_a_file_that_is_not_utf8_is_refused_at_the_first_bad_byte(tmp_path: Path) -> None:
    file = tmp_path / "pcf.yml"
    file.write_bytes(b"pcf_name: a\nflavor: caf\xe9\n")

    assert refusal(lambda: load_definitions(file)) == (
        f"{file}: line 2, column 12 (byte 23): not valid UTF-8 (byte 0xe9)"
    )


def test_the_column_of_a_bad_byte_counts_characters() -> None:
    assert parse_refusal('{"né": "\xff"}'.encode("latin-1").replace(b"n\xe9", "né".encode()), "json") == (
        "pcf.json: line 1, column 9 (byte 9): not valid UTF-8 (byte 0xff)"
    )


@pytest.mark.parametrize("kind", ["json", "yaml"])
def test_a_utf8_byte_order_mark_is_accepted(kind: str) -> None:
    assert parse_definition_text(b'\xef\xbb\xbf{"a": "\xc3\xa9"}', kind, "pcf") == {"a": "é"}  # type: ignore[arg-type]


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "pcf.json"
    file.write_bytes(b" " * (DEFAULT_LIMITS.max_bytes + 1))

    too_large = f"{file} is larger than 4,194,304 bytes (a definition file's limit)"
    assert refusal(lambda: load_definitions(file)) == too_large
    assert refusal(lambda: load_definitions(file, DefinitionLimits(max_bytes=2 * DEFAULT_LIMITS.max_bytes))) == (
        f"{file} is not valid JSON: Expecting value: line 1 column {DEFAULT_LIMITS.max_bytes + 2} "
        f"(char {DEFAULT_LIMITS.max_bytes + 1})"
    )


def test_text_over_the_size_limit_is_refused() -> None:
    assert parse_refusal("a: 12345\n", limits=DefinitionLimits(max_bytes=8)) == (
        "pcf.yml is larger than 8 bytes (a definition file's limit)"
    )


# --- files that are not regular ----------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pcf.yml"
    os.mkfifo(fifo)
    reasons: list[str] = []

    reader = threading.Thread(target=lambda: reasons.append(refusal(lambda: load_definitions(fifo))), daemon=True)
    reader.start()
    reader.join(timeout=60)

    assert not reader.is_alive(), "loading a FIFO blocked"
    assert reasons == [f"{fifo} is not a regular file (a FIFO, socket or device is not read)"]


def test_a_directory_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    assert refusal(lambda: load_definition(tmp_path)) == f"{tmp_path} is a directory, not a definition file"
    assert refusal(lambda: load_definitions(tmp_path / "nope.yml")) == f"{tmp_path / 'nope.yml'} does not exist"


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_link_to_an_endless_device_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "pcf.json"
    link.symlink_to("/dev/zero")

    assert refusal(lambda: load_definitions(link)) == (
        f"{link} is not a regular file (a FIFO, socket or device is not read)"
    )


# --- the shape of what a file holds ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["json", "yml"])
def test_ten_thousand_particle_definitions_load(tmp_path: Path, kind: str) -> None:
    definitions = [particle(index) for index in range(10_000)]
    file = tmp_path / f"pcf.{kind}"
    file.write_text(json.dumps(definitions) if kind == "json" else yaml.safe_dump(definitions))

    assert load_definitions(file) == definitions


def test_one_mapping_or_a_list_of_them(tmp_path: Path) -> None:
    (tmp_path / "one.yml").write_text("pcf_name: a\n")
    (tmp_path / "list.json").write_text('[{"pcf_name": "a"}, 3]')
    (tmp_path / "empty.json").write_text("[]")
    (tmp_path / "other.txt").write_text("{pcf_name: a}\n")

    assert load_definitions(tmp_path / "one.yml") == [{"pcf_name": "a"}]
    assert load_definition(tmp_path / "other.txt") == {"pcf_name": "a"}
    empty = tmp_path / "empty.json"
    assert refusal(lambda: load_definitions(empty)) == f"{empty} holds no definition"
    with pytest.raises(DefinitionError) as caught:
        load_definitions(tmp_path / "list.json")
    assert str(caught.value) == "file[1]: must be a definition (a mapping) or a list of them, not int"
    assert refusal(lambda: load_definition(tmp_path / "list.json")) == (
        f"{tmp_path / 'list.json'} must hold one mapping (a particle or quasiparticle definition)"
    )


def test_the_old_loaders_delegate_to_the_bounded_one(tmp_path: Path) -> None:
    bomb = tmp_path / "pcf.yml"
    bomb.write_text(alias_bomb(levels=9, fan_out=9))

    assert refusal(lambda: core_load_definition(bomb)).endswith(TOO_MANY)
    assert refusal(lambda: cli_load_definitions(bomb)).endswith(TOO_MANY)


@given(st.binary(max_size=200), st.sampled_from(["json", "yaml"]))
@settings(max_examples=300, deadline=None)
def test_any_bytes_load_or_are_refused_with_a_definition_error(data: bytes, kind: str) -> None:
    try:
        parse_definition_text(data, kind, "pcf", DefinitionLimits(max_depth=4, max_nodes=50))  # type: ignore[arg-type]
    except DefinitionError as error:
        assert error.field == "file" and "\n" not in error.reason


@given(st.text(alphabet="[]{}:,-&*ab \n'\"!<>0.9", max_size=120), st.sampled_from(["json", "yaml"]))
@settings(max_examples=500, deadline=None)
def test_structured_text_loads_or_is_refused_with_a_definition_error(text: str, kind: str) -> None:
    try:
        parse_definition_text(text, kind, "pcf", DefinitionLimits(max_depth=4, max_nodes=50))  # type: ignore[arg-type]
    except DefinitionError as error:
        assert error.field == "file" and "\n" not in error.reason


def test_a_long_string_aliased_many_times_is_refused_by_its_expanded_size() -> None:
    aliases_of_a, aliases_of_b = ", ".join(["*a"] * 200), ", ".join(["*b"] * 200)
    text = f'a: &a "{"x" * 100_000}"\nb: &b [{aliases_of_a}]\nc: [{aliases_of_b}]\n'

    with pytest.raises(DefinitionError, match="characters of values once YAML aliases are expanded"):
        parse_definition_text(text, "yaml", "f.yml", DEFAULT_LIMITS)


# -- JSON with comments (the original PCF read definition files with commentjson) -----------------------------
def test_json_comments_are_blank_and_strings_keep_their_slashes_and_hashes() -> None:
    text = ('{\n  // a line comment\n  "pcf_name": "a", # another\n  /* a block\n  comment */ "flavor": "f",\n'
            '  "note": "http://x // not # a comment /* either */"\n}\n')
    assert parse_definition_text(text, "json", "c.json") == {
        "pcf_name": "a", "flavor": "f", "note": "http://x // not # a comment /* either */"}


def test_an_error_after_comments_points_at_its_own_line() -> None:
    reason = parse_refusal('{\n  // one\n  /* two\n three */\n  "a": 1,,\n}\n', "json")
    assert "line 5" in reason


def test_an_unclosed_block_comment_is_refused_where_it_opens() -> None:
    reason = parse_refusal('{"a": 1,\n  /* never closed\n}', "json")
    assert reason == "pcf.json: line 2, column 3: a /* comment is never closed"


def test_many_unclosed_block_comments_are_refused_quickly() -> None:
    assert "never closed" in parse_refusal('{"a": "' + "x" * 10 + '"}' + "/*" * 500_000, "json")
