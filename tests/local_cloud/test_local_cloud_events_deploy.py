"""``deploy_chalice_app`` creates the EventBridge rules of ``@app.on_cw_event`` and ``@app.schedule`` handlers,
named and wired as ``chalice deploy`` does, and events reach the app's handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.deployment import LocalDeployment, deploy_chalice_app
from tests.local_cloud.fixtures import events_app, flaky_app
from tests.local_cloud.fixtures.event_recorder import EPOCH, run_instance

PREFIX = "pcf-events-fixture-dev-"


@pytest.fixture
def deployed(clock: VirtualClock) -> Iterator[LocalDeployment]:
    events_app.reset()
    with LocalCloud(clock=clock, pending_seconds=5, epoch=EPOCH) as cloud:
        yield deploy_chalice_app(cloud, events_app.app)


def test_rules_are_named_and_wired_as_chalice_deploy_does(deployed: LocalDeployment) -> None:
    events = deployed.cloud.client("events")
    assert deployed.rule_names == {
        "on_instance_state": PREFIX + "on_instance_state-event",
        "every_five_minutes": PREFIX + "every_five_minutes-event",
        "noon": PREFIX + "noon-event",
    }
    on_state = events.describe_rule(Name=PREFIX + "on_instance_state-event")
    assert json.loads(on_state["EventPattern"]) == {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
    }
    assert on_state["Arn"] == deployed.rule_arns["on_instance_state"]
    assert events.describe_rule(Name=PREFIX + "every_five_minutes-event")["ScheduleExpression"] == "rate(5 minutes)"
    noon = events.describe_rule(Name=PREFIX + "noon-event")
    assert (noon["ScheduleExpression"], noon["Description"]) == ("cron(0 12 * * ? *)", "daily at 12:00 UTC")
    for function, rule_name in deployed.rule_names.items():
        [target] = events.list_targets_by_rule(Rule=rule_name)["Targets"]
        assert target == {"Id": "1", "Arn": deployed.function_arns[function]}
    policy = json.loads(deployed.cloud.client("lambda").get_policy(FunctionName=PREFIX + "noon")["Policy"])
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == deployed.rule_arns["noon"]
    assert "plain" not in deployed.rule_names


def test_an_ec2_state_change_reaches_the_apps_handler(deployed: LocalDeployment, clock: VirtualClock) -> None:
    instance_id = run_instance(deployed.cloud)
    clock.advance(5)
    deployed.cloud.settle_due()
    received = events_app.received["on_instance_state"]
    assert [(e["detail"]["instance-id"], e["detail"]["state"]) for e in received] == [
        (instance_id, "pending"),
        (instance_id, "running"),
    ]
    assert received[0]["detail-type"] == "EC2 Instance State-change Notification"
    assert all(delivery.ok for delivery in deployed.cloud.deliveries)


def test_the_apps_schedules_fire_on_the_clock(deployed: LocalDeployment, clock: VirtualClock) -> None:
    clock.advance(10 * 60)
    assert deployed.cloud.fire_schedules() == 2
    fired = events_app.received["every_five_minutes"]
    assert [e["time"] for e in fired] == ["2026-11-22T00:05:00Z", "2026-11-22T00:10:00Z"]
    assert fired[0]["resources"] == [deployed.rule_arns["every_five_minutes"]]
    assert events_app.received["noon"] == []
    clock.advance(12 * 3600)
    deployed.cloud.fire_schedules()
    assert [e["time"] for e in events_app.received["noon"]] == ["2026-11-22T12:00:00Z"]


def test_the_existing_fixture_apps_rules_are_created_too(clock: VirtualClock) -> None:
    with LocalCloud(clock=clock, epoch=EPOCH) as cloud:
        deployment = deploy_chalice_app(cloud, flaky_app.app)
        assert deployment.rule_names == {
            "on_ec2": "pcf-local-fixture-dev-on_ec2-event",
            "tick": "pcf-local-fixture-dev-tick-event",
        }
        run_instance(cloud)
        clock.advance(3600)
        assert cloud.fire_schedules() == 1
        outcomes = [(d.rule_arn.rsplit("/", 1)[1], d.ok) for d in cloud.deliveries]
        assert outcomes == [
            ("pcf-local-fixture-dev-on_ec2-event", True),  # pending
            ("pcf-local-fixture-dev-on_ec2-event", True),  # running
            ("pcf-local-fixture-dev-tick-event", True),
        ]
