"""The Step Functions → Step Functions service integration, made to speak as AWS does.

A ``arn:aws:states:::states:startExecution.sync:2`` Task names its parameters as the ASL does
(``StateMachineArn``, ``Input``, ``Name``) and receives ``ExecutionArn``, ``Output``, ``Status``...
moto's interpreter hands the parameters to boto3 unchanged (boto3 wants ``stateMachineArn``) and returns
boto3's camelCase answer, so a child execution never starts. The local cloud converts both ways at that
boundary, as AWS does; nothing else about the integration changes:

- the request, on the Step Functions clients moto's interpreter makes, with botocore's public
  ``provide-client-params`` event (before botocore builds the request);
- the answer after moto's own ``.sync`` polling has read it (that polling reads the camelCase answer), in
  ``moto_private.sfn_integration_answers``.
"""

from __future__ import annotations

from typing import Any

from pcf_local_cloud.moto_private import sfn_integration_answers
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
        """Convert the integration's answers (the requests: :meth:`observe_client`)."""
        sfn_integration_answers(patches, response_names)

    @staticmethod
    def observe_client(client: Any, _state_credentials: Any = None) -> None:
        """On a Step Functions client of moto's interpreter, rename the ASL's parameters to boto3's."""
        if client.meta.service_model.service_name == "stepfunctions":
            client.meta.events.register("provide-client-params.sfn", _request_names)


def _request_names(params: dict[str, Any], **_: Any) -> None:
    request_names(params)
