"""``pcf status`` and ``pcf history`` read the state table of a target that keeps state; here a local cloud the
module keeps (standing for AWS or a shared local server), after ``pcf run`` went through the state machine."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pcf_cli.store_commands import age, describe_detail, name_in_arn
from pcf_cli.targets import Target
from pcf_control_plane.store import DynamoDBStateStore
from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from tests.cli.cli_support import CliRunner
from tests.cli.test_cli_stepfunctions import A, B, instances, pair

TABLE = "pcf-serverless-dev-state"  # the dev stage's (.chalice/config.json)


def kept(cloud: LocalCloud) -> Target:
    """The test's local cloud as a target whose state outlives a command."""
    return Target("local", cloud.region, cloud.client_factory, cloud.clock.now, cloud.clock.sleep,
                  ephemeral=False, description="a local cloud the test keeps")


def rows(out: str) -> dict[str, list[str]]:
    return {cells[0]: cells[1:] for line in out.splitlines()[1:] if (cells := re.split(r"\s{2,}", line.strip()))}


@dataclass
class Ran:
    """The pair run once through the state machine in a local cloud the module keeps: the CLI runner, the
    cloud, its instances by name and the execution's name."""

    pcf_cli: CliRunner
    cloud: LocalCloud
    instances: dict[str, tuple[str, str]]
    execution: str


@pytest.fixture(scope="module")
def ran(known_ami_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    with LocalCloud(clock=VirtualClock()) as cloud:
        pcf_cli = CliRunner(tmp_path_factory.mktemp("store"), VirtualClock(), engine=None)
        pcf_cli.write("pcf.json", pair(known_ami_id))
        result = pcf_cli("run", "--quiet", cloud=cloud)
        assert result.code == 0, result.err
        sfn = cloud.client("stepfunctions")
        machine = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                       if m["name"].endswith("-apply"))
        [execution] = sfn.list_executions(stateMachineArn=machine)["executions"]
        yield Ran(pcf_cli, cloud, instances(cloud), execution["name"])


def test_status_lists_every_particle_of_the_deployment(ran: Ran) -> None:
    result = ran.pcf_cli("status", target=kept(ran.cloud))

    assert result.code == 0, result.err
    assert result.out.splitlines()[0].split() == ["pcf_id", "desired", "observed", "id", "observed", "at", "lease"]
    table = rows(result.out)
    assert set(table) == {A, B}
    assert table[A][:3] == ["running", "running", ran.instances["cli-a"][1]]
    assert re.fullmatch(r"\d+s ago", table[A][3])
    assert table[A][4] == "-", "the lease was given back"


def test_status_names_the_lease_holder_and_picks_by_name_or_file(ran: Ran) -> None:
    store = DynamoDBStateStore(ran.cloud.client("dynamodb"), TABLE)
    holder = "arn:aws:states:us-east-1:123456789012:execution:apply:heal-7"
    assert store.acquire_lease(B, holder, 60)
    try:
        by_id = ran.pcf_cli("status", B, target=kept(ran.cloud))
        by_name = ran.pcf_cli("status", "b", "-f", "pcf.json", target=kept(ran.cloud))
        whole = ran.pcf_cli("status", "quasiparticle:pair", target=kept(ran.cloud))
    finally:
        store.release_lease(B, holder)

    assert by_id.code == by_name.code == whole.code == 0
    assert list(rows(by_id.out)) == [B] and rows(by_id.out)[B][4] == "heal-7"
    assert [cells[:3] + cells[4:] for cells in rows(by_name.out).values()] == [
        cells[:3] + cells[4:] for cells in rows(by_id.out).values()
    ], "the same row, but for its age"
    assert set(rows(whole.out)) == {A, B}, "a quasiparticle stands for its members"


def test_history_is_newest_first_with_the_execution_name(ran: Ran) -> None:
    result = ran.pcf_cli("history", A, target=kept(ran.cloud))
    limited = ran.pcf_cli("history", A, "--limit", "2", target=kept(ran.cloud))

    assert result.code == 0, result.err
    items = [re.split(r"\s{2,}", line.strip()) for line in result.out.splitlines()[1:]]
    kinds = [item[1] for item in items]
    assert kinds[-1] == "plan" and "transition" in kinds and kinds[0] == "lease"
    assert {item[2] for item in items} == {ran.execution}
    assert ["transition", ran.execution, "action=start generation=1 created=True"] in [i[1:] for i in items]
    assert [re.split(r"\s{2,}", line.strip()) for line in limited.out.splitlines()[1:]] == items[:2]


def test_an_unknown_particle_is_bad_input(ran: Ran) -> None:
    history = ran.pcf_cli("history", "ec2_instance:nope", target=kept(ran.cloud))
    status = ran.pcf_cli("status", "ec2_instance:nope", target=kept(ran.cloud))

    assert history.code == status.code == 2
    assert history.err_lines == [f"pcf: error: PCF_ID: no particle 'ec2_instance:nope' in table {TABLE} "
                                 "(local, us-east-1) (pcf status lists them)"]
    assert status.err_lines == [f"pcf: error: NAME: nothing is stored for ec2_instance:nope in table {TABLE} "
                                "(local, us-east-1)"]


def test_a_missing_table_is_bad_input(ran: Ran) -> None:
    result = ran.pcf_cli("status", "--table", "nope", target=kept(ran.cloud))

    assert result.code == 2
    assert result.err_lines == ["pcf: error: --table: no table 'nope' on local in us-east-1: deploy the stage "
                                "(docs/deploying.md), or pass --stage/--table"]


def test_an_empty_deployment_says_so(ran: Ran) -> None:
    result = ran.pcf_cli("status", "--deployment", "elsewhere", target=kept(ran.cloud))

    assert result.code == 0
    assert result.out == f"no particles of deployment elsewhere in table {TABLE} (local, us-east-1)\n"


@pytest.mark.parametrize("argv", [["status"], ["history", A]])
def test_the_in_process_local_cloud_has_nothing_stored(ran: Ran, argv: list[str]) -> None:
    result = ran.pcf_cli(*argv, cloud=ran.cloud)

    assert result.code == 2
    assert result.err_lines == [
        "pcf: error: --target: local: the in-process local cloud starts empty at every command, so it holds no "
        "stored state; `pcf local start` starts a shared local cloud that keeps it (or use --target aws)"
    ]


def test_an_unknown_stage_is_bad_input(ran: Ran) -> None:
    result = ran.pcf_cli("status", "--stage", "qa", target=kept(ran.cloud))

    assert result.code == 2
    assert result.err_lines == ["pcf: error: --stage: 'qa' is not a stage of config.json (stages: dev, prod)"]


def test_ages_details_and_causes_read_shortly() -> None:
    assert [age(s) for s in (0, 59.9, 61, 7200, 200_000, -3)] == ["0s ago", "59s ago", "1m ago", "2h ago", "2d ago",
                                                                 "0s ago"]
    assert describe_detail({"action": "start", "generation": 2}) == "action=start generation=2"
    assert name_in_arn("arn:aws:states:us-east-1:1:execution:m:run-1") == "run-1"
    assert name_in_arn("schedule-2027") == "schedule-2027"
