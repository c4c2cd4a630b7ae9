"""An apply converges while 30 % of its AWS calls are throttled: EC2, DynamoDB, Step Functions and Lambda, the
calls the handlers make and those Step Functions makes for its states (Lambda invokes, ``startExecution``, the
``aws-sdk`` DynamoDB update). Every call is retried a bounded number of times (``state_machines/README.md``,
"Retries"), and no retry launches a second instance.

Shape: an EBS volume and 29 instances that depend on it (two levels, one page each), no pending phase, on the
virtual clock. Without a pending phase a launched instance is running when ``converge`` reads it back, so no
particle waits for its event (``Await``): the test does not depend on the EC2 events or on ``await_seconds``
(nobody advances the virtual clock here). A throttled ``SendTaskSuccess`` is retried by the client, then by the
event's asynchronous invocation (``resume``, ``async_invocations``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from pcf_local_cloud.deployment import execution_tree_history
from tests.support.definitions import anchored_workers
from tests.support.deployments import deployed

WORKERS = 29
RATE = 0.3
CONCURRENCY = 10
"""Pages of 10: four page executions started, so Step Functions has calls to throttle."""
SERVICES = ("ec2", "dynamodb", "stepfunctions", "lambda")
THROTTLES = frozenset({"Lambda.TooManyRequestsException", "DynamoDb.ThrottlingException",
                       "StepFunctions.ThrottlingException", "ThrottlingError"})
FAILURE_STATES = frozenset({"RecordFailure", "PageFailed"})


@pytest.fixture
def deployment(cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from deployed(cloud, monkeypatch.setenv, "throttled")


def definition(ami_id: str) -> dict[str, Any]:
    return anchored_workers("thr", ami_id, WORKERS)


def failed_errors(tree: Mapping[str, Sequence[Mapping[str, Any]]]) -> Counter[str]:
    """Error names of every failed attempt (a Task's, a Lambda's) in every execution of the tree."""
    return Counter(details["error"] for events in tree.values() for event in events
                   for key, details in event.items()
                   if key.endswith("FailedEventDetails") and key != "executionFailedEventDetails")


def entered(tree: Mapping[str, Sequence[Mapping[str, Any]]]) -> set[str]:
    return {event["stateEnteredEventDetails"]["name"] for events in tree.values() for event in events
            if "stateEnteredEventDetails" in event}


def names(tags: Sequence[Mapping[str, str]]) -> list[str]:
    return [tag["Value"] for tag in tags if tag["Key"] == "PCFName"]


@pytest.mark.parametrize("seed", [2, 3])  # seeds whose Step Functions draws throttle a page start
def test_an_apply_converges_with_30_percent_of_every_services_calls_throttled(
    deployment: Any, cloud: Any, ami_id: str, seed: int
) -> None:
    faults = cloud.inject_throttling(RATE, services=SERVICES, seed=seed)
    with faults.unthrottled():  # the test's own polling is not the apply's
        result = deployment.run_execution("apply", {"definition": definition(ami_id), "desired_state": "running",
                                                    "wait_seconds": 1, "max_polls": 30, "concurrency": CONCURRENCY},
                                          name="thr", timeout_s=120)
    faults.off()

    assert result.status == "SUCCEEDED", result.output
    assert result.output["states"] == {"running": WORKERS + 1}
    injected = {service: faults.injected[service] for service in SERVICES}
    assert all(injected.values()), f"every service was throttled: {injected} of {dict(faults.requests)}"
    ec2 = cloud.client("ec2")
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert Counter(n for i in instances for n in names(i.get("Tags", []))) == {
        f"thr-worker-{n:02d}": 1 for n in range(WORKERS)}, "exactly one instance per name"
    assert {i["State"]["Name"] for i in instances} == {"running"}
    volumes = ec2.describe_volumes()["Volumes"]
    assert [n for v in volumes for n in names(v.get("Tags", []))] == ["anchor"]
    tree = execution_tree_history(cloud.client("stepfunctions"), deployment.execution_arn("apply", "thr"))
    retried = failed_errors(tree)
    assert retried and set(retried) <= THROTTLES, f"only throttles failed an attempt, each retried: {retried}"
    assert not entered(tree) & FAILURE_STATES, "no Task gave up: no particle or page failure was recorded"
