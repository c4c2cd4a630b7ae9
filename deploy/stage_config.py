"""Reading ``.chalice/config.json``: the app's name and each stage's environment. The CLI, the local cloud and the
template builder all read it here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploy.project_files import STAGE_CONFIG_FILE

CONFIG_PATH = STAGE_CONFIG_FILE
DEFAULT_APP_NAME = "pcf-serverless"


class StageConfigError(ValueError):
    """``.chalice/config.json`` is missing, not JSON, or has no such stage; the message says which."""


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The whole file."""
    chosen = path or CONFIG_PATH
    try:
        config = json.loads(chosen.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StageConfigError(f"{chosen} is not there") from None
    except ValueError as error:
        raise StageConfigError(f"{chosen} is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise StageConfigError(f"{chosen} must hold a JSON object")
    return config


def app_name(config: dict[str, Any]) -> str:
    """The Chalice app's name, the prefix of every name a stage deploys."""
    return str(config.get("app_name") or DEFAULT_APP_NAME)


def stage_variables(config: dict[str, Any], stage: str, path: Path | None = None) -> dict[str, str]:
    """The environment ``chalice deploy --stage STAGE`` gives every function: global then the stage's variables."""
    stages = config.get("stages") or {}
    if stage not in stages:
        where = (path or CONFIG_PATH).name
        raise StageConfigError(f"{stage!r} is not a stage of {where} (stages: {', '.join(sorted(stages))})")
    return {**config.get("environment_variables", {}), **(stages[stage].get("environment_variables") or {})}
