"""``--engine direct`` is refused where the stage's control plane may be deployed, including where that cannot be
checked (the table's ``DescribeTable`` refused), and allowed where it surely is not."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.control_plane_guard import refuse_beside_control_plane
from pcf_cli.targets import Target


class DynamoDB:
    """A DynamoDB client whose ``describe_table`` raises ``error`` (or answers when ``None``)."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error
        self.tables: list[str] = []

    def describe_table(self, TableName: str) -> dict[str, Any]:
        self.tables.append(TableName)
        if self.error is not None:
            raise self.error
        return {"Table": {"TableName": TableName}}


class Factory:
    def __init__(self, dynamodb: DynamoDB) -> None:
        self.dynamodb = dynamodb

    def client(self, service: str) -> DynamoDB:
        assert service == "dynamodb"
        return self.dynamodb


def aws(error: BaseException | None) -> tuple[Target, DynamoDB]:
    dynamodb = DynamoDB(error)
    target = Target("aws", "us-east-1", Factory(dynamodb), now=lambda: 0.0, sleep=lambda _: None)  # type: ignore[arg-type]
    return target, dynamodb


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "DescribeTable")


def test_a_deployed_table_refuses_the_direct_engine() -> None:
    target, dynamodb = aws(None)
    with pytest.raises(DefinitionError) as refused:
        refuse_beside_control_plane(target, "dev")
    assert dynamodb.tables == ["pcf-serverless-dev-state"]
    assert "stage 'dev'" in str(refused.value) and "--engine stepfunctions" in str(refused.value)


def test_an_unchecked_table_refuses_the_direct_engine_and_says_why() -> None:
    target, _ = aws(client_error("AccessDeniedException"))
    with pytest.raises(DefinitionError) as refused:
        refuse_beside_control_plane(target, "dev")
    message = str(refused.value)
    assert "could not be checked" in message and "AccessDeniedException" in message
    assert "dynamodb:DescribeTable" in message


@pytest.mark.parametrize("error", [client_error("ResourceNotFoundException"), NoCredentialsError()])
def test_no_table_or_no_credentials_allows_the_direct_engine(error: BaseException) -> None:
    target, dynamodb = aws(error)
    assert refuse_beside_control_plane(target, "dev") is None
    assert dynamodb.tables == ["pcf-serverless-dev-state"]


def test_the_in_process_local_cloud_is_never_checked() -> None:
    target, dynamodb = aws(None)
    target.ephemeral = True
    assert refuse_beside_control_plane(target, "dev") is None
    assert dynamodb.tables == []
