"""``import app`` (every cold start) loads Chalice and Powertools only; each step imports what it uses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pcf", "pcf_control_plane", "boto3", "botocore.client", "pydantic", "aws_xray_sdk", "moto")
"""(Powertools imports the ``botocore`` package itself, a few hundred microseconds, to tag its user agent.)"""


def test_importing_the_app_loads_no_control_plane_aws_sdk_or_tracer() -> None:
    probe = "import json, sys; import app; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"})
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout)
    loaded = {name.split(".")[0] for name in modules} | {name for name in modules if name in HEAVY}
    assert {"chalice", "aws_lambda_powertools"} <= loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded.intersection(HEAVY))
