"""Which AWS errors the workflow retries, under which name."""

from __future__ import annotations

from botocore.exceptions import ClientError, EndpointConnectionError

from pcf.core.pcf_exceptions import TransitionError
from pcf_control_plane.aws_errors import retryable_error
from pcf_control_plane.errors import ThrottlingError, TransientAWSError


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "RunInstances")


def test_throttling_codes_of_ec2_and_dynamodb_are_throttling() -> None:
    for code in ("RequestLimitExceeded", "ThrottlingException", "ProvisionedThroughputExceededException"):
        assert isinstance(retryable_error(client_error(code)), ThrottlingError), code


def test_server_errors_and_lost_connections_are_transient() -> None:
    assert isinstance(retryable_error(client_error("InternalError", 500)), TransientAWSError)
    assert isinstance(retryable_error(client_error("Whatever", 503)), TransientAWSError)
    assert isinstance(retryable_error(EndpointConnectionError(endpoint_url="https://ec2")), TransientAWSError)


def test_a_refusal_is_not_retried() -> None:
    assert retryable_error(client_error("InvalidParameterValue")) is None
    assert retryable_error(ValueError("bad")) is None


def test_the_cause_chain_is_followed() -> None:
    try:
        try:
            raise client_error("RequestLimitExceeded", 503)
        except ClientError as error:
            raise TransitionError("ec2_instance:a", "run_instances failed") from error
    except TransitionError as wrapped:
        named = retryable_error(wrapped)
    assert isinstance(named, ThrottlingError) and "RequestLimitExceeded" in str(named)
