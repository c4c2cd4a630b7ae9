"""Cold import time of ``app`` (what a Lambda cold start pays before the first handler runs), measured with
``python -X importtime`` in fresh subprocesses from the repository root; the median of several runs."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
APP = "app"
REFERENCES = ("chalice", "aws_lambda_powertools", "pydantic", "boto3")
TARGET_SECONDS = 0.3
"""``import app`` at most this long."""
_PRELUDE = "import sys; sys.path[:0]=['.', 'chalicelib']; "


@dataclass(frozen=True)
class ImportTime:
    """Cumulative import times of one module over several fresh interpreters, in microseconds."""

    module: str
    runs_us: tuple[int, ...]
    inside_app_us: int | None = None
    """The module's cumulative time within ``import app`` (median), ``None`` if ``app`` does not import it."""

    @property
    def median_us(self) -> int:
        return int(statistics.median(self.runs_us)) if self.runs_us else 0

    @property
    def median_seconds(self) -> float:
        return self.median_us / 1e6


def cumulative_us(importtime_output: str) -> dict[str, int]:
    """``{module: cumulative microseconds}`` from ``-X importtime`` lines (the first import of each module)."""
    found: dict[str, int] = {}
    for line in importtime_output.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header line
        found.setdefault(parts[2].strip(), int(parts[1]))
    return found


def lambda_environment() -> dict[str, str]:
    """This process's environment without the benchmark's Powertools switches (as on Lambda)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}


def measure_once(module: str, python: str = sys.executable) -> dict[str, int]:
    """One fresh interpreter importing ``module`` under ``-X importtime``: every module's cumulative time."""
    completed = subprocess.run(
        [python, "-X", "importtime", "-c", f"{_PRELUDE}import {module}"],
        cwd=PROJECT_ROOT, env=lambda_environment(), capture_output=True, text=True, timeout=120, check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"import {module} failed:\n{completed.stderr[-2000:]}")
    return cumulative_us(completed.stderr)


def measure(runs: int = 5, references: tuple[str, ...] = REFERENCES) -> list[ImportTime]:
    """``app`` then each reference module, each imported alone in ``runs`` fresh interpreters."""
    app_runs = [measure_once(APP) for _ in range(runs)]
    results = [ImportTime(APP, tuple(run[APP] for run in app_runs))]
    for module in references:
        inside = [run[module] for run in app_runs if module in run]
        alone = tuple(measure_once(module)[module] for _ in range(runs))
        results.append(ImportTime(module, alone, int(statistics.median(inside)) if inside else None))
    return results
