"""Finding the deployed ``apply`` state machine on AWS (``--state-machine-arn``, ``$PCF_STATE_MACHINE_ARN``, the
stack's outputs), checked against moto's CloudFormation; then a whole ``pcf --target aws run`` against a
control plane deployed into a local cloud that stands for the account."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.endpoint import aws_control_plane, resolve_apply_machine
from pcf_cli.targets import Target
from pcf_control_plane import wiring
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.control_plane import deploy_control_plane
from tests.cli.cli_support import CliRunner
from tests.cli.test_cli_stepfunctions import instances, pair

ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:pcf-serverless-dev-apply"


def create_stack(cloud: LocalCloud, name: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    cloud.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def resolve(cloud: LocalCloud, option: str | None = None, environ: dict[str, str] | None = None,
            stack: str = "pcf-serverless-dev") -> Any:
    asked: list[str] = []

    def cloudformation() -> Any:
        asked.append(stack)
        return cloud.client("cloudformation")

    found = resolve_apply_machine(option=option, environ=environ or {}, stack=stack, cloudformation=cloudformation)
    return found, asked


def test_the_option_wins_then_the_environment_then_the_stack(cloud: LocalCloud) -> None:
    create_stack(cloud, "pcf-serverless-dev", {"ApplyStateMachineArn": ARN.replace("eu-west-1", "us-east-1"),
                                               "TableName": "pcf-serverless-dev-state"})
    other = ARN.replace("dev-apply", "other")

    by_option, asked_option = resolve(cloud, option=ARN, environ={"PCF_STATE_MACHINE_ARN": other})
    by_env, asked_env = resolve(cloud, environ={"PCF_STATE_MACHINE_ARN": other})
    by_stack, asked_stack = resolve(cloud)

    assert (by_option.arn, by_option.source) == (ARN, "--state-machine-arn")
    assert (by_env.arn, by_env.source) == (other, "$PCF_STATE_MACHINE_ARN")
    assert (by_stack.arn, by_stack.source) == (ARN.replace("eu-west-1", "us-east-1"), "stack pcf-serverless-dev")
    assert asked_option == asked_env == [], "CloudFormation is asked only when needed"
    assert asked_stack == ["pcf-serverless-dev"]


def test_a_stack_from_an_older_template_names_its_output_state_machine_arn(cloud: LocalCloud) -> None:
    create_stack(cloud, "old", {"StateMachineArn": ARN})

    found, _ = resolve(cloud, stack="old")

    assert found.arn == ARN


@pytest.mark.parametrize(
    ("setup", "kwargs", "field", "reason"),
    [
        ({}, {}, "--stack", "no CloudFormation stack 'pcf-serverless-dev' in this region: deploy it "
                            "(docs/deploying.md), or pass --state-machine-arn or set PCF_STATE_MACHINE_ARN"),
        ({"pcf-serverless-dev": {"TableName": "t"}}, {}, "--stack",
         "stack 'pcf-serverless-dev' has no output ApplyStateMachineArn: is it the PCF control plane? "
         "pass --state-machine-arn"),
        ({}, {"option": "pcf-serverless-dev-apply"}, "--state-machine-arn",
         "'pcf-serverless-dev-apply' is not a state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)"),
        ({}, {"environ": {"PCF_STATE_MACHINE_ARN": "arn:aws:lambda:us-east-1:123456789012:function:x"}},
         "PCF_STATE_MACHINE_ARN", "is not a state machine ARN"),
    ],
    ids=["no stack", "no output", "bad option", "bad environment"],
)
def test_nothing_usable_is_bad_input_naming_where_it_looked(
    cloud: LocalCloud, setup: dict[str, dict[str, str]], kwargs: dict[str, Any], field: str, reason: str
) -> None:
    for name, outputs in setup.items():
        create_stack(cloud, name, outputs)

    with pytest.raises(DefinitionError) as error:
        resolve(cloud, **kwargs)

    assert error.value.field == field
    assert reason in error.value.reason


def test_the_endpoint_talks_to_the_machines_region_at_the_aws_pace(cloud: LocalCloud) -> None:
    endpoint = aws_control_plane(cloud.client_factory, resolve(cloud, option=ARN)[0])

    assert endpoint.sfn.meta.region_name == "eu-west-1"
    assert (endpoint.default_wait_seconds, endpoint.max_child_reads) == (5, 8)
    assert endpoint.description == "state machine pcf-serverless-dev-apply (from --state-machine-arn)"


@pytest.fixture
def deployed(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The control plane deployed into ``cloud`` (as ``chalice deploy`` and the template would), its stack."""
    deployment = deploy_control_plane(cloud, environment={"POWERTOOLS_LOG_LEVEL": "ERROR"},
                                      setenv=monkeypatch.setenv)
    create_stack(cloud, "pcf-serverless-dev", {"ApplyStateMachineArn": deployment.state_machine_arns["apply"]})
    yield deployment
    wiring.reset()


def as_aws(cloud: LocalCloud) -> Target:
    return Target("aws", cloud.region, cloud.client_factory, cloud.clock.now, cloud.clock.sleep,
                  description="aws (a local cloud standing for it)")


def test_pcf_run_on_aws_starts_the_stacks_machine_and_follows_it(
    sfn_cli: CliRunner, cloud: LocalCloud, deployed: Any, ami_id: str
) -> None:
    sfn_cli.write("pcf.json", pair(ami_id))

    result = sfn_cli("--target", "aws", "run", "--wait-seconds", "0", target=as_aws(cloud))

    assert result.code == 0, result.err
    assert {name: state for name, (state, _) in instances(cloud).items()} == {"cli-a": "running", "cli-b": "running"}
    assert ("engine: stepfunctions, state machine pcf-serverless-dev-apply (from stack pcf-serverless-dev); "
            "wait 0s, max polls 120, events awaited 60s at most, concurrency 40") in result.err_lines
    assert re.search(r"ec2_instance:b\s+done: running as desired", result.err)


def test_pcf_run_on_aws_without_a_control_plane_is_bad_input(
    sfn_cli: CliRunner, cloud: LocalCloud, ami_id: str
) -> None:
    sfn_cli.write("pcf.json", pair(ami_id))

    result = sfn_cli("--target", "aws", "run", "--stack", "mine", target=as_aws(cloud))

    assert result.code == 2
    assert result.err_lines == ["pcf: error: --stack: no CloudFormation stack 'mine' in this region: deploy it "
                                "(docs/deploying.md), or pass --state-machine-arn or set PCF_STATE_MACHINE_ARN"]
    assert instances(cloud) == {}


def test_a_state_machine_that_does_not_exist_is_bad_input(
    sfn_cli: CliRunner, cloud: LocalCloud, ami_id: str
) -> None:
    sfn_cli.write("pcf.json", pair(ami_id))
    sfn_cli.environ["PCF_STATE_MACHINE_ARN"] = ARN.replace("eu-west-1", "us-east-1")

    result = sfn_cli("--target", "aws", "run", target=as_aws(cloud))

    assert result.code == 2
    assert result.err_lines[-1].startswith(f"pcf: error: --state-machine-arn: {ARN.replace('eu-west-1', 'us-east-1')}")
    assert instances(cloud) == {}
