"""The README's Python quickstart runs as written, on a fresh clone with no AWS account."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL")


def readme_python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", (ROOT / "README.md").read_text(encoding="utf-8"), re.M | re.S)


def test_the_readme_python_quickstart_runs_without_aws_credentials(tmp_path: Path) -> None:
    [block] = [code for code in readme_python_blocks() if "DistributedMasterWorker.from_file" in code]
    script = tmp_path / "quickstart.py"
    script.write_text(block + "\nprint(sorted({p.state.name for p in cluster.members()}))\n", encoding="utf-8")
    environ = {name: value for name, value in os.environ.items()
               if name not in AWS_VARIABLES and not name.startswith("PCF_")}
    environ["HOME"] = str(tmp_path)  # no ~/.aws: boto3 finds no credentials of its own
    environ["AWS_CONFIG_FILE"] = environ["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")

    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=environ, capture_output=True, text=True,
                          timeout=120)

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "['terminated']", "as last synced, every member terminated"
