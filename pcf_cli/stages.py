"""The control plane's stages (``.chalice/config.json``): each names its state table, deployment and stack."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploy import stage_config
from deploy.stage_config import CONFIG_PATH
from pcf.core.pcf_exceptions import DefinitionError
from pcf.util.aws.tag_specifications import DEFAULT_DEPLOYMENT
from pcf.util.callbacks import ALLOW_LIST_VARIABLE, parse_allow_list

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
        config = stage_config.read_config(path)
        variables = stage_config.stage_variables(config, name, path)
    except stage_config.StageConfigError as error:
        hint = ": pass --table" if not path.exists() else ""
        raise DefinitionError("--stage", f"{error}{hint}") from None
    table = variables.get("PCF_TABLE_NAME")
    if not table:
        raise DefinitionError("--stage", f"stage {name!r} sets no PCF_TABLE_NAME in {path.name}: pass --table")
    return Stage(name, table, variables.get("PCF_DEPLOYMENT") or DEFAULT_DEPLOYMENT,
                 f"{stage_config.app_name(config)}-{name}",
                 tuple(parse_allow_list(variables.get(ALLOW_LIST_VARIABLE))))
