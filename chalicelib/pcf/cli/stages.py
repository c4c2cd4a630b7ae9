"""The control plane's stages (``.chalice/config.json``): each names its state table, deployment and stack."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pcf.core.pcf_exceptions import DefinitionError
from pcf.util.aws.tag_specifications import DEFAULT_DEPLOYMENT
from pcf.util.callbacks import ALLOW_LIST_VARIABLE, parse_allow_list

PROJECT_ROOT = Path(__file__).resolve().parents[3]
CONFIG_PATH = PROJECT_ROOT / ".chalice" / "config.json"
DEFAULT_STAGE = "dev"


@dataclass(frozen=True)
class Stage:
    """A stage: its name, state table, deployment (the ``PCFDeployment`` tag) and CloudFormation stack."""

    name: str
    table_name: str
    deployment: str
    stack_name: str
    callbacks: tuple[str, ...] = ()
    """The stage's callback allow-list (``PCF_CALLBACKS``): names its definitions may use."""

    @property
    def failed_events_queue(self) -> str:
        """``<stack>-failed-events``: the SQS queue holding the stage's failed event and schedule invocations."""
        return f"{self.stack_name}-failed-events"

    def function_name(self, function: str) -> str:
        """``<stack>-<function>``: a deployed function's name, on AWS (the template's) as on the local cloud."""
        return f"{self.stack_name}-{function}"


def read_stage(name: str = DEFAULT_STAGE, config_path: Path | None = None) -> Stage:
    """The stage ``name`` as ``.chalice/config.json`` defines it (global variables, then the stage's)."""
    path = config_path or CONFIG_PATH
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DefinitionError("--stage", f"{path} is not there to define stage {name!r}: pass --table") from None
    except ValueError as error:
        raise DefinitionError("--stage", f"{path} is not valid JSON: {error}") from None
    stages = config.get("stages") or {}
    if name not in stages:
        raise DefinitionError("--stage", f"{name!r} is not a stage of {path.name} (stages: {', '.join(stages)})")
    variables = {**config.get("environment_variables", {}), **stages[name].get("environment_variables", {})}
    app_name = config.get("app_name", "pcf-serverless")
    table = variables.get("PCF_TABLE_NAME")
    if not table:
        raise DefinitionError("--stage", f"stage {name!r} sets no PCF_TABLE_NAME in {path.name}: pass --table")
    return Stage(name, table, variables.get("PCF_DEPLOYMENT") or DEFAULT_DEPLOYMENT, f"{app_name}-{name}",
                 tuple(parse_allow_list(variables.get(ALLOW_LIST_VARIABLE))))
