"""The Step Functions → Step Functions service integration, made to speak as AWS does.

A ``arn:aws:states:::states:startExecution.sync:2`` Task names its parameters as the ASL does
(``StateMachineArn``, ``Input``, ``Name``) and receives ``ExecutionArn``, ``Output``, ``Status``...
moto's interpreter hands the parameters to boto3 unchanged (boto3 wants ``stateMachineArn``) and returns
boto3's camelCase answer, so a child execution never starts. The local cloud converts both ways at that
boundary, as AWS does; nothing else about the integration changes.
"""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)

from pcf_local_cloud.patchset import PatchSet

USER_JSON = frozenset({"Input", "Output"})
"""Response members holding the user's own JSON, whose keys are never renamed."""


def request_names(parameters: dict[str, Any]) -> None:
    """``{"StateMachineArn": ...}`` -> ``{"stateMachineArn": ...}``, in place."""
    for key in list(parameters):
        if key[:1].isupper():
            parameters[key[:1].lower() + key[1:]] = parameters.pop(key)


def response_names(response: dict[str, Any]) -> None:
    """``{"executionArn": ..., "inputDetails": {"included": true}}`` -> PascalCase, in place."""
    for key in list(response):
        value = response.pop(key)
        name = key[:1].upper() + key[1:]
        if isinstance(value, dict) and name not in USER_JSON:
            response_names(value)
        response[name] = value


class StepFunctionsIntegration:
    """Installs the conversions (see the module docstring) on a ``PatchSet``."""

    def install(self, patches: PatchSet) -> None:
        original_request = StateTaskServiceSfn._normalise_parameters
        original_response = StateTaskServiceSfn._normalise_response

        def _normalise_parameters(self: Any, parameters: dict, boto_service_name: str | None = None,
                                  service_action_name: str | None = None) -> None:
            original_request(self, parameters, boto_service_name, service_action_name)
            request_names(parameters)

        def _normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                                service_action_name: str | None = None) -> None:
            original_response(self, response, boto_service_name, service_action_name)
            if isinstance(response, dict):
                response_names(response)

        patches.replace(StateTaskServiceSfn, "_normalise_parameters", _normalise_parameters)
        patches.replace(StateTaskServiceSfn, "_normalise_response", _normalise_response)
