"""Lambda's payload limits and timeouts in the local cloud (``lambda_limits``): refused or failed as Lambda would."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.deployment import ADMIN_POLICY, EMPTY_ZIP, _ensure_role
from pcf_local_cloud.lambda_limits import ASYNC_PAYLOAD_BYTES, SYNC_PAYLOAD_BYTES, projected_seconds


def burn(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def function(cloud: LocalCloud, name: str, handler: Any, *, memory: int = 128, timeout: int = 30) -> None:
    role = _ensure_role(cloud.client("iam"), "limits-role", ADMIN_POLICY)
    cloud.register_handler(name, handler)
    cloud.client("lambda").create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.h",
                                           Code={"ZipFile": EMPTY_ZIP}, MemorySize=memory, Timeout=timeout)


def invoke(cloud: LocalCloud, name: str, payload: Any, **kwargs: Any) -> dict[str, Any]:
    return dict(cloud.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **kwargs))


def test_the_projection_scales_cpu_to_the_functions_share_of_a_vcpu() -> None:
    assert projected_seconds(1.0, 1769) == 1.0
    assert projected_seconds(1.0, 3538) == 1.0, "more than one vCPU does not speed up one thread"
    assert projected_seconds(1.0, 128) == pytest.approx(13.82, abs=0.01)


@pytest.mark.parametrize(("kind", "limit"), [("RequestResponse", SYNC_PAYLOAD_BYTES), ("Event", ASYNC_PAYLOAD_BYTES)])
def test_a_request_over_its_limit_is_refused_and_runs_nothing(cloud: LocalCloud, kind: str, limit: int) -> None:
    calls: list[Any] = []
    function(cloud, "echo", lambda event, context: calls.append(len(event["x"])))
    invoke(cloud, "echo", {"x": "a" * (limit - 100)}, InvocationType=kind)
    with pytest.raises(ClientError) as refused:
        invoke(cloud, "echo", {"x": "a" * limit}, InvocationType=kind)
    assert refused.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert str(limit) in refused.value.response["Error"]["Message"]
    assert calls == [limit - 100]


def test_a_response_over_six_mb_is_a_function_error(cloud: LocalCloud) -> None:
    function(cloud, "big", lambda event, context: "b" * (SYNC_PAYLOAD_BYTES + 1))
    response = invoke(cloud, "big", {})
    assert "FunctionError" in response
    assert json.loads(response["Payload"].read())["errorType"] == "Function.ResponseSizeTooLarge"


def test_a_function_past_its_projected_timeout_fails_with_sandbox_timedout(cloud: LocalCloud) -> None:
    function(cloud, "slow-small", lambda event, context: burn(0.2), memory=128, timeout=1)  # ~2.8 s projected
    function(cloud, "slow-large", lambda event, context: burn(0.2), memory=1769, timeout=1)  # 0.2 s projected

    small = invoke(cloud, "slow-small", {})
    error = json.loads(small["Payload"].read())
    assert "FunctionError" in small
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]
    large = invoke(cloud, "slow-large", {})
    assert "FunctionError" not in large

    usage = cloud.patches.lambdas.limits.usage.functions
    assert usage["slow-small"].timed_out == 1 and usage["slow-small"].peak_projected_s > 1
    assert usage["slow-large"].timed_out == 0 and usage["slow-large"].peak_cpu_s >= 0.2


def test_timeouts_can_be_measured_without_being_enforced(cloud: LocalCloud) -> None:
    function(cloud, "slow", lambda event, context: burn(0.2), memory=128, timeout=1)
    with cloud.patches.lambdas.limits.unenforced():
        assert "FunctionError" not in invoke(cloud, "slow", {})
    assert cloud.patches.lambdas.limits.usage.functions["slow"].peak_projected_s > 1
    assert "FunctionError" in invoke(cloud, "slow", {})
