"""Every EC2 and EBS event AWS documents, in its documented shape (``fixtures/aws_events``), read for what it
says: a volume is gone only when AWS says it was deleted or never created; a failed attach, a modification or an
initialization leaves it as it was, records nothing and heals nothing. The local cloud sends only those events."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pcf_control_plane import wiring
from pcf_control_plane.aws_events import RefusedEvent, accepted_events, parse_event
from pcf_local_cloud import LocalCloud
from tests.support.deployments import ACCOUNT, deployed

FIXTURES = Path(__file__).parent / "fixtures" / "aws_events"
VOLUME_MEANING = {
    "ebs_createVolume_available": "available",
    "ebs_createVolume_failed_key_disabled": "deleted",
    "ebs_createVolume_failed_key_pending_import": "deleted",
    "ebs_deleteVolume_deleted": "deleted",
    "ebs_attachVolume_failed": None,
    "ebs_reattachVolume_failed": None,
    "ebs_modifyVolume_optimizing": None,
    "ebs_initializeVolume_succeeded": None,
}
"""Each documented volume notification -> the volume status it leaves (``None``: unchanged)."""


def sample(name: str, **changes: Any) -> dict[str, Any]:
    event = json.loads((FIXTURES / f"{name}.json").read_text())
    event.update(changes)
    return event


def test_every_documented_sample_has_a_meaning() -> None:
    names = {path.stem for path in FIXTURES.glob("*.json")}
    assert {name for name in names if name.startswith("ebs_")} == set(VOLUME_MEANING)
    assert {name for name in names if name.startswith("ec2_")} == {
        f"ec2_instance_{state}" for state in ("pending", "running", "stopping", "stopped", "shutting-down",
                                              "terminated")}


@pytest.mark.parametrize("name", sorted(VOLUME_MEANING))
def test_a_documented_volume_notification_says_what_aws_means(name: str) -> None:
    event = parse_event(sample(name), account=ACCOUNT, accepted=accepted_events())
    assert event.resource_state() == ("vol-0123456789abcdef0", VOLUME_MEANING[name])


@pytest.mark.parametrize("state", ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"])
def test_a_documented_instance_state_change_is_read(state: str) -> None:
    event = parse_event(sample(f"ec2_instance_{state}"), account=ACCOUNT, accepted=accepted_events())
    assert event.resource_state() == ("i-0123456789abcdef0", state)


@pytest.mark.parametrize(("event", "result"), [("attachVolume", "attached"), ("detachVolume", "detached"),
                                                ("deleteVolume", "failed"), ("createVolume", "creating")])
def test_a_notification_aws_does_not_send_is_refused(event: str, result: str) -> None:
    raw = sample("ebs_createVolume_available")
    raw["detail"] = {**raw["detail"], "event": event, "result": result}
    with pytest.raises(RefusedEvent, match="not one AWS documents"):
        parse_event(raw, account=ACCOUNT, accepted=accepted_events()).resource_state()


# -- through the deployed on_ec2_event ------------------------------------------------------------------------
@pytest.fixture
def control_plane(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from deployed(cloud, monkeypatch.setenv, "documented", rules_off=True)


def deliver(cloud: LocalCloud, deployment: Any, event: dict[str, Any]) -> dict[str, Any]:
    response = cloud.client("lambda").invoke(FunctionName=deployment.function_names["on_ec2_event"],
                                             Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return payload


def for_volume(name: str, volume_id: str, event_id: str) -> dict[str, Any]:
    event = sample(name, id=event_id, time="2099-01-01T00:00:00Z")
    event["resources"] = [arn.replace("vol-0123456789abcdef0", volume_id) for arn in event["resources"]]
    return copy.deepcopy(event)


def test_only_a_deletion_or_a_failed_creation_changes_a_managed_volume(control_plane: Any, cloud: LocalCloud) -> None:
    disk = {"pcf_name": "disk", "flavor": "ebs_volume",
            "aws_resource": {"AvailabilityZone": "us-east-1a", "Size": 8, "VolumeType": "gp3",
                             "custom_config": {"volume_name": "documented-disk"}}}
    result = control_plane.run_execution("apply", {"definition": disk, "desired_state": "running",
                                                   "wait_seconds": 0, "max_polls": 30}, name="disk-up")
    assert result.status == "SUCCEEDED", result.output
    store = wiring.control_plane().store
    observation = store.get_observation("ebs_volume:disk")
    assert observation is not None and observation.resource_id
    volume_id = observation.resource_id
    history_before = len(store.list_history("ebs_volume:disk"))

    for index, name in enumerate(n for n, meaning in VOLUME_MEANING.items() if meaning is None):
        answer = deliver(cloud, control_plane, for_volume(name, volume_id, f"unchanged-{index}"))
        assert answer["status"] == "ignored" and "keeps its state" in answer["reason"], (name, answer)
    assert store.get_observation("ebs_volume:disk").state == observation.state
    assert len(store.list_history("ebs_volume:disk")) == history_before, "nothing recorded, no heal"

    cloud.client("ec2").delete_volume(VolumeId=volume_id)  # behind the framework's back
    answer = deliver(cloud, control_plane, for_volume("ebs_deleteVolume_deleted", volume_id, "deleted"))
    assert (answer["status"], answer["state"]) == ("recorded", "terminated")
    assert answer["heal"]["status"] == "started"
