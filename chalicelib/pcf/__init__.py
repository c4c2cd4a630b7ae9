"""PCF: the Particle Cloud Framework.

Import it as ``pcf``: tests, the CLI and the deployed Lambda all see ``chalicelib/`` on ``sys.path``,
so there is exactly one module identity (two copies would mean two ``State`` enums that never compare
equal).
"""

if __name__ != "pcf":  # pragma: no cover - guarded import path
    raise ImportError(f"import the framework as 'pcf', not as '{__name__}' (put chalicelib/ on sys.path)")

__version__ = "0.1.0"
VERSION = __version__
"""The original PCF's name for the version."""
