"""The ``validate`` Lambda through Chalice's test client: the handler, the step and the one ``pcf``."""

from __future__ import annotations

import sys

from chalice.test import Client

import app as chalice_app


def invoke(payload: dict) -> dict:
    with Client(chalice_app.app) as client:
        return client.lambda_.invoke("validate", payload).payload


def test_a_valid_definition_returns_its_levels(ami_id: str) -> None:
    definition = {
        "pcf_name": "c", "flavor": "quasiparticle", "desired_state": "running",
        "particles": [
            {"pcf_name": "m", "flavor": "ec2_instance",
             "aws_resource": {"custom_config": {"instance_name": "m"}, "ImageId": ami_id, "InstanceType": "t3.micro"}},
            {"pcf_name": "w", "flavor": "ec2_instance", "parents": ["ec2_instance:m"],
             "aws_resource": {"custom_config": {"instance_name": "w"}, "ImageId": ami_id, "InstanceType": "t3.micro"}},
        ],
    }
    result = invoke({"definition": definition})
    assert result == {"valid": True, "pcf_id": "quasiparticle:c", "particles": 2,
                      "levels": [["ec2_instance:m"], ["ec2_instance:w"]]}


def test_an_invalid_definition_names_the_field(ami_id: str) -> None:
    definition = {"pcf_name": "x", "flavor": "ec2_instance", "aws_resource": {"ImageId": ami_id}}
    result = invoke({"definition": definition})
    assert result["valid"] is False
    assert result["field"] == "aws_resource.custom_config.instance_name"
    assert result["error_type"] == "InvalidUniqueKeysException"


def test_pcf_is_one_module_in_the_lambda_and_in_tests() -> None:
    import pcf

    assert sys.modules["pcf"] is pcf
    assert not any(name.startswith("chalicelib.pcf") for name in sys.modules)
