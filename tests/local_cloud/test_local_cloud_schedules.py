"""Scheduled EventBridge rules fire on the local cloud's clock: when due, on demand, and from the ticker."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.schedule_expressions import (
    Cron,
    InvalidScheduleError,
    UnsupportedScheduleError,
    parse_schedule,
)
from tests.local_cloud.fixtures.event_recorder import (
    EC2_STATE_CHANGE,
    EPOCH,
    Recorder,
    function_arn,
    recording_function,
    rule_to,
)

MINUTE = 60.0


@pytest.fixture
def lc(clock: VirtualClock) -> Iterator[LocalCloud]:
    with LocalCloud(clock=clock, epoch=EPOCH) as cloud:
        yield cloud


@pytest.fixture
def ticks(lc: LocalCloud) -> Recorder:
    """A function fed by the rule ``every-5`` (``rate(5 minutes)``), created at the clock's start."""
    recorder = recording_function(lc, "tick")
    rule_to(lc, "every-5", function_arn(lc, "tick"), schedule="rate(5 minutes)")
    return recorder


def wall(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_a_rate_fires_once_per_period(lc: LocalCloud, ticks: Recorder, clock: VirtualClock) -> None:
    clock.advance(5 * MINUTE - 1)
    assert lc.fire_schedules() == 0
    clock.advance(1)
    assert lc.fire_schedules() == 1
    assert lc.fire_schedules() == 0  # not twice for the same time
    clock.advance(5 * MINUTE)
    assert lc.fire_schedules() == 1
    assert [e["time"] for e in ticks.events] == ["2026-11-22T00:05:00Z", "2026-11-22T00:10:00Z"]


def test_missed_times_all_fire_in_order(lc: LocalCloud, ticks: Recorder, clock: VirtualClock) -> None:
    clock.advance(10 * MINUTE)
    assert lc.fire_schedules() == 2
    assert [e["time"] for e in ticks.events] == ["2026-11-22T00:05:00Z", "2026-11-22T00:10:00Z"]


def test_the_scheduled_event_has_awss_shape(lc: LocalCloud, ticks: Recorder, clock: VirtualClock) -> None:
    clock.advance(5 * MINUTE)
    lc.fire_schedules()
    [event] = ticks.events
    rule_arn = lc.client("events").describe_rule(Name="every-5")["Arn"]
    assert uuid.UUID(event["id"])
    assert event == {
        "version": "0",
        "id": event["id"],
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-22T00:05:00Z",
        "region": "us-east-1",
        "resources": [rule_arn],
        "detail": {},
    }


def test_a_rule_fires_on_demand(lc: LocalCloud, ticks: Recorder, clock: VirtualClock) -> None:
    clock.advance(90)
    event = lc.fire_rule("every-5")
    assert ticks.events == [event]
    assert event["time"] == "2026-11-22T00:01:30Z"
    clock.advance(5 * MINUTE - 90)
    assert lc.fire_schedules() == 1  # the schedule itself is unchanged
    with pytest.raises(KeyError):
        lc.fire_rule("no-such-rule")


def test_only_rules_with_a_schedule_fire_on_demand(lc: LocalCloud) -> None:
    recording_function(lc, "on-ec2")
    rule_to(lc, "pattern-only", function_arn(lc, "on-ec2"), pattern=EC2_STATE_CHANGE)
    with pytest.raises(ValueError, match="no ScheduleExpression"):
        lc.fire_rule("pattern-only")


def test_a_schedule_only_rule_gets_no_events(lc: LocalCloud, ticks: Recorder) -> None:
    lc.client("ec2").run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)
    assert ticks.events == []
    assert lc.deliveries == []


def test_a_disabled_rule_lets_its_times_pass(lc: LocalCloud, ticks: Recorder, clock: VirtualClock) -> None:
    events = lc.client("events")
    events.disable_rule(Name="every-5")
    clock.advance(10 * MINUTE)
    assert lc.fire_schedules() == 0
    events.enable_rule(Name="every-5")
    assert lc.fire_schedules() == 0  # no catching up on what passed while disabled
    clock.advance(5 * MINUTE)
    assert lc.fire_schedules() == 1
    assert [e["time"] for e in ticks.events] == ["2026-11-22T00:15:00Z"]


def test_putting_a_rule_again_keeps_or_restarts_its_schedule(
    lc: LocalCloud, ticks: Recorder, clock: VirtualClock
) -> None:
    events = lc.client("events")
    clock.advance(3 * MINUTE)
    events.put_rule(Name="every-5", ScheduleExpression="rate(5 minutes)", Description="same schedule")
    clock.advance(2 * MINUTE)
    assert lc.fire_schedules() == 1
    events.put_rule(Name="every-5", ScheduleExpression="rate(1 hour)")  # a new schedule starts now (5 min)
    clock.advance(60 * MINUTE)
    assert lc.fire_schedules() == 1
    assert [e["time"] for e in ticks.events] == ["2026-11-22T00:05:00Z", "2026-11-22T01:05:00Z"]


def test_a_cron_rule_fires_at_matching_utc_minutes(lc: LocalCloud, clock: VirtualClock) -> None:
    recorder = recording_function(lc, "weekday")
    rule_to(lc, "weekday-9-30", function_arn(lc, "weekday"), schedule="cron(30 9 ? * MON-FRI *)")
    clock.advance(7 * 24 * 3600)  # 2026-11-22 is a Sunday: Monday 23rd to Friday 27th
    assert lc.fire_schedules() == 5
    assert [e["time"] for e in recorder.events] == [f"2026-11-{day}T09:30:00Z" for day in range(23, 28)]


@pytest.mark.parametrize("expression", ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "cron(0 12 * * * *)"])
def test_invalid_expressions_are_refused(lc: LocalCloud, expression: str) -> None:
    with pytest.raises(ClientError) as error:
        lc.client("events").put_rule(Name="bad", ScheduleExpression=expression)
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "ScheduleExpression is not valid" in error.value.response["Error"]["Message"]


def test_the_last_weekday_of_a_month_is_refused_clearly(lc: LocalCloud) -> None:
    with pytest.raises(ClientError, match="local cloud does not compute L in day-of-week"):
        lc.client("events").put_rule(Name="bad", ScheduleExpression="cron(0 12 ? * 6L *)")
    with pytest.raises(UnsupportedScheduleError):
        parse_schedule("cron(0 12 ? * 6L *)")


@pytest.mark.parametrize(("expression", "first"), [
    ("cron(0 12 L * ? *)", "2026-11-30T12:00:00"),  # the last day of the month
    ("cron(0 12 15W * ? *)", "2026-12-15T12:00:00"),  # the weekday nearest the 15th (a Tuesday)
    ("cron(0 12 ? * 2#2 *)", "2026-12-14T12:00:00"),  # the second Monday (EventBridge: 1 = Sunday)
    ("cron(0 12 ? * MON#2 *)", "2026-12-14T12:00:00"),
    ("cron(30 9 ? * 2-6 *)", "2026-11-23T09:30:00"),  # Monday to Friday
])
def test_cron_wildcards_and_weekday_numbers_fire_as_on_eventbridge(expression: str, first: str) -> None:
    assert parse_schedule(expression).next_after(wall("2026-11-22T00:00:00"), 0) == wall(first)


def test_cron_steps_lists_ranges_and_names() -> None:
    cron = parse_schedule("cron(0/15 8-9 1,15 JAN,JUL ? 2027)")
    assert isinstance(cron, Cron)
    assert cron.next_after(wall("2026-11-22T00:00:00"), 0) == wall("2027-01-01T08:00:00")
    assert cron.next_after(wall("2027-01-01T08:00:00"), 0) == wall("2027-01-01T08:15:00")
    assert cron.next_after(wall("2027-01-01T09:45:00"), 0) == wall("2027-01-15T08:00:00")
    assert parse_schedule("cron(0 0 29 FEB ? 2027)").next_after(wall("2026-01-01T00:00:00"), 0) is None
    with pytest.raises(InvalidScheduleError):
        parse_schedule("cron(0 25 * * ? *)")


def test_the_ticker_settles_and_fires_in_the_background(clock: VirtualClock) -> None:
    with LocalCloud(clock=clock, pending_seconds=5, epoch=EPOCH) as cloud:
        fired, running = threading.Event(), threading.Event()
        ticks = recording_function(cloud, "tick", react=lambda event: fired.set())
        rule_to(cloud, "every-5", function_arn(cloud, "tick"), schedule="rate(5 minutes)")
        states = recording_function(
            cloud, "on-ec2", react=lambda event: event["detail"]["state"] == "running" and running.set()
        )
        rule_to(cloud, "ec2", function_arn(cloud, "on-ec2"), pattern=EC2_STATE_CHANGE)
        cloud.client("ec2").run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)
        clock.advance(5 * MINUTE)
        cloud.start_ticker(0.001)
        assert fired.wait(10) and running.wait(10)  # return as soon as the ticker has done both
        cloud.stop_ticker()
        assert [e["time"] for e in ticks.events] == ["2026-11-22T00:05:00Z"]
        assert [e["detail"]["state"] for e in states.events] == ["pending", "running"]
        assert ticks.threads[0] is not threading.current_thread()
        cloud.start_ticker(60)
        ticker = cloud.patches.ticker
        assert ticker is not None and ticker.running
    assert not ticker.running  # stopping the cloud stops its ticker
