"""The Lambda deployment package: the size of ``build/package/deployment.zip`` (``make package``) against the
target, or, when it has not been built, an estimate zipped from this virtualenv.

``make package`` runs ``chalice package``, which downloads Linux wheels for ``requirements.txt`` (network
needed). The estimate zips what chalice would bundle: ``app.py``, ``chalicelib/`` and the installed files of
``requirements.txt``'s distributions and their dependencies (no ``__pycache__``), as this machine has them.
"""

from __future__ import annotations

import io
import re
import subprocess
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT_ROOT / "build" / "package" / "deployment.zip"
REQUIREMENTS = PROJECT_ROOT / "requirements.txt"
TARGET_BYTES = 10 * 1024 * 1024
"""The deployment package at most 10 MiB (zipped)."""
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class PackageSize:
    """A deployment package's zipped size, and where the figure comes from."""

    zipped_bytes: int
    source: str
    """``build``: the real ``deployment.zip``; ``estimate``: zipped from this virtualenv."""
    unzipped_bytes: int = 0
    largest: tuple[tuple[str, int], ...] = ()
    """The biggest top-level entries (package or directory), by zipped bytes."""
    note: str = ""

    @property
    def within_target(self) -> bool:
        return self.zipped_bytes <= TARGET_BYTES


def requirement_names(text: str) -> list[str]:
    """Distribution names of a requirements file (comments, options and ``-r`` lines skipped)."""
    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        match = _NAME.match(line)
        if match and not line.startswith("-"):
            names.append(match.group(1))
    return names


def dependency_closure(names: list[str]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need, their dependencies included (extras left out)."""
    found: dict[str, metadata.Distribution] = {}
    pending = list(names)
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[key] = distribution
        for requirement in distribution.requires or []:
            if "extra ==" not in requirement:
                match = _NAME.match(requirement)
                if match:
                    pending.append(match.group(1))
    return list(found.values())


def _summarize(archive: zipfile.ZipFile, zipped: int, source: str, note: str = "") -> PackageSize:
    by_top: dict[str, int] = {}
    for info in archive.infolist():
        top = info.filename.split("/", 1)[0]
        by_top[top] = by_top.get(top, 0) + info.compress_size
    largest = tuple(sorted(by_top.items(), key=lambda item: -item[1])[:6])
    unzipped = sum(info.file_size for info in archive.infolist())
    return PackageSize(zipped, source, unzipped, largest, note)


def built(path: Path = PACKAGE) -> PackageSize | None:
    """The real package's size, if ``make package`` made it."""
    if not path.is_file():
        return None
    with zipfile.ZipFile(path) as archive:
        return _summarize(archive, path.stat().st_size, "build", str(path.relative_to(PROJECT_ROOT)))


def estimate() -> PackageSize:
    """Zip, in memory, what chalice would bundle, from this virtualenv's installed files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(PROJECT_ROOT / "app.py", "app.py")
        for path in sorted((PROJECT_ROOT / "chalicelib").rglob("*")):
            relative = path.relative_to(PROJECT_ROOT)
            if path.is_file() and "__pycache__" not in relative.parts and ".egg-info" not in str(relative):
                archive.write(path, str(relative))
        for distribution in dependency_closure(requirement_names(REQUIREMENTS.read_text(encoding="utf-8"))):
            for file in distribution.files or []:
                source = Path(str(distribution.locate_file(file)))
                if "__pycache__" in file.parts or file.suffix == ".pyc" or not source.is_file():
                    continue
                archive.write(source, str(file))
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        return _summarize(archive, len(buffer.getvalue()), "estimate",
                          "zipped from this virtualenv: app.py, chalicelib/ and requirements.txt's dependency closure")


def make_package() -> str:
    """Run ``make package`` (network needed for the wheels); its last output lines."""
    completed = subprocess.run(["make", "package"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    tail = (completed.stdout + completed.stderr).strip().splitlines()[-5:]
    if completed.returncode != 0:
        raise RuntimeError("make package failed:\n" + "\n".join(tail))
    return "\n".join(tail)
