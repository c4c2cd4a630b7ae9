"""What the stage needs to run unattended on AWS, beside its functions and state machines, in the merge template.

- **Failed events**: the functions EventBridge invokes asynchronously (``ASYNC_FUNCTIONS``: the event rule's and the
  schedule's) are retried twice by Lambda, then their event goes to the stage's failed-events SQS queue (an
  ``AWS::Lambda::EventInvokeConfig`` on-failure destination, sent with the function's own role), kept 14 days for
  replay (``docs/deploying.md``).
- **Logs**: every function's log group is created by Chalice with the stage's ``log_retention_in_days``; each state
  machine logs its errors (``ERROR``, no execution data) to its own ``/aws/vendedlogs/states/<name>`` group with
  that retention. X-Ray tracing of the state machines is off unless ``TracingEnabled`` is ``true``.
- **Alarms** (to ``AlarmTopicArn`` when given): a failed event waiting in the queue, a failed or timed-out ``apply``
  execution, an error of any function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deploy.lambda_policies import ASYNC_FUNCTIONS, chalice_config, failed_events_queue_name

FAILED_EVENTS_QUEUE = "FailedEventsQueue"
FAILED_EVENTS_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum
ALARM_TOPIC = "AlarmTopicArn"
TRACING = "TracingEnabled"
HAS_ALARM_TOPIC, TRACING_ON = "HasAlarmTopic", "TracingOn"
ALARM_PERIOD_SECONDS = 300
DEFAULT_LOG_RETENTION_DAYS = 30


@dataclass(frozen=True)
class AsyncInvoke:
    """How Lambda treats a failed asynchronous invocation of a function: retries, the oldest event it still runs,
    and the SQS queue (by name) the event then goes to."""

    max_retries: int
    max_age_s: int
    on_failure_queue: str


ASYNC_MAX_RETRIES = 2
ASYNC_MAX_AGE_SECONDS = 3600
"""An event older than an hour is stale: the scheduled reconciliation has looked at its resource since."""


def async_invoke(stage: str, function: str) -> AsyncInvoke | None:
    """The asynchronous-invocation settings of ``function`` in ``stage``; ``None`` for a function invoked only
    synchronously (by a state machine)."""
    if function not in ASYNC_FUNCTIONS:
        return None
    return AsyncInvoke(ASYNC_MAX_RETRIES, ASYNC_MAX_AGE_SECONDS, failed_events_queue_name(stage))


def log_retention_days(stage: str, config: Mapping[str, Any] | None = None) -> int:
    """The stage's ``log_retention_in_days`` (else the file's, else 30), as Chalice reads it for the functions."""
    config = config if config is not None else chalice_config()
    stage_config = config.get("stages", {}).get(stage, {})
    return int(stage_config.get("log_retention_in_days", config.get("log_retention_in_days",
                                                                    DEFAULT_LOG_RETENTION_DAYS)))


def parameters() -> dict[str, Any]:
    """The template's parameters: where alarms go, whether the state machines are traced."""
    return {
        ALARM_TOPIC: {"Type": "String", "Default": "",
                      "Description": "SNS topic ARN the alarms notify (empty: alarms without actions)"},
        TRACING: {"Type": "String", "Default": "false", "AllowedValues": ["true", "false"],
                  "Description": "X-Ray tracing of the state machines"},
    }


def conditions() -> dict[str, Any]:
    return {
        HAS_ALARM_TOPIC: {"Fn::Not": [{"Fn::Equals": [{"Ref": ALARM_TOPIC}, ""]}]},
        TRACING_ON: {"Fn::Equals": [{"Ref": TRACING}, "true"]},
    }


def failed_events_resources(stage: str, functions: Mapping[str, str]) -> dict[str, Any]:
    """The queue and an ``EventInvokeConfig`` per asynchronously invoked function (``functions``: Chalice's resource
    name -> function name)."""
    resources: dict[str, Any] = {FAILED_EVENTS_QUEUE: {
        "Type": "AWS::SQS::Queue",
        "Properties": {"QueueName": failed_events_queue_name(stage), "SqsManagedSseEnabled": True,
                       "MessageRetentionPeriod": FAILED_EVENTS_RETENTION_SECONDS},
    }}
    for resource, function in functions.items():
        settings = async_invoke(stage, function)
        if settings is None:
            continue
        resources[f"{resource}EventInvokeConfig"] = {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {
                "FunctionName": {"Ref": resource},
                "Qualifier": "$LATEST",
                "MaximumRetryAttempts": settings.max_retries,
                "MaximumEventAgeInSeconds": settings.max_age_s,
                "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [FAILED_EVENTS_QUEUE, "Arn"]}}},
            },
        }
    return resources


def machine_log_group(resource: str, machine_name: str, stage: str) -> tuple[str, dict[str, Any]]:
    """``(logical id, resource)`` of a state machine's log group."""
    return f"{resource}LogGroup", {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": f"/aws/vendedlogs/states/{machine_name}",
                       "RetentionInDays": log_retention_days(stage)},
    }


def machine_observability(resource: str) -> dict[str, Any]:
    """The state machine properties that log its errors to its group and trace it when asked."""
    return {
        "LoggingConfiguration": {
            "Level": "ERROR",
            "IncludeExecutionData": False,
            "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [f"{resource}LogGroup",
                                                                                          "Arn"]}}}],
        },
        "TracingConfiguration": {"Enabled": {"Fn::If": [TRACING_ON, True, False]}},
    }


def machine_observability_statements() -> list[Any]:
    """What a state machine's role needs to deliver its logs (CloudWatch Logs' log delivery, which has no
    resource-level permissions: ``*``) and, when tracing is on, its traces."""
    return [
        {"Sid": "LogDelivery", "Effect": "Allow", "Resource": "*",
         "Action": ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                    "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                    "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"]},
        {"Fn::If": [TRACING_ON, {"Sid": "Tracing", "Effect": "Allow", "Resource": "*",
                                 "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords",
                                            "xray:GetSamplingRules", "xray:GetSamplingTargets"]},
                    {"Ref": "AWS::NoValue"}]},
    ]


def _alarm(description: str, namespace: str, metric: str, dimension: tuple[str, Any], statistic: str) -> dict[str, Any]:
    actions = {"Fn::If": [HAS_ALARM_TOPIC, [{"Ref": ALARM_TOPIC}], {"Ref": "AWS::NoValue"}]}
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": [{"Name": dimension[0], "Value": dimension[1]}],
            "Statistic": statistic,
            "Period": ALARM_PERIOD_SECONDS,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": actions,
        },
    }


def alarms(functions: Mapping[str, str], apply_machine: str) -> dict[str, Any]:
    """The alarms: failed events waiting, ``apply`` executions failed or timed out, any function's errors."""
    queue = ("QueueName", {"Fn::GetAtt": [FAILED_EVENTS_QUEUE, "QueueName"]})
    machine = ("StateMachineArn", {"Ref": apply_machine})
    found = {
        "FailedEventsAlarm": _alarm("An event or schedule invocation failed after its retries: replay it from "
                                    "the failed-events queue (docs/deploying.md)", "AWS/SQS",
                                    "ApproximateNumberOfMessagesVisible", queue, "Maximum"),
        "ApplyExecutionsFailedAlarm": _alarm("An apply or heal execution failed", "AWS/States", "ExecutionsFailed",
                                             machine, "Sum"),
        "ApplyExecutionsTimedOutAlarm": _alarm("An apply or heal execution timed out", "AWS/States",
                                               "ExecutionsTimedOut", machine, "Sum"),
    }
    for resource, function in functions.items():
        found[f"{resource}ErrorsAlarm"] = _alarm(f"The {function} function failed", "AWS/Lambda", "Errors",
                                                 ("FunctionName", {"Ref": resource}), "Sum")
    return found
