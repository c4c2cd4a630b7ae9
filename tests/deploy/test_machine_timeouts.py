"""Every execution ends: both state machines carry a top-level ``TimeoutSeconds``, and no execution input can ask a
particle to wait longer than its machine lets it."""

from __future__ import annotations

import pytest

from deploy.build_merge_template import MACHINES, definition
from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.execution_input import execution_settings
from pcf_control_plane.errors import ExecutionInputError
from pcf_control_plane.messages import (
    MAX_PARTICLE_WAIT_SECONDS,
    PAGE_MACHINE_TIMEOUT_SECONDS,
    PlanInput,
    parse,
)

STANDARD_MAX_SECONDS = 365 * 24 * 3600  # a Standard workflow runs at most one year


@pytest.mark.parametrize("key", list(MACHINES))
def test_each_machine_has_a_timeout_within_what_step_functions_allows(key: str) -> None:
    timeout = definition(key)["TimeoutSeconds"]
    assert isinstance(timeout, int) and 0 < timeout <= STANDARD_MAX_SECONDS


def test_a_particle_waits_for_its_lease_and_its_state_within_its_page_machine_timeout() -> None:
    assert definition("page")["TimeoutSeconds"] == PAGE_MACHINE_TIMEOUT_SECONDS
    assert 2 * MAX_PARTICLE_WAIT_SECONDS < PAGE_MACHINE_TIMEOUT_SECONDS
    assert definition("apply")["TimeoutSeconds"] >= PAGE_MACHINE_TIMEOUT_SECONDS


def test_an_execution_input_asking_for_a_longer_wait_is_refused_naming_max_polls() -> None:
    definition_ = {"flavor": "ec2_instance", "aws_resource": {}}
    assert parse(PlanInput, {"definition": definition_, "wait_seconds": 4, "max_polls": 9_000}).max_polls == 9_000
    with pytest.raises(ExecutionInputError) as refused:
        parse(PlanInput, {"definition": definition_, "wait_seconds": 4, "max_polls": 9_001})
    assert refused.value.field == "max_polls"
    assert "36004 s, more than the 36000 s a particle may wait" in str(refused.value)


def test_the_cli_refuses_a_timeout_the_page_machine_would_cut_short() -> None:
    assert execution_settings(wait_seconds=5, timeout=36_000, rollback=False, concurrency=None).max_polls == 7_200
    with pytest.raises(DefinitionError) as refused:
        execution_settings(wait_seconds=5, timeout=36_005, rollback=False, concurrency=None)
    assert refused.value.field == "--timeout"
    assert "more than the 36000 s a particle may wait" in str(refused.value)
