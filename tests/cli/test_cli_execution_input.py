"""What ``--engine stepfunctions`` sends: execution names, inputs, settings from the options, refusals."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.execution_input import (
    ExecutionSettings,
    check_expressible,
    execution_input,
    execution_settings,
    member_input,
    new_execution_name,
)
from pcf_cli.selection import build_definitions, select
from tests.cli.cli_support import FLAVOR, cluster, particle

NOON = datetime(2027, 1, 15, 12, 30, 5, tzinfo=UTC)


def test_names_are_readable_unique_and_safe() -> None:
    name = new_execution_name("pcf-run", "cluster", now=lambda: NOON, token=lambda: "a1b2")
    other = new_execution_name("pcf-run", "cluster", now=lambda: NOON)

    assert name == "pcf-run-cluster-20270115T123005Z-a1b2"
    assert other != new_execution_name("pcf-run", "cluster", now=lambda: NOON), "a random suffix tells them apart"


def test_names_use_utc_keep_only_safe_characters_and_fit_80() -> None:
    paris = NOON.astimezone(timezone(timedelta(hours=1)))

    name = new_execution_name("pcf-terminate", "my cluster/ä:" + "x" * 100, now=lambda: paris, token=lambda: "ffff")

    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name)
    assert name.startswith("pcf-terminate-my-cluster-xxx")
    assert name.endswith("-20270115T123005Z-ffff")
    assert new_execution_name("pcf-run", "???", now=lambda: NOON, token=lambda: "0000") == (
        "pcf-run-definition-20270115T123005Z-0000"
    )


def test_the_input_carries_the_definition_state_and_settings() -> None:
    definition = cluster("c")
    settings = ExecutionSettings(wait_seconds=1, max_polls=30, rollback=True, concurrency=8, await_seconds=2)

    sent = json.loads(execution_input(definition, "stopped", settings))
    applied = json.loads(execution_input(definition, None, settings))

    assert sent == {"definition": definition, "desired_state": "stopped", "wait_seconds": 1, "max_polls": 30,
                    "await_seconds": 2, "rollback": True, "concurrency": 8}
    assert "desired_state" not in applied, "apply: the definition's own states"


def test_an_input_over_256_kb_or_not_json_is_refused() -> None:
    big = particle("big", aws_resource={"custom_config": {"name": "big", "blob": "x" * 300_000}})

    with pytest.raises(DefinitionError, match=r"more than the 262144 bytes.*--engine direct") as error:
        execution_input(big, None, ExecutionSettings())
    assert error.value.field == "file"
    with pytest.raises(DefinitionError, match="not JSON"):
        execution_input(particle("d", when=datetime(2027, 1, 1)), None, ExecutionSettings())


@pytest.mark.parametrize(
    ("wait", "timeout", "polls", "await_seconds"),
    [(5, None, 120, 60), (5, 60, 12, 5), (5, 61, 13, 5), (1, 2, 2, 1), (0, 3, 3, 1), (0, 0.2, 1, 1),
     (60, 7200, 120, 60), (5, 36_000, 7200, 5)],
)
def test_timeout_becomes_polls_of_the_wait_and_bounds_a_wait_for_an_event(
    wait: int, timeout: float | None, polls: int, await_seconds: int
) -> None:
    settings = execution_settings(wait_seconds=wait, timeout=timeout, rollback=False, concurrency=None)
    assert settings.await_seconds == await_seconds
    assert timeout is None or await_seconds <= max(wait, 1), "a wait for an event lasts no longer than a poll"

    assert settings.max_polls == polls
    assert settings.wait_seconds == wait and settings.concurrency == 40 and not settings.rollback


@pytest.mark.parametrize(
    ("options", "field", "reason"),
    [
        ({"concurrency": 1001}, "--max-workers", "more than the 1000 particles"),
        ({"wait_seconds": 3601}, "--wait-seconds", "between 0 and 3600"),
        ({"timeout": 1e9}, "--timeout", "more than 10000 polls"),
    ],
)
def test_settings_out_of_the_machines_bounds_are_refused(options: dict, field: str, reason: str) -> None:
    given = {"wait_seconds": 5, "timeout": None, "rollback": False, "concurrency": None, **options}

    with pytest.raises(DefinitionError) as error:
        execution_settings(**given)

    assert error.value.field == field and reason in error.value.reason


def test_a_member_is_one_execution_of_its_definition_but_cascade_needs_a_member() -> None:
    built = build_definitions([cluster("group")])
    [member] = select(built, f"{FLAVOR}:worker-0")
    [whole] = select(built, "group")

    check_expressible(member, cascade=False)
    check_expressible(member, cascade=True)
    check_expressible(whole, cascade=False)
    with pytest.raises(DefinitionError, match="name one member") as cascaded:
        check_expressible(whole, cascade=True)

    assert cascaded.value.field == "--cascade"
    assert member_input(member, True) == {"only": [f"{FLAVOR}:worker-0"], "cascade": True}
    assert member_input(whole, False) == {}
    sent = json.loads(execution_input({"pcf_name": "group"}, "stopped", ExecutionSettings(),
                                      member_input(member, False)))
    assert (sent["only"], sent["cascade"], sent["desired_state"]) == ([f"{FLAVOR}:worker-0"], False, "stopped")
