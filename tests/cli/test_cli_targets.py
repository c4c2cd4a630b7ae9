"""Target choice: ``--target`` wins; otherwise aws when boto3 finds credentials, else local."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.targets import choose_target, has_aws_credentials
from tests.cli.cli_support import CliRunner, particle


@pytest.mark.parametrize(
    ("requested", "credentials", "expected"),
    [
        (None, False, "local"),
        (None, True, "aws"),
        ("local", True, "local"),
        ("aws", False, "aws"),
    ],
)
def test_choose_target(requested: str | None, credentials: bool, expected: str) -> None:
    assert choose_target(requested, lambda: credentials)[0] == expected


def test_an_explicit_target_does_not_look_for_credentials() -> None:
    def fail() -> bool:
        raise AssertionError("credentials looked up")

    assert choose_target("local", fail) == ("local", "requested")


def test_an_unknown_target_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError) as raised:
        choose_target("gcp", lambda: False)
    assert raised.value.field == "--target"


def test_has_aws_credentials_asks_the_boto3_chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert has_aws_credentials() is False
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert has_aws_credentials() is True
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    assert has_aws_credentials() is False, "a broken profile counts as no credentials"


def test_without_credentials_the_cli_uses_the_local_cloud(pcf_cli: CliRunner) -> None:
    pcf_cli.write("pcf.yml", particle("a"))

    result = pcf_cli("run", "--pending-seconds", "1.5", "--region", "eu-west-1")

    assert result.code == 0
    assert pcf_cli.opened == [("eu-west-1", 1.5)]
    assert result.err_lines[0] == (
        "target: local (no AWS credentials found; --target aws to use AWS): "
        "in-process local cloud, region eu-west-1, pending 1.5s"
    )


def test_with_credentials_the_cli_uses_aws(pcf_cli: CliRunner) -> None:
    pcf_cli.write("pcf.yml", particle("a"))
    pcf_cli.credentials = True

    result = pcf_cli("run", "--region", "eu-west-1")

    assert result.code == 0, result.err
    assert pcf_cli.opened == []
    assert result.err_lines[0] == (
        "target: aws (AWS credentials found; --target local to use the local cloud): region eu-west-1"
    )
    assert "local cloud:" not in result.err


def test_target_local_wins_over_credentials_and_options_work_after_the_command(pcf_cli: CliRunner) -> None:
    pcf_cli.write("pcf.yml", particle("a"))
    pcf_cli.credentials = True

    result = pcf_cli("run", "--target", "local")

    assert result.code == 0
    assert pcf_cli.opened == [("us-east-1", 0.0)]
    assert result.err_lines[0].startswith("target: local (requested)")


def test_pending_seconds_is_for_the_local_target_only(pcf_cli: CliRunner) -> None:
    pcf_cli.write("pcf.yml", particle("a"))

    result = pcf_cli("--target", "aws", "run", "--pending-seconds", "2")

    assert result.code == 2
    assert result.err_lines == ["pcf: error: --pending-seconds: applies to the local target only"]
