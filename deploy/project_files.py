"""Where the files a stage is made of are: the Chalice app (``app.py``), its state machines (``state_machines/``)
and its stage configuration (``.chalice/``).

They are the package data under ``deploy/project/``: in a source checkout, links to the checkout's own files (so
editing ``app.py`` or ``.chalice/config.json`` is seen at once); in an installed ``pcf-serverless``, copies made
when the wheel was built. The CLI, the local cloud and the template builder find them here, never by walking up
from a module's own path.
"""

from __future__ import annotations

import importlib.util
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalice import Chalice

PROJECT = Path(str(resources.files("deploy") / "project")).resolve()
APP_FILE = (PROJECT / "app.py").resolve()
STATE_MACHINES_DIR = (PROJECT / "state_machines").resolve()
CHALICE_DIR = (PROJECT / "chalice").resolve()
STAGE_CONFIG_FILE = CHALICE_DIR / "config.json"


def state_machine_file(key: str) -> Path:
    """The ASL file of the state machine ``key`` (``page`` or ``apply``)."""
    return STATE_MACHINES_DIR / f"{key}.asl.json"


def load_app() -> Chalice:
    """The Chalice app of ``app.py``: the module ``app`` when already imported, else loaded from :data:`APP_FILE`
    (and registered as ``app``, so every caller shares one module)."""
    module = sys.modules.get("app")
    if module is None or not hasattr(module, "app"):
        spec = importlib.util.spec_from_file_location("app", APP_FILE)
        if spec is None or spec.loader is None:
            raise FileNotFoundError(f"{APP_FILE}: the Chalice app is not there")
        module = importlib.util.module_from_spec(spec)
        sys.modules["app"] = module
        spec.loader.exec_module(module)
    return module.app
