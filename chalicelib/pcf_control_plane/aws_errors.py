"""AWS errors the workflow may retry, given names its Retry clauses match.

A Lambda error's Step Functions name is its exception class name. botocore raises ``ClientError`` for
every refusal, retryable or not, so the steps translate the retryable ones (the client's own retries
having run out) into ``ThrottlingError`` or ``TransientAWSError``; anything else keeps its own name and
fails the particle at once.
"""

from __future__ import annotations

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from pcf_control_plane.errors import ThrottlingError, TransientAWSError

THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "RequestThrottled",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "EC2ThrottledException", "SlowDown", "PriorRequestNotComplete",
    "TransactionInProgressException", "RequestLimitExceededException",
})
TRANSIENT_CODES = frozenset({
    "InternalError", "InternalFailure", "InternalServerError", "ServiceUnavailable", "Unavailable",
    "RequestTimeout", "RequestTimeoutException", "IDPCommunicationError", "InsufficientInstanceCapacity",
})


def retryable_error(error: BaseException) -> ThrottlingError | TransientAWSError | None:
    """The named retryable error ``error`` (or what caused it) amounts to, or ``None``."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        named = _named(current)
        if named is not None:
            return named
        current = current.__cause__ or current.__context__
    return None


def _named(error: BaseException) -> ThrottlingError | TransientAWSError | None:
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in THROTTLING_CODES:
            return ThrottlingError(f"{code}: {error}")
        if code in TRANSIENT_CODES or status >= 500:
            return TransientAWSError(f"{code or status}: {error}")
    if isinstance(error, ConnectionError | HTTPClientError):
        return TransientAWSError(f"{type(error).__name__}: {error}")
    return None
