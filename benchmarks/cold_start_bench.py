"""A cold start as Lambda runs it: the deployment package extracted, a fresh interpreter importing the handler
module and what its first invocation loads, with and without the precompiled bytecode (``deploy.precompile``).

    PYTHONPATH=chalicelib:. .venv/bin/python -m benchmarks.cold_start_bench build/package/deployment.zip

The package's directory comes first on ``sys.path`` and nothing may be written beside it
(``PYTHONDONTWRITEBYTECODE``), as in Lambda's read-only ``/var/task``; what the runtime provides (boto3) comes from
this virtualenv. The import's CPU time is projected to each memory size by Lambda's vCPU share (one vCPU at
1,769 MB), as ``benchmarks.sizing_bench`` does. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from deploy.precompile import compiled_name

FIRST_INVOCATION = "app, pcf_control_plane.wiring, pcf_control_plane.steps, pcf_control_plane.reconcile"
MEMORIES = (128, 256, 512, 1024, 1769)
TARGET_SECONDS = 1.0


def import_cpu(directory: Path, runs: int) -> float:
    """Median CPU seconds of a fresh interpreter importing :data:`FIRST_INVOCATION` from ``directory``."""
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); started = time.process_time(); "
            f"import {FIRST_INVOCATION}; print(time.process_time() - started)")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": ""}
    samples = []
    for _ in range(runs):
        output = subprocess.run([sys.executable, "-c", code, str(directory)], capture_output=True, text=True,
                                env=env, cwd=directory, check=True).stdout
        samples.append(float(output.strip().splitlines()[-1]))
    return statistics.median(samples)


def extracted(package: Path, work: Path, with_bytecode: bool) -> Path:
    """``package`` extracted under ``work``, its ``.pyc`` files left out unless ``with_bytecode``."""
    target = work / ("with" if with_bytecode else "without")
    with zipfile.ZipFile(package) as archive:
        for name in archive.namelist():
            if with_bytecode or not name.endswith(".pyc"):
                archive.extract(name, target)
    return target


@dataclass(frozen=True)
class ColdStart:
    """CPU seconds of the cold import here, without and with the package's bytecode."""

    modules: int
    compiled: int
    sources_only_s: float
    with_bytecode_s: float
    runs: int

    def text(self) -> str:
        lines = [f"## Cold start ({self.compiled} of {self.modules} modules precompiled; median of {self.runs}; "
                 f"target <= {TARGET_SECONDS:g} s at the function's memory)",
                 "| memory (MB) | sources only (s) | with .pyc (s) |", "|---|---|---|"]
        for memory in MEMORIES:
            scale = max(1.0, 1769 / memory)
            lines.append(f"| {memory} | {self.sources_only_s * scale:.2f} | {self.with_bytecode_s * scale:.2f} |")
        lines.append(f"CPU here: {self.sources_only_s:.3f} s sources only, {self.with_bytecode_s:.3f} s with .pyc")
        return "\n".join(lines)


def measure(package: Path, runs: int) -> ColdStart:
    """The cold import of ``package`` (a ``deployment.zip`` that ``deploy.precompile`` went over)."""
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
    sources = [name for name in names if name.endswith(".py")]
    compiled = sum(1 for name in sources if compiled_name(name) in names)
    with tempfile.TemporaryDirectory() as work:
        without = import_cpu(extracted(package, Path(work), False), runs)
        with_pyc = import_cpu(extracted(package, Path(work), True), runs)
    return ColdStart(len(sources), compiled, without, with_pyc, runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, nargs="?", default=Path("build/package/deployment.zip"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    print(measure(args.package, args.runs).text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
