"""Every error name a Retry or Catch of ``state_machines/`` may match, listed once, each with where it comes from.

A Retry on a name nobody emits never fires: the transient failure it was meant to absorb fails the state instead.
So a name is here only when Step Functions itself defines it, when the service integration documents it, or when
a Lambda handler of this app raises an exception class of that name (Step Functions reports a handler's error by
its exception's class name). ``tests/deploy/test_error_names.py`` checks every ``ErrorEquals`` of every state
machine against this list, and the app's own names against its exception classes.
"""

from __future__ import annotations

STATES_ERRORS: dict[str, str] = {
    "States.ALL": "Step Functions: the wildcard (it cannot catch States.DataLimitExceeded or States.Runtime)",
    "States.TaskFailed": "Step Functions: a Task failed",
    "States.Timeout": "Step Functions: a state or the execution ran past its TimeoutSeconds",
    "States.HeartbeatTimeout": "Step Functions: a Task sent no heartbeat (a callback task: no answer) within "
                               "its HeartbeatSeconds",
}
"""Step Functions' own names (Developer Guide, "Error handling in Step Functions", error names)."""

LAMBDA_INTEGRATION_ERRORS: dict[str, str] = {
    name: "Step Functions best practices, 'Handle transient Lambda service exceptions'"
    for name in ("Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                 "Lambda.TooManyRequestsException")
}
"""What the Lambda ``Invoke`` integration reports when Lambda, not the function, failed."""

STEP_FUNCTIONS_INTEGRATION_ERRORS: dict[str, str] = {
    "StepFunctions.ExecutionLimitExceeded": (
        "Developer Guide, 'Start workflow executions from a task state': retry StartExecution on it"),
    "StepFunctions.ThrottlingException": (
        "API Reference, 'Common errors': ThrottlingException (HTTP 400), StartExecution refused for its rate"),
}
"""What the ``states:startExecution`` integration reports: ``StepFunctions.`` and the API's error code (the
StartExecution API's codes carry no ``Exception`` suffix)."""

DYNAMODB_SDK_ERRORS: dict[str, str] = {
    f"DynamoDb.{code}{'' if code.endswith('Exception') else 'Exception'}": f"UpdateItem's {code}" for code in (
        "ConditionalCheckFailedException", "ThrottlingException", "ProvisionedThroughputExceededException",
        "RequestLimitExceeded", "InternalServerError", "TransactionConflictException")
}
"""What the ``aws-sdk:dynamodb:updateItem`` integration reports: ``DynamoDb.`` and the API's error code, with
``Exception`` appended to a code without it (Developer Guide, "AWS SDK service integrations": the service name and
the error name in PascalCase, always with the ``Exception`` suffix)."""

APP_ERRORS: tuple[str, ...] = ("ThrottlingError", "TransientAWSError", "LeaseHeldError")
"""Exception classes of ``pcf_control_plane.errors`` that the handlers raise for the workflow to match."""


def known_error_names() -> dict[str, str]:
    """Every name a Retry or Catch may use -> where it comes from."""
    return {**STATES_ERRORS, **LAMBDA_INTEGRATION_ERRORS, **STEP_FUNCTIONS_INTEGRATION_ERRORS, **DYNAMODB_SDK_ERRORS,
            **{name: "pcf_control_plane.errors" for name in APP_ERRORS}}
