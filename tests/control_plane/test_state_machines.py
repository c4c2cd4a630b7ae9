"""Every ASL file: each ``${…Arn}`` names a Lambda of the app (or a machine created before it), and statelint
accepts it once substituted."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import app as chalice_app
from pcf_local_cloud.control_plane import STATE_MACHINE_FILES

MACHINES = sorted((Path(__file__).resolve().parents[2] / "state_machines").glob("*.asl.json"))
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)Arn\}")
MACHINE = re.compile(r"^([A-Za-z0-9]+)StateMachine$")


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def arn(name: str) -> str:
    functions = {camel(function): function for function in chalice_app.app.handler_map}
    machine = MACHINE.match(name)
    if machine:
        return f"arn:aws:states:us-east-1:123456789012:stateMachine:pcf-serverless-dev-{machine.group(1).lower()}"
    return f"arn:aws:lambda:us-east-1:123456789012:function:pcf-serverless-dev-{functions[name]}"


def substituted(path: Path) -> str:
    return PLACEHOLDER.sub(lambda m: arn(m.group(1)), path.read_text())


def test_there_are_the_apply_page_and_reconcile_machines() -> None:
    assert [p.name for p in MACHINES] == ["apply.asl.json", "page.asl.json", "reconcile.asl.json"]
    assert list(STATE_MACHINE_FILES) == ["page", "apply", "reconcile"], "page first: apply names its ARN"


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_placeholder_names_a_lambda_of_the_app_or_an_earlier_machine(path: Path) -> None:
    names = set(PLACEHOLDER.findall(path.read_text()))
    functions = {camel(name) for name in chalice_app.app.handler_map}
    earlier = list(STATE_MACHINE_FILES)[: list(STATE_MACHINE_FILES).index(path.name.split(".")[0])]
    machines = {f"{camel(key)}StateMachine" for key in earlier}
    assert names & functions, "a machine without Lambda tasks"
    assert names <= functions | machines, f"no Lambda or earlier machine for {sorted(names - functions - machines)}"


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
