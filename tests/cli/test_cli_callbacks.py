"""The CLI refuses what the stage's control plane would: a callback name its stage does not allow."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcf.util import callbacks
from tests.cli.cli_support import CliRunner, MemoryCloud, particle


def test_the_cli_refuses_an_unregistered_callback_with_exit_2(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.json", particle("a", callbacks={"start": {"function": "os:system",
                                                                       "kwargs": {"command": "true"}}}))

    result = pcf_cli("validate")

    assert result.code == 2
    assert result.err_lines == [
        f"pcf: error: callbacks.start.function: 'os:system' is not a registered callback; {callbacks.HOW_TO_REGISTER}"
    ]


def test_validate_f_refuses_os_system_with_one_line_naming_the_field(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("hostile.yaml", particle("a", callbacks={"start": {"function": "os:system",
                                                                       "kwargs": {"command": "touch pwned"}}}))

    result = pcf_cli("validate", "-f", "hostile.yaml")

    assert result.code == 2
    [line] = result.err_lines
    assert line.startswith("pcf: error: callbacks.start.function: 'os:system' is not a registered callback;")


def test_the_cli_allows_what_its_own_environment_allows(pcf_cli: CliRunner, memory: MemoryCloud,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCF_CALLBACKS", "tests.support.callbacks:record_call")
    pcf_cli.write("pcf.json", particle("a", callbacks={"start": {"function": "tests.support.callbacks:record_call"}}))

    assert pcf_cli("validate").code == 0


def test_the_cli_allows_what_its_stage_allows(tmp_path: Path, pcf_cli: CliRunner, memory: MemoryCloud,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"stages": {"dev": {"environment_variables": {"PCF_TABLE_NAME": "t", '
                      '"PCF_CALLBACKS": "tests.support.callbacks:record_call"}}}}')
    monkeypatch.setattr("pcf_cli.stages.CONFIG_PATH", config)
    pcf_cli.write("pcf.json", particle("a", callbacks={"start": {"function": "tests.support.callbacks:record_call"}}))

    assert pcf_cli("validate").code == 0
    assert not callbacks.is_allowed("tests.support.callbacks:record_call")  # only while the command ran
