"""The error a Task gets when the Lambda API refuses to invoke the function its ``Resource`` names by ARN.

AWS names a Lambda service error of a Task ``Lambda.<exception>`` whether the Task's ``Resource`` is the
``arn:aws:states:::lambda:invoke`` integration or the function's ARN (Step Functions Developer Guide, "Handle
transient Lambda service exceptions", https://docs.aws.amazon.com/step-functions/latest/dg/sfn-best-practices.html,
and "Error names": ``Lambda.ServiceException``, ``Lambda.SdkClientException``; a throttle is
``Lambda.TooManyRequestsException``), so a ``Retry`` on that name retries it. moto names it so for the integration
and ``Exception`` for a function ARN: here both get ``Lambda.<code>``.
"""

from __future__ import annotations

from pcf_local_cloud.moto_private import lambda_task_errors_named
from pcf_local_cloud.patchset import PatchSet


def lambda_error_name(code: str) -> str:
    """``Lambda.<code>``: the name of a Lambda API error ``code`` in Step Functions."""
    return f"Lambda.{code}"


class LambdaTaskErrors:
    """Installs the naming of the module docstring."""

    def install(self, patches: PatchSet) -> None:
        lambda_task_errors_named(patches, lambda_error_name)
