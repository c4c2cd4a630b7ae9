"""In-process Lambda dispatch: ``lambda.invoke`` runs the handler registered for the function, in this process."""

from __future__ import annotations

import base64
import decimal
import json
import threading
from typing import Any

import pytest
from moto.awslambda.models import LambdaFunction

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.deployment import EMPTY_ZIP
from pcf_local_cloud.lambda_dispatch import LambdaContext

STOCK_INVOKE = vars(LambdaFunction)["_invoke_lambda"]


class Boom(Exception):
    pass


def create_function(cloud: LocalCloud, name: str, **config: Any) -> str:
    iam = cloud.client("iam")
    try:
        role = iam.get_role(RoleName="r")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return cloud.client("lambda").create_function(
        FunctionName=name, Runtime="python3.11", Role=role, Handler="app.h", Code={"ZipFile": EMPTY_ZIP}, **config
    )["FunctionArn"]


def invoke(cloud: LocalCloud, name: str, payload: Any = None, **kwargs: Any) -> tuple[str | None, Any, dict]:
    args = {} if payload is None else {"Payload": json.dumps(payload)}
    response = cloud.client("lambda").invoke(FunctionName=name, **args, **kwargs)
    return response.get("FunctionError"), json.loads(response["Payload"].read()), response


def test_invoke_runs_the_registered_handler(instant_lc: LocalCloud) -> None:
    arn = create_function(instant_lc, "echo", MemorySize=256)
    seen: list[tuple[Any, LambdaContext]] = []

    def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
        seen.append((event, context))
        return {"echo": event, "by": context.function_name}

    instant_lc.register_handler("echo", handler)
    error, payload, response = invoke(instant_lc, "echo", {"a": [1, "é"]}, LogType="Tail")
    assert error is None
    assert payload == {"echo": {"a": [1, "é"]}, "by": "echo"}
    event, context = seen[0]
    assert event == {"a": [1, "é"]}
    assert context.invoked_function_arn == arn
    assert context.memory_limit_in_mb == 256
    assert context.log_group_name == "/aws/lambda/echo"
    log = base64.b64decode(response["LogResult"]).decode()
    assert log.startswith(f"START RequestId: {context.aws_request_id}")
    assert f"REPORT RequestId: {context.aws_request_id}" in log
    streams = instant_lc.client("logs").describe_log_streams(logGroupName="/aws/lambda/echo")["logStreams"]
    assert [s["logStreamName"] for s in streams] == [context.log_stream_name]


def test_an_empty_payload_is_an_empty_event(instant_lc: LocalCloud) -> None:
    create_function(instant_lc, "f")
    instant_lc.register_handler("f", lambda event, context: {"event": event})
    assert invoke(instant_lc, "f")[1] == {"event": {}}


def test_an_exception_is_a_function_error_named_by_its_class(instant_lc: LocalCloud) -> None:
    create_function(instant_lc, "boom")

    def explode(event: Any, context: Any) -> None:
        raise Boom(f"no {event['what']}")

    instant_lc.register_handler("boom", explode)
    error, payload, _ = invoke(instant_lc, "boom", {"what": "luck"})
    assert error is not None
    assert payload["errorType"] == "Boom"
    assert payload["errorMessage"] == "no luck"
    assert "in explode" in payload["stackTrace"][0]  # the handler's frames only, as the runtime reports them


def test_a_function_without_a_handler_fails_clearly(instant_lc: LocalCloud) -> None:
    create_function(instant_lc, "orphan")
    error, payload, _ = invoke(instant_lc, "orphan", {})
    assert error is not None
    assert payload["errorType"] == "Runtime.HandlerNotFound"
    assert "'orphan'" in payload["errorMessage"]
    instant_lc.register_handler("orphan", lambda event, context: "adopted")
    assert invoke(instant_lc, "orphan", {})[1] == "adopted"
    instant_lc.unregister_handler("orphan")
    assert invoke(instant_lc, "orphan", {})[1]["errorType"] == "Runtime.HandlerNotFound"
    with pytest.raises(TypeError):
        instant_lc.register_handler("orphan", "not callable")  # type: ignore[arg-type]


def test_results_are_encoded_as_the_python_runtime_does(instant_lc: LocalCloud) -> None:
    create_function(instant_lc, "f")
    results: dict[str, Any] = {
        "none": None,
        "decimals": {"n": decimal.Decimal("3"), "x": decimal.Decimal("2.5")},
        "object": object(),
    }
    instant_lc.register_handler("f", lambda event, context: results[event])
    assert invoke(instant_lc, "f", "none")[1] is None
    assert invoke(instant_lc, "f", "decimals")[1] == {"n": 3, "x": 2.5}
    error, payload, _ = invoke(instant_lc, "f", "object")
    assert error is not None
    assert payload["errorType"] == "Runtime.MarshalError"


def test_remaining_time_runs_on_the_clouds_clock(instant_lc: LocalCloud, vclock: VirtualClock) -> None:
    create_function(instant_lc, "slow", Timeout=10)

    def handler(event: Any, context: LambdaContext) -> list[int]:
        before = context.get_remaining_time_in_millis()
        vclock.advance(4)
        after = context.get_remaining_time_in_millis()
        vclock.advance(60)
        return [before, after, context.get_remaining_time_in_millis()]

    instant_lc.register_handler("slow", handler)
    assert invoke(instant_lc, "slow", {})[1] == [10000, 6000, 0]


def test_concurrent_invocations_each_get_their_own_call(instant_lc: LocalCloud) -> None:
    create_function(instant_lc, "f")
    instant_lc.register_handler("f", lambda event, context: [event, context.aws_request_id])
    client = instant_lc.client("lambda")
    results: list[Any] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        for call in range(5):
            response = client.invoke(FunctionName="f", Payload=json.dumps(worker * 10 + call))
            with lock:
                results.append(json.loads(response["Payload"].read()))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(event for event, _ in results) == sorted(w * 10 + c for w in range(8) for c in range(5))
    assert len({request_id for _, request_id in results}) == 40
    logs = instant_lc.client("logs")
    streams = logs.get_paginator("describe_log_streams").paginate(logGroupName="/aws/lambda/f")
    assert sum(len(page["logStreams"]) for page in streams) == 40


def test_handlers_and_the_patch_go_with_the_cloud(vclock: VirtualClock) -> None:
    with LocalCloud(clock=vclock) as cloud:
        assert "moto.awslambda.models.LambdaFunction._invoke_lambda" in cloud.patches.targets
        assert vars(LambdaFunction)["_invoke_lambda"] is not STOCK_INVOKE
        create_function(cloud, "f")
        cloud.register_handler("f", lambda event, context: 1)
    assert vars(LambdaFunction)["_invoke_lambda"] is STOCK_INVOKE
    with pytest.raises(RuntimeError):
        cloud.register_handler("f", lambda event, context: 1)
    with cloud:
        assert cloud.patches.lambdas.handlers == {}
