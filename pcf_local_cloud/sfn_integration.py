"""The Step Functions → Step Functions service integration, made to speak as AWS does.

A ``arn:aws:states:::states:startExecution.sync:2`` Task names its parameters as the ASL does
(``StateMachineArn``, ``Input``, ``Name``) and receives ``ExecutionArn``, ``Output``, ``Status``...
moto's interpreter hands the parameters to boto3 unchanged (boto3 wants ``stateMachineArn``) and returns
boto3's camelCase answer, so a child execution never starts. The local cloud converts both ways at that
boundary, as AWS does; nothing else about the integration changes:

- the request, on the Step Functions clients moto's interpreter makes, with botocore's public
  ``provide-client-params`` event (before botocore builds the request);
- the answer after moto's own ``.sync`` polling has read it (that polling reads the camelCase answer), in
  ``moto_private.sfn_integration_answers``;
- the error of a refused call: ``StepFunctions.`` and the API's error code, with ``Exception`` appended only to a
  code without it (:func:`error_name`; ``moto_private.sfn_task_errors_named``). moto always appends it, so a
  throttled ``StartExecution`` (code ``ThrottlingException``, API Reference "Common errors",
  https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html) failed as
  ``StepFunctions.ThrottlingExceptionException``, a name no ``Retry`` written for AWS matches; here it is
  ``StepFunctions.ThrottlingException``. No AWS page names that error: the name follows how Step Functions names
  an integration's errors, service prefix and the SDK's exception name (concepts-error-handling.html; a refused
  ``startExecution.sync:2`` is reported as ``StepFunctions.ExecutionAlreadyExistsException`` by AWS), as moto's own
  ``aws-sdk`` integrations do. Codes without the suffix keep moto's name (``StepFunctions.<code>Exception``).
"""

from __future__ import annotations

from typing import Any

from pcf_local_cloud.moto_private import sfn_integration_answers, sfn_task_errors_named
from pcf_local_cloud.patchset import PatchSet

SERVICE_PREFIX = "StepFunctions."
EXCEPTION = "Exception"
USER_JSON = frozenset({"Input", "Output"})
"""Response members holding the user's own JSON, whose keys are never renamed."""


def request_names(parameters: dict[str, Any]) -> None:
    """``{"StateMachineArn": ...}`` -> ``{"stateMachineArn": ...}``, in place."""
    for key in list(parameters):
        if key[:1].isupper():
            parameters[key[:1].lower() + key[1:]] = parameters.pop(key)


def error_name(code: str) -> str:
    """The error a ``states:startExecution`` task fails with when the API refuses it with ``code``."""
    return SERVICE_PREFIX + code + ("" if code.endswith(EXCEPTION) else EXCEPTION)


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
        """Convert the integration's answers and name its errors (the requests: :meth:`observe_client`)."""
        sfn_integration_answers(patches, response_names)
        sfn_task_errors_named(patches, error_name)

    @staticmethod
    def observe_client(client: Any, _state_credentials: Any = None) -> None:
        """On a Step Functions client of moto's interpreter, rename the ASL's parameters to boto3's."""
        if client.meta.service_model.service_name == "stepfunctions":
            client.meta.events.register("provide-client-params.sfn", _request_names)


def _request_names(params: dict[str, Any], **_: Any) -> None:
    request_names(params)
