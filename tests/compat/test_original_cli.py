"""The original PCF's command line as its users call it: ``pcf.cli.cli:cli``, ``pcf.cli.commands.<command>`` and
``pcf.cli.utils``, through click's test runner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pcf import VERSION
from pcf.cli import utils
from pcf.cli.cli import cli
from pcf.cli.commands.run import run
from pcf.core.pcf_exceptions import MaxTimeoutException
from pcf.particle.aws.ec2.ec2_instance import EC2Instance

EC2_JSON = ('[{"pcf_name": "test_ec2", "flavor": "ec2_instance", // the original fixture\n'
            ' "aws_resource": {"ImageId": "ami-12345678", "custom_config": {"instance_name": "my-ec2"}}}]')
EC2_YAML = ("- pcf_name: test_ec2\n  flavor: ec2_instance\n  aws_resource:\n    ImageId: ami-12345678\n"
            "    custom_config:\n      instance_name: my-ec2\n"
            "- a string entry is skipped\n"
            "- pcf_name: no_flavor_particle\n")


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    previous = Path.cwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(previous)


# -- pcf.cli.cli ---------------------------------------------------------------------------------------------
def test_version_flag_prints_the_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert f"v{VERSION}" in result.output


@pytest.mark.parametrize("flag", [["-h"], ["--help"], []])
def test_no_command_or_help_prints_the_help(flag: list[str]) -> None:
    result = CliRunner().invoke(cli, flag)
    assert result.exit_code == 0
    assert "Usage" in result.output and "Options" in result.output and "apply" in result.output


def test_an_unknown_command_suggests_the_closest() -> None:
    close = CliRunner().invoke(cli, ["apple"])
    assert close.exit_code == 2
    assert "did you mean 'apply'" in close.output
    far = CliRunner().invoke(cli, ["excelsior"])
    assert far.exit_code == 2
    assert "'excelsior' is not a pcf command; commands: apply, run" in far.output


def test_a_command_module_runs_the_pcf_command_line(workdir: Path) -> None:
    result = CliRunner().invoke(run, ["test_ec3", "-f", "missing.json", "-c", "-q", "-t", "5"])
    assert result.exit_code == 2
    assert "missing.json does not exist" in result.output


# -- pcf.cli.utils -----------------------------------------------------------------------------------------
def test_color_honours_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert utils.color("red") is None
    monkeypatch.delenv("NO_COLOR")
    assert utils.color("red") == "red"


def test_fail_and_did_you_mean_exit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as failed:
        utils.fail("foo")
    assert failed.value.code == 1
    with pytest.raises(SystemExit) as one:
        utils.did_you_mean(["single suggestion"])
    assert one.value.code == 1
    assert "Did you mean this?\n\tsingle suggestion" in capsys.readouterr().out
    with pytest.raises(SystemExit) as several:
        utils.did_you_mean(["more", "than", "one"], exit_code=42)
    assert several.value.code == 42
    assert "Did you mean one of these?" in capsys.readouterr().out


def test_similar_strings_by_edit_distance() -> None:
    assert utils.similar_strings("foo", ["fo", "bar", "foobar"]) == ["fo"]
    assert utils.similar_strings("lego", ["leggo", "my", "eggo"]) == ["leggo", "eggo"]
    assert utils.similar_strings("abba", ["Yabba", "dabba", "do"]) == ["Yabba", "dabba"]


@pytest.mark.parametrize(("present", "expected"), [
    (["pcf.yaml", "pcf.yml"], "pcf.yml"), (["pcf.yml", "pcf.json"], "pcf.json"), (["pcf.yaml"], "pcf.yaml")])
def test_default_files_load_in_precedence(workdir: Path, present: list[str], expected: str) -> None:
    for name in present:
        (workdir / name).write_text(EC2_JSON if name.endswith(".json") else EC2_YAML)
    config, used = utils.load_pcf_config_from_file("pcf.json")
    assert used == expected
    assert isinstance(config, list) and config[0]["pcf_name"] == "test_ec2"


def test_config_file_errors_exit_1(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "bad.json").write_text("foo")
    cases = [("foo.bar", "is not a valid PCF config file"), ("pcf.json", "could not find a PCF config file"),
             ("custom.json", "could not find PCF config file custom.json"), ("bad.json", "Error reading PCF config")]
    for name, message in cases:
        with pytest.raises(SystemExit) as failed:
            utils.load_pcf_config_from_file(name)
        assert failed.value.code == 1
        assert message in capsys.readouterr().out


def test_particles_from_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "pcf.yml").write_text(EC2_YAML)
    (workdir / "pcf.json").write_text(EC2_JSON)
    (workdir / "other.yml").write_text("- pcf_name: unsupported_flavor_particle\n  flavor: unsupported_flavor\n")
    [particle] = utils.particles_from_file("test_ec2", "pcf.yml")
    assert isinstance(particle, EC2Instance)
    for name, file, message in [
        ("no_flavor_particle", "pcf.yml", "No flavor specified in no_flavor_particle"),
        ("unsupported_flavor_particle", "other.yml", "unsupported_flavor is not a supported"),
        ("unspecified", "other.yml", "could not find Particle or Quasiparticle 'unspecified'"),
        ("test_ec3", "pcf.json", "Did you mean this?\n\ttest_ec2"),
    ]:
        with pytest.raises(SystemExit) as failed:
            utils.particles_from_file(name, file)
        assert failed.value.code == 1
        assert message in capsys.readouterr().out


def test_execute_applying_command_sets_the_state_and_applies(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "pcf.json").write_text(EC2_JSON)
    applied: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(EC2Instance, "apply", lambda self, **options: applied.append((self.desired_state, options)))
    utils.execute_applying_command("test_ec2", "pcf.json", "stopped", cascade=True, timeout=7)
    assert "Setting desired state of test_ec2 to stopped" in capsys.readouterr().out
    assert [(str(state), options) for state, options in applied] == [("stopped", {"cascade": True, "max_timeout": 7})]
    utils.execute_applying_command("test_ec2", "pcf.json", "running", quiet=True)
    assert capsys.readouterr().out == ""

    def times_out(self: Any, **options: Any) -> None:
        raise MaxTimeoutException()

    monkeypatch.setattr(EC2Instance, "apply", times_out)
    with pytest.raises(SystemExit) as failed:
        utils.execute_applying_command("test_ec2", "pcf.json", "running", quiet=True, timeout=50)
    assert failed.value.code == 1
    assert "Error: Max timeout of 50 seconds reached" in capsys.readouterr().out
