"""One member of a quasiparticle changed through the control plane (``pcf stop worker -f cluster.json``): only it
changes and runs, the store records its new desired state, so neither healing nor reconciliation undoes it; the
direct engine, which would change it behind the store's back, is refused where the control plane is deployed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pcf_cli.stages import read_stage
from pcf_cli.targets import Target
from pcf_control_plane.store import DynamoDBStateStore
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.server_client import find_server, settle
from tests.cli.cli_support import CliRunner
from tests.cli.test_cli_stepfunctions import executions, instance, instances, summary

A, B, C = "ec2_instance:a", "ec2_instance:b", "ec2_instance:c"


def trio(ami_id: str, prefix: str = "cli") -> dict[str, Any]:
    """A quasiparticle: ``a``, and ``b`` and ``c`` its children."""
    def member(name: str, **extra: Any) -> dict[str, Any]:
        made = instance(name, ami_id, **extra)
        made["aws_resource"]["custom_config"]["instance_name"] = f"{prefix}-{name}"
        return made

    return {"pcf_name": "trio", "flavor": "quasiparticle",
            "particles": [member("a"), member("b", parents=[A]), member("c", parents=[A])]}


def desired(store: DynamoDBStateStore) -> dict[str, str]:
    return {pcf_id: record.spec.desired_state for pcf_id, record in store.get_many([A, B, C]).items()
            if record.spec is not None}


def states(cloud_instances: dict[str, tuple[str, str]], prefix: str = "cli") -> dict[str, str]:
    return {name.removeprefix(f"{prefix}-"): state for name, (state, _) in cloud_instances.items()
            if name.startswith(f"{prefix}-")}


def as_aws(cloud: LocalCloud) -> Target:
    return Target("aws", cloud.region, cloud.client_factory, cloud.clock.now, cloud.clock.sleep,
                  description="aws (a local cloud standing for it)")


@pytest.fixture
def store(sfn_cli: CliRunner, cloud: LocalCloud, ami_id: str) -> DynamoDBStateStore:
    """The trio run (``pcf run``) through the control plane in ``cloud``; the stage's state store there."""
    sfn_cli.write("pcf.json", trio(ami_id))
    assert sfn_cli("run", cloud=cloud).code == 0
    return DynamoDBStateStore(cloud.client("dynamodb"), read_stage().table_name)


def test_stopping_a_member_changes_and_runs_only_it_and_records_its_desired_state(
    sfn_cli: CliRunner, cloud: LocalCloud, store: DynamoDBStateStore
) -> None:
    stopped = sfn_cli("stop", "b", cloud=cloud)

    assert stopped.code == 0, stopped.err
    assert states(instances(cloud)) == {"a": "running", "b": "stopped", "c": "running"}
    assert desired(store) == {A: "running", B: "stopped", C: "running"}
    assert list(summary(stopped.out)) == [B], "only the member is applied, and summarised"
    assert "execution: pcf-stop-trio-b-" in stopped.err
    sent = [json.loads(cloud.client("stepfunctions").describe_execution(executionArn=e["executionArn"])["input"])
            for e in executions(cloud)]
    assert [(i.get("only"), i.get("desired_state")) for i in sent if i.get("only")] == [([B], "stopped")]
    assert [item.kind.value for item in store.list_history(A, limit=50)].count("plan") == 1, \
        "the others' specs are left as stored"

    ran = sfn_cli("run", "b", cloud=cloud)

    assert ran.code == 0, ran.err
    assert states(instances(cloud)) == {"a": "running", "b": "running", "c": "running"}
    assert desired(store) == {A: "running", B: "running", C: "running"}


def test_starting_a_member_starts_its_stopped_ancestors_and_a_cascade_stops_its_descendants(
    sfn_cli: CliRunner, cloud: LocalCloud, store: DynamoDBStateStore
) -> None:
    alone = sfn_cli("stop", "a", cloud=cloud)

    assert alone.code == 1, "a parent cannot be desired stopped under children desired running"
    assert "running needs parent ec2_instance:a running" in alone.err
    assert desired(store) == {A: "running", B: "running", C: "running"}

    cascaded = sfn_cli("stop", "a", "--cascade", cloud=cloud)

    assert cascaded.code == 0, cascaded.err
    assert states(instances(cloud)) == {"a": "stopped", "b": "stopped", "c": "stopped"}
    assert desired(store) == {A: "stopped", B: "stopped", C: "stopped"}

    ran = sfn_cli("run", "c", cloud=cloud)

    assert ran.code == 0, ran.err
    assert states(instances(cloud)) == {"a": "running", "b": "stopped", "c": "running"}
    assert desired(store) == {A: "running", B: "stopped", C: "running"}


@pytest.mark.usefixtures("store")  # the run deployed the stage's control plane (its state table) there
def test_the_direct_engine_is_refused_where_the_stages_control_plane_is_deployed(
    sfn_cli: CliRunner, cloud: LocalCloud
) -> None:
    refused = sfn_cli("stop", "b", "--engine", "direct", target=as_aws(cloud))

    assert refused.code == 2
    assert refused.err_lines == [line for line in refused.err_lines if line.startswith("pcf: error: --engine:")]
    assert "control plane is deployed" in refused.err and "--engine stepfunctions" in refused.err
    assert "pcf stop worker-1" in refused.err
    assert states(instances(cloud)) == {"a": "running", "b": "running", "c": "running"}


def test_healing_and_reconciling_leave_a_member_the_user_stopped_stopped(
    on_server: CliRunner, server_dir: Path, known_ami_id: str
) -> None:
    on_server.write("pcf.json", json.dumps(trio(known_ami_id, prefix="member")))
    assert on_server("run", "--target", "local").code == 0
    info = find_server(server_dir)
    assert info is not None
    ec2 = info.client_factory().client("ec2")

    def now() -> dict[str, str]:
        found = {}
        for reservation in ec2.describe_instances()["Reservations"]:
            for item in reservation["Instances"]:
                tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
                found[tags.get("PCFName", "?")] = (item["State"]["Name"], item["InstanceId"])
        return states(found, prefix="member")

    stopped = on_server("stop", "b", "--target", "local")

    assert stopped.code == 0, stopped.err
    assert now() == {"a": "running", "b": "stopped", "c": "running"}
    store = DynamoDBStateStore(info.client_factory().client("dynamodb"), read_stage().table_name)
    assert desired(store) == {A: "running", B: "stopped", C: "running"}
    settle(info)  # every event the stop caused delivered to on_ec2_event: stopped is desired, nothing to heal
    assert now()["b"] == "stopped"
    heals = [item for item in store.list_history(B, limit=50) if item.kind.value == "heal"]
    assert all(item.detail.get("action") != "start" for item in heals), heals

    reconciled = on_server("reconcile", "--target", "local")

    assert reconciled.code == 0, reconciled.err
    assert not [line for line in reconciled.out.splitlines() if line.startswith(B)], reconciled.out
    assert now()["b"] == "stopped"

    direct = on_server("stop", "c", "--target", "local", "--engine", "direct")

    assert direct.code == 2
    assert "the local server runs the control plane" in direct.err and "--engine stepfunctions" in direct.err
    assert now()["c"] == "running"

    assert on_server("run", "b", "--target", "local").code == 0
    settle(info)
    assert now()["b"] == "running"
    assert on_server("terminate", "--target", "local").code == 0
