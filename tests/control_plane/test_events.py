"""EC2 events through the deployed on_ec2_event Lambda: recorded newest-wins, drift healed once, the rest refused
or ignored. Events are invoked as EventBridge delivers them (the Lambda's payload is the event)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks.events_bench import ServiceCalls
from pcf_control_plane import wiring
from pcf_local_cloud.control_plane import deploy_control_plane
from pcf_local_cloud.deployment import execution_history
from pcf_local_cloud.ec2_events import ec2_arn
from pcf_local_cloud.event_bus import aws_event, envelope
from tests.support.executions import finished
from tests.support.logs import emf_documents, metric_names

ACCOUNT = "123456789012"
FUNCTION = "pcf-serverless-dev-on_ec2_event"


@pytest.fixture
def deployment(cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield deploy_control_plane(cloud, environment={"PCF_TABLE_NAME": "pcf-events-test", "PCF_DEPLOYMENT": "events",
                                                   "PCF_HEAL_WAIT_SECONDS": "0", "PCF_HEAL_MAX_POLLS": "30"},
                               setenv=monkeypatch.setenv)
    wiring.reset()


def instance(name: str, ami_id: str, **extra: Any) -> dict[str, Any]:
    return {"pcf_name": name, "flavor": "ec2_instance", **extra,
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                             "custom_config": {"instance_name": f"ev-{name}"}}}


def apply(deployment: Any, definition: dict[str, Any], name: str) -> Any:
    result = deployment.run_execution("apply", {"definition": definition, "desired_state": "running",
                                                "wait_seconds": 0, "max_polls": 30}, name=name)
    assert result.status == "SUCCEEDED", result.output
    return result


def ec2_event(instance_id: str, state: str, at: float, *, source: str = "aws.ec2",
              account: str = ACCOUNT) -> dict[str, Any]:
    """An instance state change as EventBridge delivers it, built as the local cloud builds its own."""
    return aws_event(envelope(account=account, region="us-east-1", source=source,
                              detail_type="EC2 Instance State-change Notification",
                              detail={"instance-id": instance_id, "state": state},
                              resources=[ec2_arn("us-east-1", account, f"instance/{instance_id}")], time=at))


def deliver(cloud: Any, event: dict[str, Any]) -> dict[str, Any]:
    response = cloud.client("lambda").invoke(FunctionName=FUNCTION, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return payload


def instance_id_of(pcf_id: str) -> str:
    observation = wiring.control_plane().store.get_observation(pcf_id)
    assert observation is not None and observation.resource_id
    return observation.resource_id


def later(seconds: float) -> float:
    return time.time() + seconds


def heal_executions(cloud: Any, deployment: Any) -> list[dict[str, Any]]:
    executions = cloud.client("stepfunctions").list_executions(
        stateMachineArn=deployment.state_machine_arns["apply"])["executions"]
    return [e for e in executions if e["name"].startswith("heal-")]


def test_an_event_reaches_the_store_within_the_call(deployment: Any, cloud: Any, ami_id: str) -> None:
    apply(deployment, instance("one", ami_id, heal=False), "one-up")
    event = ec2_event(instance_id_of("ec2_instance:one"), "stopped", later(60))
    result = deliver(cloud, event)
    assert (result["status"], result["pcf_id"], result["state"]) == ("recorded", "ec2_instance:one", "stopped")
    assert result["heal"]["status"] == "disabled"
    store = wiring.control_plane().store
    assert store.get_observation("ec2_instance:one").state == "stopped"
    [item] = [i for i in store.list_history("ec2_instance:one")
              if i.cause == f"event:{event['id']}" and i.kind == "observation"]
    assert item.detail["resource_state"] == "stopped"
    assert heal_executions(cloud, deployment) == []


def test_duplicate_and_older_events_never_regress_the_state(deployment: Any, cloud: Any, ami_id: str) -> None:
    apply(deployment, instance("two", ami_id, heal=False), "two-up")
    instance_id = instance_id_of("ec2_instance:two")
    newest = ec2_event(instance_id, "stopped", later(120))
    assert deliver(cloud, newest)["status"] == "recorded"
    assert deliver(cloud, newest)["status"] == "stale"  # delivered twice
    assert deliver(cloud, ec2_event(instance_id, "running", later(60)))["status"] == "stale"  # older, late
    store = wiring.control_plane().store
    assert store.get_observation("ec2_instance:two").state == "stopped"
    items = [(i.kind, i.cause) for i in store.list_history("ec2_instance:two") if i.cause.startswith("event:")]
    assert sorted(items) == [("heal", f"event:{newest['id']}"), ("observation", f"event:{newest['id']}")]


def test_one_drift_starts_exactly_one_healing_execution_which_heals(
    deployment: Any, cloud: Any, ami_id: str, ec2: Any
) -> None:
    apply(deployment, instance("three", ami_id), "three-up")
    instance_id = instance_id_of("ec2_instance:three")
    ec2.stop_instances(InstanceIds=[instance_id])  # behind the framework's back
    event = ec2_event(instance_id, "stopped", later(60))
    first = deliver(cloud, event)
    again = deliver(cloud, event)
    assert first["heal"]["status"] == "started"
    assert again["status"] == "stale"
    heals = heal_executions(cloud, deployment)
    assert [e["name"] for e in heals] == [f"heal-{event['id']}"]
    assert finished(cloud.client("stepfunctions"), heals[0]["executionArn"]) == "SUCCEEDED"
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    assert reservation["Instances"][0]["State"]["Name"] == "running"
    history = wiring.control_plane().store.list_history("ec2_instance:three", newest_first=False)
    heal = next(i for i in history if i.kind == "heal")
    assert heal.detail["status"] == "started" and heal.cause == f"event:{event['id']}"
    assert heal.detail["execution"] == heals[0]["name"]
    assert [i.detail["action"] for i in history if i.kind == "transition" and i.cause == heals[0]["executionArn"]] == [
        "start"], "the healing execution started the instance"


def test_no_heal_while_another_execution_holds_the_lease(deployment: Any, cloud: Any, ami_id: str) -> None:
    counter = ServiceCalls(cloud.client_factory)
    apply(deployment, instance("four", ami_id), "four-up")
    store = wiring.control_plane().store
    assert store.acquire_lease("ec2_instance:four", "arn:aws:states:us-east-1:1:execution:apply:busy", 600)
    event = ec2_event(instance_id_of("ec2_instance:four"), "stopped", later(60))
    counter.take()
    result = deliver(cloud, event)
    assert function_calls(counter) == {"dynamodb": 3}, "the index query, the heal refused by the lease, the write"
    assert result["status"] == "recorded"
    assert (result["heal"]["status"], "busy" in result["heal"]["reason"]) == ("leased", True)
    assert heal_executions(cloud, deployment) == []
    observed = store.get_observation("ec2_instance:four")
    assert observed is not None and observed.state == "stopped"


def function_calls(counter: ServiceCalls) -> dict[str, int]:
    """The AWS calls of the function since the last take (the test's own are left out)."""
    calls = counter.take()
    for own in ("lambda", "ec2"):
        calls.pop(own, None)
    return dict(calls)


def test_an_event_costs_two_aws_calls_and_three_with_the_heal_it_starts(
    deployment: Any, cloud: Any, ami_id: str
) -> None:
    counter = ServiceCalls(cloud.client_factory)
    definition = {"pcf_name": "costs", "flavor": "quasiparticle", "particles": [
        instance("kept", ami_id, heal=False), instance("healed", ami_id)]}
    apply(deployment, definition, "costs-up")
    kept, healed = instance_id_of("ec2_instance:kept"), instance_id_of("ec2_instance:healed")
    counter.take()

    assert deliver(cloud, ec2_event(kept, "stopped", later(60)))["heal"]["status"] == "disabled"
    assert function_calls(counter) == {"dynamodb": 2}, "the index query and one transaction"
    assert deliver(cloud, ec2_event(healed, "stopped", later(60)))["heal"]["status"] == "started"
    assert function_calls(counter) == {"dynamodb": 2, "stepfunctions": 1}, "and StartExecution"


def test_a_healed_master_is_followed_by_its_workers(deployment: Any, cloud: Any, ami_id: str, ec2: Any) -> None:
    definition = {"pcf_name": "crew", "flavor": "quasiparticle", "particles": [
        instance("boss", ami_id), instance("hand", ami_id, multiplier=2, parents=["ec2_instance:boss"])]}
    apply(deployment, definition, "crew-up")
    boss, hand = instance_id_of("ec2_instance:boss"), instance_id_of("ec2_instance:hand-1")
    ec2.stop_instances(InstanceIds=[boss, hand])
    result = deliver(cloud, ec2_event(boss, "stopped", later(60)))
    assert result["heal"]["status"] == "started"
    sfn = cloud.client("stepfunctions")
    assert finished(sfn, result["heal"]["execution"]) == "SUCCEEDED"
    outputs = [json.loads(e["lambdaFunctionSucceededEventDetails"]["output"])
               for e in execution_history(sfn, result["heal"]["execution"]) if e["type"] == "LambdaFunctionSucceeded"]
    [plan] = [output for output in outputs if "unstored" in output]
    assert [(level["phase"], level["particles"]) for level in plan["levels"]] == [("start", 1), ("start", 2)]
    store, run = wiring.control_plane().store, result["heal"]["execution"]
    assert [list(store.get_page(run, "start", level, 0).ids) for level in (0, 1)] == [
        ["ec2_instance:boss"], ["ec2_instance:hand-0", "ec2_instance:hand-1"]], "the master's level first"
    states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances()["Reservations"]
              for i in r["Instances"]}
    assert (states[boss], states[hand]) == ("running", "running"), "the stopped worker is healed after its master"


def test_an_unmanaged_instances_events_are_ignored(deployment: Any, cloud: Any, ami_id: str, ec2: Any) -> None:
    stranger = ec2.run_instances(ImageId=ami_id, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    result = deliver(cloud, ec2_event(stranger, "stopped", later(1)))
    assert result["status"] == "ignored" and stranger in result["reason"]
    assert wiring.control_plane().store.find_by_resource_id(stranger) is None


@pytest.mark.parametrize(("source", "account", "why"), [
    ("evil.ec2", ACCOUNT, "source"), ("aws.ec2", "999999999999", "account")])
def test_a_forged_event_is_refused_and_changes_nothing(
    deployment: Any, cloud: Any, ami_id: str, source: str, account: str, why: str
) -> None:
    apply(deployment, instance("five", ami_id), "five-up")
    before = wiring.control_plane().store.get_observation("ec2_instance:five")
    result = deliver(cloud, ec2_event(instance_id_of("ec2_instance:five"), "stopped", later(60), source=source,
                                      account=account))
    assert result["status"] == "refused" and why in result["reason"]
    assert wiring.control_plane().store.get_observation("ec2_instance:five") == before


def test_a_malformed_event_is_refused_naming_the_field(deployment: Any, cloud: Any) -> None:
    event = ec2_event("i-0123456789abcdef0", "stopped", later(1))
    del event["detail"]["instance-id"]
    result = deliver(cloud, event)
    assert result["status"] == "refused" and "instance-id" in result["reason"]


def test_a_transition_ending_within_its_second_is_recorded_in_order(deployment: Any, cloud: Any, ami_id: str) -> None:
    apply(deployment, instance("quick", ami_id, heal=False), "quick-up")
    instance_id = instance_id_of("ec2_instance:quick")
    second = later(60)
    stopping = ec2_event(instance_id, "stopping", second)
    stopped = ec2_event(instance_id, "stopped", second)
    assert deliver(cloud, stopping)["status"] == "recorded"
    assert deliver(cloud, stopped)["status"] == "recorded"
    assert deliver(cloud, stopped)["status"] == "stale", "a redelivery is still a duplicate"
    assert deliver(cloud, ec2_event(instance_id, "stopping", second))["status"] == "stale"
    assert wiring.control_plane().store.get_observation("ec2_instance:quick").state == "stopped"


def test_events_publish_emf_metrics_unless_metrics_are_off(
    deployment: Any, cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    capsys.readouterr()
    assert deliver(cloud, ec2_event("i-0123456789abcdef0", "stopped", later(60), source="aws.fake"))[
        "status"] == "refused"
    assert deliver(cloud, ec2_event("i-0123456789abcdef0", "stopped", later(61)))["status"] == "ignored"
    assert {"EventsRefused", "EventsIgnored"} <= metric_names(emf_documents(capsys.readouterr().out))

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "1")
    deliver(cloud, ec2_event("i-0123456789abcdef0", "stopped", later(62)))
    assert emf_documents(capsys.readouterr().out) == []
