"""Put compiled bytecode into the Lambda package, so a cold start imports instead of compiling.

``chalice package`` zips sources only. Lambda extracts the zip to a read-only ``/var/task``: without ``.pyc``
files Python compiles every module it imports, on every cold start, and cannot keep the result. This rewrites
``deployment.zip`` with a ``__pycache__/<module>.<tag>.pyc`` beside each ``.py``, compiled for the running
interpreter (which must be the runtime's version: ``python3.11``), as unchecked-hash pycs: valid whatever the
extracted files' timestamps, never re-validated against the (immutable) source.

    python -m deploy.precompile build/package/deployment.zip
"""

from __future__ import annotations

import argparse
import importlib.util
import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path

RUNTIME = (3, 11)
"""The Lambda runtime (``.chalice/config.json`` and the template: python3.11)."""


def compiled_name(source: str) -> str:
    """``pkg/mod.py`` -> ``pkg/__pycache__/mod.cpython-311.pyc``: where the import system looks."""
    return importlib.util.cache_from_source(source)


def precompile(package: Path) -> int:
    """Rewrite ``package`` with a ``.pyc`` for every ``.py`` that has none; the number added."""
    if sys.version_info[:2] != RUNTIME:
        raise SystemExit(f"compile with Python {RUNTIME[0]}.{RUNTIME[1]} (the Lambda runtime), not {sys.version}")
    added = 0
    with tempfile.TemporaryDirectory() as work:
        rewritten = Path(work) / "deployment.zip"
        with zipfile.ZipFile(package) as source, zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as target:
            names = set(source.namelist())
            for info in source.infolist():
                data = source.read(info)
                target.writestr(info, data)
                cached = compiled_name(info.filename)
                if not info.filename.endswith(".py") or cached in names:
                    continue
                staged = Path(work) / "src" / info.filename
                staged.parent.mkdir(parents=True, exist_ok=True)
                staged.write_bytes(data)
                out = Path(work) / "pyc" / cached
                try:
                    py_compile.compile(str(staged), cfile=str(out), dfile=info.filename, doraise=True,
                                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
                except py_compile.PyCompileError:
                    continue  # a file that is not Python 3.11 (a vendored test fixture): left to the source
                pyc = zipfile.ZipInfo(cached, date_time=info.date_time)
                pyc.external_attr = info.external_attr
                target.writestr(pyc, out.read_bytes(), zipfile.ZIP_DEFLATED)
                added += 1
        package.write_bytes(rewritten.read_bytes())
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="the deployment.zip chalice package wrote")
    args = parser.parse_args(argv)
    print(f"{args.package}: {precompile(args.package)} modules precompiled", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
