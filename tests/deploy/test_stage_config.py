"""``.chalice/config.json`` is read in one place (``deploy.stage_config``) by the CLI, the local cloud and the
template builder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy import stage_config
from deploy.lambda_policies import stage_environment as template_environment
from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.stages import read_stage
from pcf_local_cloud.control_plane import stage_environment as local_environment


def test_the_stage_variables_overlay_the_global_ones(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"environment_variables": {"A": "global", "B": "global"},
                                "stages": {"dev": {"environment_variables": {"B": "dev"}}}}))
    config = stage_config.read_config(path)
    assert stage_config.stage_variables(config, "dev", path) == {"A": "global", "B": "dev"}
    assert stage_config.app_name(config) == "pcf-serverless"


@pytest.mark.parametrize(("content", "reason"), [
    (None, "is not there"), ("{", "is not valid JSON"), ("[]", "must hold a JSON object"),
    ('{"stages": {"dev": {}}}', "'qa' is not a stage of config.json (stages: dev)"),
])
def test_a_bad_config_is_one_clear_error(tmp_path: Path, content: str | None, reason: str) -> None:
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(stage_config.StageConfigError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        stage_config.stage_variables(stage_config.read_config(path), "qa", path)
    with pytest.raises(DefinitionError, match="--stage"):
        read_stage("qa", path)


def test_every_reader_sees_the_same_stage() -> None:
    for stage in ("dev", "prod"):
        variables = stage_config.stage_variables(stage_config.read_config(), stage)
        assert template_environment(stage) == variables == local_environment(stage)
        assert read_stage(stage).table_name == variables["PCF_TABLE_NAME"]
