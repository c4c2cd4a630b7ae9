"""The whole control plane deployed into a local cloud, as ``chalice deploy`` and the merge template would.

One call creates the state table, every Lambda function of ``app.py`` (run in-process) and the state
machines of ``state_machines/`` (the page machine first, so ``apply`` can name its ARN; then ``reconcile``). The
functions read their settings from the environment, as on Lambda: the stage's ``environment_variables``
from ``.chalice/config.json`` are set in this process (``setenv`` decides how).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploy import stage_config
from deploy.build_merge_template import TABLE_SUBSTITUTION
from deploy.model import StageModel, machine_policy, stage_model
from deploy.project_files import load_app, state_machine_file
from pcf_local_cloud.deployment import LocalDeployment, deploy_chalice_app

if TYPE_CHECKING:

    from pcf_local_cloud.cloud import LocalCloud

STATE_MACHINE_FILES: dict[str, Path] = {
    "page": state_machine_file("page"),
    "apply": state_machine_file("apply"),
    "reconcile": state_machine_file("reconcile"),
}
"""Creation order matters: ``apply`` starts ``page`` executions (``${PageStateMachineArn}``)."""
DEFAULT_STAGE = "dev"
LOCAL_ENVIRONMENT = {"POWERTOOLS_METRICS_DISABLED": "1"}
"""What the local cloud sets before the stage's variables: quiet metrics. Invocations run side by side in one
process here, where Powertools keeps one metric set; a test that reads the EMF output turns them on."""
LOCAL_HEAL_WAIT_SECONDS = 1


def local_heal_wait_seconds(pending_seconds: float) -> int:
    """How long a healing execution waits between polls on a local cloud (``PCF_HEAL_WAIT_SECONDS``): 1 s, as
    the CLI's own executions do there (5 s is for AWS), and 0 when transitions have no pending phase."""
    return LOCAL_HEAL_WAIT_SECONDS if pending_seconds > 0 else 0


def stage_environment(stage: str = DEFAULT_STAGE, config_path: Path | None = None) -> dict[str, str]:
    """The environment ``chalice deploy --stage STAGE`` gives every function: global then stage variables."""
    return stage_config.stage_variables(stage_config.read_config(config_path), stage, config_path)


def deploy_control_plane(
    cloud: LocalCloud,
    *,
    stage: str = DEFAULT_STAGE,
    environment: Mapping[str, str] | None = None,
    setenv: Callable[[str, str], None] = os.environ.__setitem__,
) -> LocalDeployment:
    """Create the state table, the functions and the state machines of ``stage`` in ``cloud``.

    Metrics are off (:data:`LOCAL_ENVIRONMENT`) unless the stage or ``environment`` says otherwise.
    ``environment`` overrides the stage's variables (e.g. another ``PCF_TABLE_NAME``); each variable is
    passed to ``setenv`` (tests give ``monkeypatch.setenv``). The process's control plane is rebuilt on
    its next use, so the handlers see the new settings.
    """
    from pcf_control_plane import wiring
    from pcf_control_plane.store.table import create_table

    variables = {**LOCAL_ENVIRONMENT, **stage_environment(stage), **(environment or {})}
    for name, value in variables.items():
        setenv(name, value)
    create_table(cloud.client("dynamodb"), variables["PCF_TABLE_NAME"], sleep=cloud.clock.sleep)
    wiring.reset()
    app = load_app()
    model = stage_model(stage, variables)
    machines = {key: machine.definition_path for key, machine in model.machines.items()}
    return deploy_chalice_app(cloud, app, stage=stage, state_machines=machines, roles=ModelRoles(model, cloud),
                              extra_substitutions={TABLE_SUBSTITUTION: variables["PCF_TABLE_NAME"]})


class ModelRoles:
    """The roles, policies and sizes of the deploy model (``deploy.model``), for ``deploy_chalice_app``."""

    def __init__(self, model: StageModel, cloud: LocalCloud) -> None:
        self.model, self.cloud = model, cloud

    def function(self, name: str) -> tuple[str, Mapping[str, Any], int, int]:
        function = self.model.functions[name]
        return function.role_name, function.policy, function.timeout_s, function.memory_mb

    def async_invoke(self, name: str) -> tuple[int, int, str] | None:
        settings = self.model.functions[name].async_invoke
        return None if settings is None else (settings.max_retries, settings.max_age_s, settings.on_failure_queue)

    def machine(self, key: str, deployment: LocalDeployment) -> tuple[str, Mapping[str, Any]]:
        """The machine's role statements with the template's intrinsics resolved to what was deployed."""
        policy = machine_policy(self.model, key, deployment.function_arns, self.cloud.region, self.cloud.account_id)
        return self.model.machines[key].role_name, policy
