"""Malformed, forged and unknown events are refused with a reason, counted and logged, never raised: parsed
into models (the envelope, then a detail typed by its detail-type) before anything is read or written."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pcf.particle.aws.ec2.events import InstanceStateEvent, VolumeEvent
from pcf_control_plane import wiring
from pcf_control_plane.aws_events import RefusedEvent, accepted_events, parse_event
from pcf_local_cloud.control_plane import deploy_control_plane
from pcf_local_cloud.ec2_events import ec2_arn
from pcf_local_cloud.event_bus import aws_event, envelope
from tests.support.logs import captured_log_lines, emf_documents

ACCOUNT = "123456789012"
INSTANCE_ID = "i-0123456789abcdef0"
VOLUME_ID = "vol-0123456789abcdef0"

Change = Callable[[dict[str, Any]], Any]


def instance_event(instance_id: str = INSTANCE_ID, at: float = 1_800_000_000.0) -> dict[str, Any]:
    return aws_event(envelope(account=ACCOUNT, region="us-east-1", source="aws.ec2",
                              detail_type="EC2 Instance State-change Notification",
                              detail={"instance-id": instance_id, "state": "stopped"},
                              resources=[ec2_arn("us-east-1", ACCOUNT, f"instance/{instance_id}")], time=at))


def volume_event() -> dict[str, Any]:
    return aws_event(envelope(account=ACCOUNT, region="us-east-1", source="aws.ec2",
                              detail_type="EBS Volume Notification",
                              detail={"event": "createVolume", "result": "available", "cause": "", "request-id": ""},
                              resources=[ec2_arn("us-east-1", ACCOUNT, f"volume/{VOLUME_ID}")], time=1_800_000_000.0))


def without(key: str) -> Change:
    return lambda event: event.pop(key)


def with_(key: str, value: Any) -> Change:
    return lambda event: event.__setitem__(key, value)


def detail_without(key: str) -> Change:
    return lambda event: event["detail"].pop(key)


def detail_with(key: str, value: Any) -> Change:
    return lambda event: event["detail"].__setitem__(key, value)


ENVELOPE = ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]
INSTANCE_CASES: dict[str, tuple[Change, str]] = {
    **{f"no {key}": (without(key), f"malformed event: {key}: Field required") for key in ENVELOPE},
    "version a number": (with_("version", 0), "malformed event: version: Input should be a valid string"),
    "id a number": (with_("id", 7), "malformed event: id: Input should be a valid string"),
    "source a list": (with_("source", ["aws.ec2"]), "malformed event: source: Input should be a valid string"),
    "account a number": (with_("account", 123456789012), "malformed event: account: Input should be a valid string"),
    "account not 12 digits": (with_("account", "ours"), "malformed event: account: String should match pattern"),
    "time in seconds": (with_("time", 1_800_000_000), "malformed event: time: Value error, must be ISO 8601 text"),
    "time not a time": (with_("time", "yesterday"), "malformed event: time: Value error, 'yesterday' is not an ISO"),
    "time without a zone": (with_("time", "2027-01-15T08:00:00"), "time: Value error, '2027-01-15T08:00:00' has no"),
    "region empty": (with_("region", ""), "malformed event: region: String should have at least 1 character"),
    "resources a string": (with_("resources", "arn:aws:ec2"), "malformed event: resources: Input should be a valid "
                                                              "list"),
    "detail a string": (with_("detail", "stopped"), "malformed event: detail: Input should be a valid dictionary"),
    "detail-type unknown": (with_("detail-type", "EC2 Spot Instance Interruption Warning"),
                            "detail-type 'EC2 Spot Instance Interruption Warning' is not accepted from aws.ec2"),
    "source forged": (with_("source", "evil.ec2"), "source 'evil.ec2' is not one of ['aws.ec2']"),
    "account another": (with_("account", "999999999999"), "account 999999999999 is not this deployment's account"),
    "no instance-id": (detail_without("instance-id"), "malformed detail: detail.instance-id: Field required"),
    "no state": (detail_without("state"), "malformed detail: detail.state: Field required"),
    "instance-id a number": (detail_with("instance-id", 12), "detail.instance-id: Input should be a valid string"),
    "instance-id not an instance": (detail_with("instance-id", "vol-1"), "detail.instance-id: String should match"),
    "state unknown": (detail_with("state", "exploded"), "malformed detail: detail.state: Input should be 'pending'"),
}
VOLUME_CASES: dict[str, tuple[Change, str]] = {
    "volume: no event": (detail_without("event"), "malformed detail: detail.event: Field required"),
    "volume: no result": (detail_without("result"), "malformed detail: detail.result: Field required"),
    "volume: result a number": (detail_with("result", 1), "detail.result: Input should be a valid string"),
    "volume: result unknown": (
        detail_with("result", "melted"),
        "EBS notification 'createVolume' with result 'melted' is not one AWS documents",
    ),
    "volume: no volume named": (with_("resources", []), "an EBS volume notification names one volume in resources"),
}


def changed(base: dict[str, Any], change: Change) -> dict[str, Any]:
    event = copy.deepcopy(base)
    change(event)
    return event


def refusal(raw: Any) -> str:
    with pytest.raises(RefusedEvent) as refused:
        event = parse_event(raw, account=ACCOUNT, accepted=accepted_events())
        event.resource_state()
    return str(refused.value)


@pytest.mark.parametrize("case", INSTANCE_CASES)
def test_a_bad_instance_event_is_refused_naming_what_is_wrong(case: str) -> None:
    change, reason = INSTANCE_CASES[case]
    assert reason in refusal(changed(instance_event(), change))


@pytest.mark.parametrize("case", VOLUME_CASES)
def test_a_bad_volume_event_is_refused_naming_what_is_wrong(case: str) -> None:
    change, reason = VOLUME_CASES[case]
    assert reason in refusal(changed(volume_event(), change))


@pytest.mark.parametrize("raw", [[], "an event", None, 42], ids=["list", "text", "null", "number"])
def test_a_payload_that_is_not_an_object_is_refused(raw: Any) -> None:
    assert "malformed event: a JSON object is expected" in refusal(raw)


def test_well_formed_events_are_parsed_with_a_typed_detail() -> None:
    instance = parse_event(instance_event(), account=ACCOUNT, accepted=accepted_events())
    volume = parse_event(volume_event(), account=ACCOUNT, accepted=accepted_events())
    assert isinstance(instance, InstanceStateEvent) and instance.resource_state() == (INSTANCE_ID, "stopped")
    assert isinstance(volume, VolumeEvent) and volume.resource_state() == (VOLUME_ID, "available")
    assert instance.time.timestamp() == 1_800_000_000.0


@pytest.fixture
def deployment(cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield deploy_control_plane(cloud, environment={"PCF_TABLE_NAME": "pcf-parsing-test", "PCF_DEPLOYMENT": "parsing"},
                               setenv=monkeypatch.setenv)
    wiring.reset()


def test_the_lambda_refuses_counts_and_logs_every_bad_event_and_writes_nothing(
    deployment: Any, cloud: Any, ami_id: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = {"pcf_name": "kept", "flavor": "ec2_instance", "heal": False,
                  "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                                   "custom_config": {"instance_name": "parse-kept"}}}
    result = deployment.run_execution("apply", {"definition": definition, "desired_state": "running",
                                                "wait_seconds": 0, "max_polls": 30}, name="kept-up")
    assert result.status == "SUCCEEDED", result.output
    store = wiring.control_plane().store
    instance_id = store.get_observation("ec2_instance:kept").resource_id
    cloud.client("ec2").stop_instances(InstanceIds=[instance_id])  # a well-formed event would be recorded
    before = (store.get_observation("ec2_instance:kept"), store.list_history("ec2_instance:kept", limit=500))
    base = instance_event(instance_id, at=time.time() + 60)
    bad = [changed(base, change) for change, _ in INSTANCE_CASES.values()] + [[], "an event"]
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    capsys.readouterr()

    with captured_log_lines() as lines:
        answers = []
        for event in bad:
            response = cloud.client("lambda").invoke(FunctionName="pcf-serverless-dev-on_ec2_event",
                                                     Payload=json.dumps(event).encode())
            answers.append((response.get("FunctionError"), json.loads(response["Payload"].read())))

    assert [error for error, _ in answers] == [None] * len(bad), "never an exception"
    assert [answer["status"] for _, answer in answers] == ["refused"] * len(bad)
    expected = [reason for _, reason in INSTANCE_CASES.values()] + ["a JSON object is expected"] * 2
    assert [reason in answer["reason"] for (_, answer), reason in zip(answers, expected, strict=True)] == [True] * len(
        bad)
    refused = [line for line in lines if line.get("status") == "refused"]
    assert len(refused) == len(bad) and {line["level"] for line in refused} == {"WARNING"}
    counted = [doc for doc in emf_documents(capsys.readouterr().out) if "EventsRefused" in doc]
    assert sum(doc["EventsRefused"][0] if isinstance(doc["EventsRefused"], list) else doc["EventsRefused"]
               for doc in counted) == len(bad)
    assert (store.get_observation("ec2_instance:kept"), store.list_history("ec2_instance:kept", limit=500)) == before
    assert deliver_ok(cloud, base)["status"] == "recorded", "the same event, well formed, is recorded"


def deliver_ok(cloud: Any, event: dict[str, Any]) -> dict[str, Any]:
    response = cloud.client("lambda").invoke(FunctionName="pcf-serverless-dev-on_ec2_event",
                                             Payload=json.dumps(event).encode())
    assert "FunctionError" not in response
    return json.loads(response["Payload"].read())
