"""The DynamoDB errors the local cloud raises inside moto, in DynamoDB's JSON error shape (HTTP 400).

Each is one of moto's own ``JsonRESTError`` subclasses, so moto (in-process or as a server) answers it as it
answers its own errors and botocore raises the matching ``client.exceptions`` class.
"""

from __future__ import annotations

from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException, MockValidationException

BACKFILLING_INDEX = "Cannot read from backfilling global secondary index"
"""AWS's message for a Query or Scan of an index still being backfilled (as DynamoDB answers it; the store's
``dynamodb_io`` recognises the same words)."""


def idempotent_parameter_mismatch() -> DynamodbException:
    """Same ``ClientRequestToken`` within its window, other request parameters (TransactWriteItems API
    reference: ``IdempotentParameterMismatchException``)."""
    return DynamodbException(
        ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException",
        "DynamoDB rejected the request because you retried a request with a different payload but with an "
        "idempotent token that was already used.",
    )


def transaction_in_progress() -> DynamodbException:
    """A request with this ``ClientRequestToken`` is still being processed (``TransactionInProgressException``)."""
    return DynamodbException(ERROR_TYPE_PREFIX + "TransactionInProgressException",
                             "Transaction from previous request is still in progress")


def backfilling_index() -> MockValidationException:
    """A read of a global secondary index that ``UpdateTable`` created and is still backfilling."""
    return MockValidationException(BACKFILLING_INDEX)


def missing_index(index_name: str) -> MockValidationException:
    """A read naming an index the table does not have (moto answers ``ResourceNotFoundException``)."""
    return MockValidationException(f"The table does not have the specified index: {index_name}")


def online_index_limit() -> DynamodbException:
    """More than one index created or deleted by one ``UpdateTable``, or while another is being created."""
    return DynamodbException(
        ERROR_TYPE_PREFIX + "LimitExceededException",
        "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table",
    )
