"""An installed (not editable) ``pcf-serverless`` finds its app, state machines and stage config as package data and
runs a definition through the state machine on the local cloud, from a folder that is not a checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from this checkout and unpacked into a folder of its own (its ``site``)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(REPO)], check=True, capture_output=True, timeout=300)
    [wheel] = out.glob("pcf_serverless-*.whl")
    site = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def _python(site: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``python argv`` with the unpacked wheel first on the path (ahead of the checkout's editable install)."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=240,
                          check=False)


def test_the_wheel_holds_the_project_files_and_no_lambda_only_layout(installed: Path) -> None:
    project = installed / "deploy" / "project"

    assert json.loads((project / "chalice" / "config.json").read_text())["stages"]
    assert sorted(p.name for p in (project / "state_machines").glob("*.asl.json")) == [
        "apply.asl.json", "page.asl.json", "reconcile.asl.json"]
    assert (project / "app.py").read_text() == (REPO / "app.py").read_text()
    assert (installed / "pcf_cli" / "main.py").is_file() and (installed / "pcf_local_cloud" / "cloud.py").is_file()
    assert not (installed / "chalicelib").exists()


def test_an_installed_pcf_finds_its_files_in_the_package_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    probe = ("import deploy.project_files as f, pcf_cli, pcf_local_cloud; "
             "print(f.APP_FILE, f.STATE_MACHINES_DIR, f.STAGE_CONFIG_FILE, pcf_cli.__file__, pcf_local_cloud.__file__)")

    done = _python(installed, tmp_path, "-c", probe)

    assert done.returncode == 0, done.stderr
    paths = [Path(p) for p in done.stdout.split()]
    assert all(path.is_relative_to(installed) and path.exists() for path in paths), paths


def test_an_installed_pcf_runs_a_definition_through_the_state_machine_on_the_local_cloud(
    installed: Path, tmp_path: Path
) -> None:
    (tmp_path / "pcf.json").write_text((REPO / "examples" / "single_instance.json").read_text())

    done = _python(installed, tmp_path, "-m", "pcf_cli", "--target", "local", "run", "--quiet")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split()[:2] == ["ec2_instance:web", "running"], done.stdout
