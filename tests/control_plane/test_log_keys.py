"""Correlated log lines and quiet metrics from the app's Powertools decorators, run by the local cloud's Lambda
dispatch: each invocation's keys are its own, in its own thread, and the caller's are back after a handler runs
inside another (the local cloud delivers an EC2 event inside the call that caused it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

import app as chalice_app
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.deployment import EMPTY_ZIP
from tests.support.logs import captured_log_lines, emf_documents

logger = chalice_app.logger


def deploy(cloud: LocalCloud, name: str, handler: Callable[[Any, Any], Any]) -> None:
    """A function sized so that a first invocation (building the Tracer, importing the X-Ray SDK) fits its timeout."""
    iam = cloud.client("iam")
    role = iam.create_role(RoleName=f"role-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    iam.put_role_policy(RoleName=f"role-{name}", PolicyName="invoke", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                                                 "Resource": "*"}]}))
    cloud.client("lambda").create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.h",
                                           Code={"ZipFile": EMPTY_ZIP}, Timeout=30, MemorySize=1769)
    cloud.register_handler(name, handler)


def invoke(cloud: LocalCloud, name: str, payload: dict[str, Any]) -> Any:
    response = cloud.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())


def test_invocations_side_by_side_in_threads_keep_their_own_keys(cloud: LocalCloud) -> None:
    both_set = threading.Barrier(2, timeout=10)

    @chalice_app.observed()
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.set_correlation_id(f"run-{event['name']}")
        logger.append_keys(pcf_id=f"ec2_instance:{event['name']}")
        both_set.wait()  # each has set its keys before either logs
        logger.info(event["name"])
        return {"request_id": context.aws_request_id}

    deploy(cloud, "side-by-side", handler)
    answers: dict[str, str] = {}

    def call(name: str) -> None:
        answers[name] = invoke(cloud, "side-by-side", {"name": name})["request_id"]

    with captured_log_lines() as lines:
        threads = [threading.Thread(target=call, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted((line["message"], line["correlation_id"], line["pcf_id"], line["function_request_id"])
                  for line in lines) == [("a", "run-a", "ec2_instance:a", answers["a"]),
                                         ("b", "run-b", "ec2_instance:b", answers["b"])]


def test_a_nested_invocation_gives_the_callers_keys_back(cloud: LocalCloud) -> None:
    @chalice_app.observed()
    def inner(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.set_correlation_id("event-7")
        logger.info("inside")
        return {}

    @chalice_app.observed()
    def outer(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.set_correlation_id("apply-run-1")
        logger.append_keys(pcf_id="ec2_instance:master")
        logger.info("before")
        invoke(cloud, "inner", {})
        logger.info("after")
        return {}

    deploy(cloud, "inner", inner)
    deploy(cloud, "outer", outer)
    with captured_log_lines() as lines:
        invoke(cloud, "outer", {})
        logger.info("outside")

    seen = {line["message"]: (line.get("correlation_id"), line.get("pcf_id"), line.get("function_name"))
            for line in lines}
    assert seen == {"before": ("apply-run-1", "ec2_instance:master", "outer"),
                    "inside": ("event-7", None, "inner"),
                    "after": ("apply-run-1", "ec2_instance:master", "outer"),
                    "outside": (None, None, None)}


def test_a_step_logs_its_execution_and_particle_and_the_next_invocation_starts_clean(cloud: LocalCloud) -> None:
    deploy(cloud, "pcf-validate", chalice_app.app.handler_map["validate"])
    execution = "arn:aws:states:us-east-1:123456789012:execution:apply:run-9"

    with captured_log_lines() as lines:
        invoke(cloud, "pcf-validate", {"definition": {"pcf_name": "x", "flavor": "nope"}, "execution": execution,
                                       "pcf_id": "ec2_instance:x"})
        invoke(cloud, "pcf-validate", {"definition": {"pcf_name": "y", "flavor": "nope"}})

    first, second = [line for line in lines if line["message"] == "validated"]
    assert (first["correlation_id"], first["function_name"]) == ("run-9", "pcf-validate")
    assert "correlation_id" not in second and second["function_request_id"] != first["function_request_id"]
    assert second.get("pcf_id") is None, "no key of an earlier invocation is left"


def test_the_apps_formatter_is_its_own_again_once_the_cloud_stops() -> None:
    with LocalCloud() as cloud:
        deploy(cloud, "any", chalice_app.observed()(lambda event, context: {}))
        invoke(cloud, "any", {})
        assert type(logger.registered_formatter) is not LambdaPowertoolsFormatter
    assert type(logger.registered_formatter) is LambdaPowertoolsFormatter


def test_disabled_metrics_stay_quiet_however_many_invocations_add_them(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "1")

    @chalice_app.observed()
    def counted(event: dict[str, Any], context: Any) -> dict[str, Any]:
        chalice_app.metrics.add_metric(name="Counted", unit="Count", value=1)
        return {}

    deploy(cloud, "counted", counted)
    capsys.readouterr()
    for _ in range(120):  # Powertools prints a metric set that reaches 100 values, disabled or not
        invoke(cloud, "counted", {})

    assert emf_documents(capsys.readouterr().out) == []


def test_enabled_metrics_are_one_document_per_invocation(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)

    @chalice_app.observed()
    def counted(event: dict[str, Any], context: Any) -> dict[str, Any]:
        chalice_app.metrics.add_metric(name="Counted", unit="Count", value=event["n"])
        return {}

    deploy(cloud, "counted", counted)
    capsys.readouterr()
    invoke(cloud, "counted", {"n": 2})
    invoke(cloud, "counted", {"n": 3})

    documents = emf_documents(capsys.readouterr().out)
    assert [document["Counted"] for document in documents] == [[2.0], [3.0]]
    assert {document["service"] for document in documents} == {chalice_app.SERVICE}
