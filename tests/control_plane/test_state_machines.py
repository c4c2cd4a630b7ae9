"""Every ASL file: each ``${…Arn}`` names a Lambda of the app, and statelint accepts it once substituted."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import app as chalice_app

MACHINES = sorted((Path(__file__).resolve().parents[2] / "state_machines").glob("*.asl.json"))
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)Arn\}")


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def substituted(path: Path) -> str:
    functions = {camel(name): name for name in chalice_app.app.handler_map}
    return PLACEHOLDER.sub(
        lambda m: f"arn:aws:lambda:us-east-1:123456789012:function:pcf-serverless-dev-{functions[m.group(1)]}",
        path.read_text(),
    )


def test_there_is_an_apply_machine() -> None:
    assert [p.name for p in MACHINES] == ["apply.asl.json"]


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_placeholder_names_a_lambda_of_the_app(path: Path) -> None:
    names = set(PLACEHOLDER.findall(path.read_text()))
    functions = {camel(name) for name in chalice_app.app.handler_map}
    assert names, "a machine without Lambda tasks"
    assert names <= functions, f"no Lambda for {sorted(names - functions)}"


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_statelint_accepts_the_substituted_machine(path: Path, tmp_path: Path) -> None:
    machine = tmp_path / path.name
    machine.write_text(substituted(path))
    json.loads(machine.read_text())
    statelint = Path(sys.executable).with_name("statelint")
    result = subprocess.run([str(statelint), str(machine)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_statelint_is_not_a_rubber_stamp(tmp_path: Path) -> None:
    broken = tmp_path / "broken.asl.json"
    broken.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}))
    statelint = Path(sys.executable).with_name("statelint")
    result = subprocess.run([str(statelint), str(broken)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
