"""Lambda's asynchronous invocation as AWS runs it, for the events EventBridge delivers to a function.

moto records a function's ``EventInvokeConfig`` but never applies it: an asynchronous invocation that fails is
simply gone. AWS (Lambda Developer Guide, "Error handling and automatic retries" and "Capturing records of
asynchronous invocations") retries a failed invocation ``MaximumRetryAttempts`` times (2 when not configured),
then sends an invocation record to the on-failure destination, with the function's execution role, and keeps no
copy. So does :class:`AsyncInvoker`:

- each attempt runs the function's handler in-process (``lambda_dispatch``); retries follow at once (AWS waits
  about one, then two minutes: nothing here depends on that wait);
- once the retries are exhausted, an SQS destination receives the documented record (``version`` 1.0,
  ``requestContext`` with ``condition: RetriesExhausted`` and ``approximateInvokeCount``, ``requestPayload``,
  ``responseContext``, ``responsePayload``), sent through the SQS API under the function's role, so a role that
  may not ``sqs:SendMessage`` to the queue loses the event as it would on AWS (the refusal is raised);
- the attempts, the destination and whether the record was delivered are what the caller's delivery log shows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.utilities.arns import parse_arn

from pcf_local_cloud.iam_enforcement import acting_as

DEFAULT_RETRIES = 2
DESTINATION_VERSION = "$LATEST"


class AsyncInvocationFailed(Exception):
    """Every attempt failed; the message says how, and where the record went."""


@dataclass(frozen=True)
class Attempt:
    """One run of the handler: its error (``"Type: message"``), if any, and the payload it answered."""

    error: str | None
    answer: str


class AsyncInvoker:
    """Invokes functions asynchronously with AWS's retries and on-failure destination.

    ``wall_time`` gives the Unix time records are stamped with (the local cloud's clock). ``sqs_client``
    builds the SQS client that sends a record (a boto3 client bound to the local cloud); it is called inside the
    function's role.
    """

    def __init__(self, wall_time: Callable[[], float], sqs_client: Callable[[str], Any]) -> None:
        self._wall_time = wall_time
        self._sqs_client = sqs_client

    def invoke(self, function_arn: str, payload: Any) -> None:
        """Run the function on ``payload`` until it succeeds or its retries are spent; then send the record to the
        on-failure destination and raise :class:`AsyncInvocationFailed`."""
        function = _function(function_arn)
        config = function.event_invoke_config[0].config if function.event_invoke_config else {}
        attempts = 1 + int(config.get("MaximumRetryAttempts", DEFAULT_RETRIES))
        body = json.dumps(payload)
        last = Attempt(None, "")
        for _ in range(attempts):
            last = _attempt(function_arn, body)
            if last.error is None:
                return
        destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        where = "no on-failure destination: the event is lost"
        if destination:
            self._send_record(function, destination, payload, attempts, last)
            where = f"record sent to {destination}"
        raise AsyncInvocationFailed(f"{last.error} (after {attempts} attempts; {where})")

    def _send_record(self, function: Any, destination: str, payload: Any, attempts: int, last: Attempt) -> None:
        arn = parse_arn(destination)
        if arn.service != "sqs":
            raise AsyncInvocationFailed(f"on-failure destination {destination}: only SQS is emulated")
        record = {
            "version": "1.0",
            "timestamp": datetime.fromtimestamp(self._wall_time(), UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{function.function_arn}:{DESTINATION_VERSION}",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": payload,
            "responseContext": {"statusCode": 200, "executedVersion": DESTINATION_VERSION,
                                "functionError": "Unhandled"},
            "responsePayload": _json_or_text(last.answer),
        }
        queue_url = f"https://sqs.{arn.region}.amazonaws.com/{arn.account}/{arn.resource_id}"
        with acting_as(function.role):
            self._sqs_client(arn.region).send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))


def default_sqs_client(region: str) -> Any:
    """An SQS client of the local cloud (moto's default account, fake credentials) in ``region``."""
    from pcf_local_cloud.sessions import fake_session

    return fake_session(region).client("sqs")


def _function(function_arn: str) -> Any:
    from moto.awslambda.utils import get_backend

    arn = parse_arn(function_arn)
    return get_backend(arn.account, arn.region).get_function(function_arn)


def _attempt(function_arn: str, body: str) -> Attempt:
    from moto.awslambda.utils import get_backend

    arn = parse_arn(function_arn)
    headers: dict[str, str] = {}
    answer = get_backend(arn.account, arn.region).invoke(
        function_arn, None, body, {"x-amz-invocation-type": "Event"}, headers)
    text = answer.decode("utf-8") if isinstance(answer, bytes) else str(answer or "")
    if "x-amz-function-error" not in headers:
        return Attempt(None, text)
    from pcf_control_plane.outcome import lambda_error_text  # only on the failure path

    return Attempt(lambda_error_text(text), text)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
