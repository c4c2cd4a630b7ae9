"""The stage model the local cloud deploys from (``deploy.model``): sizes as Chalice resolves them, the
asynchronous functions' failure path, and the template intrinsics it resolves."""

from __future__ import annotations

from typing import Any

import pytest

from deploy.lambda_policies import ASYNC_FUNCTIONS, function_name
from deploy.model import function_sizes, resolve_intrinsics, stage_model

ATTRIBUTES = {"Fn": {"Arn": "arn:aws:lambda:us-east-1:123456789012:function:f", "Ref": "f"},
              "Machine": {"Ref": "arn:m", "Name": "m"}}
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}


@pytest.mark.parametrize(("config", "expected"), [
    ({}, (60, 128)),
    ({"lambda_timeout": 30}, (30, 128)),
    ({"lambda_memory_size": 512, "stages": {"dev": {"lambda_memory_size": 1024}}}, (60, 1024)),
    ({"stages": {"dev": {"lambda_timeout": 90, "lambda_functions": {"plan": {"lambda_timeout": 300}}}}}, (300, 128)),
    ({"stages": {"dev": {"lambda_functions": {"other": {"lambda_timeout": 300}}}}}, (60, 128)),
])
def test_sizes_resolve_function_then_stage_then_file_then_chalices_defaults(
    config: dict[str, Any], expected: tuple[int, int]
) -> None:
    assert function_sizes("dev", "plan", config) == expected


def test_the_model_names_functions_as_the_template_and_routes_async_failures_to_the_queue() -> None:
    model = stage_model("dev")
    for name, function in model.functions.items():
        assert function.function_name == function_name("dev", name)
        assert (function.async_invoke is not None) is (name in ASYNC_FUNCTIONS)
    settings = model.functions["on_ec2_event"].async_invoke
    assert settings is not None and settings.on_failure_queue == model.failed_events_queue
    assert settings.max_retries == 2


def test_intrinsics_resolve_refs_attributes_subs_and_joins() -> None:
    value = {"A": {"Ref": "Fn"}, "B": {"Fn::GetAtt": ["Fn", "Arn"]}, "C": {"Fn::Join": ["/", ["x", {"Ref": "Fn"}]]},
             "D": {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${Machine.Name}"},
             "E": {"Fn::Sub": ["${Who}-${AWS::AccountId}", {"Who": {"Ref": "Fn"}}]}}
    assert resolve_intrinsics(value, ATTRIBUTES, PSEUDO) == {
        "A": "f", "B": ATTRIBUTES["Fn"]["Arn"], "C": "x/f", "D": "arn:aws:states:us-east-1:m", "E": "f-123456789012"}


@pytest.mark.parametrize(("on", "expected"), [(True, [{"Sid": "a"}, {"Sid": "b"}]), (False, [{"Sid": "a"}])])
def test_a_condition_chooses_its_branch_and_no_value_leaves_nothing(on: bool, expected: list[Any]) -> None:
    statements = [{"Sid": "a"}, {"Fn::If": ["Tracing", {"Sid": "b"}, {"Ref": "AWS::NoValue"}]}]
    assert resolve_intrinsics(statements, ATTRIBUTES, PSEUDO, {"Tracing": on}) == expected
    assert resolve_intrinsics({"k": {"Ref": "AWS::NoValue"}, "j": 1}, ATTRIBUTES, PSEUDO) == {"j": 1}


def test_an_unknown_resource_is_named_not_guessed() -> None:
    with pytest.raises(KeyError, match="Nobody"):
        resolve_intrinsics({"Ref": "Nobody"}, ATTRIBUTES, PSEUDO)
