"""``pcf apply/run/stop/terminate`` through the Step Functions ``apply`` state machine, deployed by the CLI into
a real local cloud (moto, patched; instant transitions): EC2 states, progress lines, summaries, exit codes."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from pcf_cli import stepfunctions_engine
from pcf_cli.stages import read_stage
from pcf_cli.stepfunctions_engine import StepFunctionsApply
from pcf_control_plane.store import DynamoDBStateStore
from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from tests.cli.cli_support import CliResult, CliRunner
from tests.support.executions import time_passing
from tests.support.tags import named

A, B = "ec2_instance:a", "ec2_instance:b"


def instance(name: str, ami_id: str, **extra: Any) -> dict[str, Any]:
    return {"pcf_name": name, "flavor": "ec2_instance", **extra,
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                             "custom_config": {"instance_name": f"cli-{name}"}}}


def pair(ami_id: str) -> dict[str, Any]:
    """A quasiparticle: instance ``a``, and ``b`` its child."""
    return {"pcf_name": "pair", "flavor": "quasiparticle",
            "particles": [instance("a", ami_id), instance("b", ami_id, parents=[A])]}


def instances(cloud: LocalCloud) -> dict[str, tuple[str, str]]:
    """PCFName tag -> (state, instance id) of every instance."""
    found = {}
    for reservation in cloud.client("ec2").describe_instances()["Reservations"]:
        for item in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
            found[tags.get("PCFName", "?")] = (item["State"]["Name"], item["InstanceId"])
    return found


def summary(out: str) -> dict[str, list[str]]:
    """pcf_id -> [state, id, transitions] from the summary table."""
    return {cells[0]: cells[1:] for line in out.splitlines()[1:]
            if len(cells := re.split(r"\s{2,}", line.strip())) == 4}


def executions(cloud: LocalCloud) -> list[dict[str, Any]]:
    sfn = cloud.client("stepfunctions")
    machines = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                if m["name"].endswith("-apply")]
    return [e for arn in machines for e in sfn.list_executions(stateMachineArn=arn)["executions"]]


def execution_named(result: CliResult) -> str:
    found = re.search(r"^execution: (pcf-\S+) ", result.err, re.M)
    assert found, result.err
    return found.group(1)


def test_run_then_terminate_a_quasiparticle_through_the_state_machine(
    sfn_cli: CliRunner, cloud: LocalCloud, ami_id: str
) -> None:
    sfn_cli.write("pcf.json", pair(ami_id))

    ran = sfn_cli("run", cloud=cloud)

    assert ran.code == 0, ran.err
    running = instances(cloud)
    assert {name: state for name, (state, _) in running.items()} == {"cli-a": "running", "cli-b": "running"}
    rows = summary(ran.out)
    assert rows[A] == ["running", running["cli-a"][1], "start"]
    assert rows[B] == ["running", running["cli-b"][1], "start"]
    assert re.search(r"^done in [\d.]+s: 2 particle\(s\): 2 running$", ran.out, re.M)
    name = execution_named(ran)
    assert re.fullmatch(r"pcf-run-pair-\d{8}T\d{6}Z-[0-9a-f]{4}", name)
    assert [(e["name"], e["status"]) for e in executions(cloud)] == [(name, "SUCCEEDED")]

    gone = sfn_cli("terminate", cloud=cloud)

    assert gone.code == 0, gone.err
    assert instances(cloud) == {"cli-a": ("terminated", running["cli-a"][1]),
                                "cli-b": ("terminated", running["cli-b"][1])}
    assert summary(gone.out)[A] == ["terminated", running["cli-a"][1], "terminate"]
    assert sorted(e["name"].split("-")[1] for e in executions(cloud)) == ["run", "terminate"]


def test_progress_lines_follow_the_execution_level_by_level(
    sfn_cli: CliRunner, cloud: LocalCloud, ami_id: str
) -> None:
    sfn_cli.write("pcf.json", pair(ami_id))

    result = sfn_cli("run", cloud=cloud)

    lines = [re.sub(r"^\[\s*[\d.]+s\] ", "", line) for line in result.err_lines if line.startswith("[")]
    instance_a = instances(cloud)["cli-a"][1]
    assert lines[:5] == [
        "start level 1: 1 particle in 1 page",
        f"{A} terminated",
        f"{A} start: terminated -> running",
        f"{A} terminated -> running  {instance_a}",
        f"{A} done: running as desired",
    ]
    assert lines[5] == "start level 2: 1 particle in 1 page", "the child's level starts after its parent converged"
    assert lines[6:] == [f"{B} terminated", f"{B} start: terminated -> running",
                         f"{B} terminated -> running  {instances(cloud)['cli-b'][1]}", f"{B} done: running as desired"]
    assert result.err_lines[0].startswith("target: local")
    assert "engine: stepfunctions, state machine pcf-serverless-dev-apply (in the local cloud" in result.err
    assert "[" not in result.out, "progress goes to stderr, the summary alone to stdout"


def test_a_particle_held_pending_fails_the_execution_with_its_named_error(
    sfn_cli: CliRunner, cloud: LocalCloud, ami_id: str
) -> None:
    ec2 = cloud.client("ec2")
    stuck = ec2.run_instances(ImageId=ami_id, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": named("cli-a", stage="dev")}])["Instances"][0]["InstanceId"]
    cloud.hold_pending(stuck)
    sfn_cli.write("pcf.json", pair(ami_id))

    with time_passing(cloud.clock, 0.5):  # no event comes: each wait for one ends with its 1 s heartbeat
        result = sfn_cli("run", "--timeout", "2", cloud=cloud)

    assert result.code == 1
    assert result.err_lines[-2].startswith(
        "pcf: error: ParticleTimeoutError: 1 of 1 particle(s) failed: ec2_instance:a: ParticleTimeoutError: "
        "ec2_instance:a did not reach its desired state after 2 visits (last seen: pending)"
    )
    assert re.search(rf"{A}\s+FAILED: ParticleTimeoutError: ", result.err)
    assert "max polls 2" in result.err
    assert summary(result.out)[B] == ["-", "-", "not reached"]
    assert re.search(r"^FAILED \(1 particle\(s\)\) in [\d.]+s: 2 particle\(s\)", result.out, re.M)
    assert summary(result.out)[A] == ["pending", stuck, "none (failed)"]
    assert instances(cloud) == {"cli-a": ("pending", stuck)}, "the child was never started"
    assert [e["status"] for e in executions(cloud)] == ["FAILED"]


def test_apply_uses_the_definitions_own_states_one_execution_per_definition(
    sfn_cli: CliRunner, cloud: LocalCloud, ami_id: str
) -> None:
    sfn_cli.write("pcf.json", [instance("x", ami_id, desired_state="running"),
                               instance("y", ami_id, desired_state="stopped")])

    result = sfn_cli("apply", cloud=cloud)

    assert result.code == 0, result.err
    assert {name: state for name, (state, _) in instances(cloud).items()} == {"cli-x": "running"}
    assert summary(result.out) == {
        "ec2_instance:x": ["running", instances(cloud)["cli-x"][1], "start"],
        "ec2_instance:y": ["terminated", "-", "none"],
    }
    inputs = [json.loads(cloud.client("stepfunctions").describe_execution(executionArn=e["executionArn"])["input"])
              for e in executions(cloud)]
    assert sorted(i["definition"]["pcf_name"] for i in inputs) == ["x", "y"]
    assert all("desired_state" not in i and i["wait_seconds"] == 0 for i in inputs)


def test_direct_engine_applies_in_process_without_a_state_machine(
    sfn_cli: CliRunner, cloud: LocalCloud, ami_id: str
) -> None:
    sfn_cli.write("pcf.json", pair(ami_id))

    result = sfn_cli("run", "--engine", "direct", cloud=cloud)

    assert result.code == 0, result.err
    assert {name: state for name, (state, _) in instances(cloud).items()} == {"cli-a": "running", "cli-b": "running"}
    assert cloud.client("stepfunctions").list_state_machines()["stateMachines"] == []
    assert "engine: stepfunctions" not in result.err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["stop", "--cascade"], "pcf: error: --cascade: 'pair' is a whole definition: its members cascade "
                                "already; name one member of a quasiparticle to cascade from it"),
        (["run", "--max-workers", "1001"], "pcf: error: --max-workers: 1001 is more than the 1000 particles a level "
                                           "runs at once with --engine stepfunctions (pages of 40); give 1..1000, "
                                           "or use --engine direct"),
        (["run", "--engine", "direct", "--wait-seconds", "1"],
         "pcf: error: --wait-seconds: applies to --engine stepfunctions only"),
        (["run", "--wait-seconds", "-1"], "pcf: error: --wait-seconds: -1 must not be negative"),
        (["run", "--engine", "lambda"], "pcf: error: --engine: invalid choice: 'lambda' (choose from "
                                        "'stepfunctions', 'direct')"),
        (["run", "-f", "missing.json"], None),
    ],
    ids=["cascade", "concurrency", "wait-direct", "wait-negative", "engine", "file"],
)
def test_bad_input_is_refused_before_anything_starts(
    sfn_cli: CliRunner, cloud: LocalCloud, ami_id: str, argv: list[str], expected: str | None
) -> None:
    sfn_cli.write("pcf.json", pair(ami_id))

    result = sfn_cli(*argv, cloud=cloud)

    assert result.code == 2
    assert len(result.err_lines) == 1
    if expected:
        assert result.err_lines == [expected]
    assert result.out == ""
    assert instances(cloud) == {}
    assert cloud.client("stepfunctions").list_state_machines()["stateMachines"] == [], "nothing deployed"


def test_a_bad_definition_starts_no_execution(sfn_cli: CliRunner, cloud: LocalCloud, ami_id: str) -> None:
    definition = pair(ami_id)
    del definition["particles"][1]["aws_resource"]["custom_config"]["instance_name"]
    sfn_cli.write("pcf.json", definition)

    result = sfn_cli("run", cloud=cloud)

    assert result.code == 2
    assert result.err_lines == [
        "pcf: error: particles[1].aws_resource.custom_config.instance_name: is required by flavor 'ec2_instance' "
        "(its UNIQUE_KEYS)"
    ]
    assert instances(cloud) == {}
    assert cloud.client("stepfunctions").list_state_machines()["stateMachines"] == []


def test_aws_options_are_refused_on_the_in_process_local_cloud(
    sfn_cli: CliRunner, cloud: LocalCloud, ami_id: str
) -> None:
    sfn_cli.write("pcf.json", pair(ami_id))

    result = sfn_cli("run", "--stack", "pcf-serverless-dev", cloud=cloud)

    assert result.code == 2
    assert result.err_lines[-1] == ("pcf: error: --stack: the in-process local cloud deploys its own control plane: "
                                    "this option is for --target aws")
    assert instances(cloud) == {} and executions(cloud) == []


def running_executions(cloud: LocalCloud) -> list[str]:
    sfn = cloud.client("stepfunctions")
    return [e["name"] for m in sfn.list_state_machines()["stateMachines"]
            for e in sfn.list_executions(stateMachineArn=m["stateMachineArn"], statusFilter="RUNNING")["executions"]]


def test_ctrl_c_stops_the_execution_and_its_page_executions_and_releases_their_leases(
    sfn_cli: CliRunner, slow_cloud: LocalCloud, clock: VirtualClock, known_ami_id: str,
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:
    names = ("a", "b", "c")  # one level of three: one page; each particle is started and stays pending (the
    # virtual clock stands still), so its page's visits hold its lease, waiting for it
    sfn_cli.write("pcf.json", {"pcf_name": "trio", "flavor": "quasiparticle",
                               "particles": [instance(name, known_ami_id) for name in names]})
    store = DynamoDBStateStore(slow_cloud.client("dynamodb"), read_stage("dev").table_name)
    pcf_ids = [f"ec2_instance:{name}" for name in names]
    held: list[str | None] = []

    def pending() -> bool:
        return all((seen := store.get_observation(p)) is not None and seen.state == "pending" for p in pcf_ids)

    class Interrupted(StepFunctionsApply):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)

            def sleep(seconds: float) -> None:  # Ctrl-C once the page holds the three leases, its instances pending
                if len(running_executions(slow_cloud)) == 2 and all(store.current_lease(p) for p in pcf_ids) and (
                        pending()):
                    held.extend(lease.owner for p in pcf_ids if (lease := store.current_lease(p)))
                    raise KeyboardInterrupt
                time.sleep(0.1)

            self.sleep = sleep

    monkeypatch.setattr(stepfunctions_engine, "StepFunctionsApply", Interrupted)
    capfd.readouterr()

    result = sfn_cli("run", "--wait-seconds", "1", "-q", cloud=slow_cloud)

    assert result.code == 130
    name = next(e["name"] for e in executions(slow_cloud) if e["name"].startswith("pcf-run-trio-"))
    assert result.err_lines == [
        f"pcf: error: interrupted: stopped execution {name} and 1 page execution, released 3 leases"
    ]
    assert len(held) == 3 and all(owner.endswith(f":{name}") for owner in held), held
    assert running_executions(slow_cloud) == [], "nothing of the run goes on"
    assert [store.current_lease(p) for p in pcf_ids] == [None, None, None]
    assert pending(), "what was reached is recorded"
    leaked = capfd.readouterr()
    assert (leaked.out, leaked.err) == ("", ""), "no metric JSON, log or traceback from the functions"
    clock.advance(5)
    time.sleep(1.5)  # a page still visiting would have recorded its particles running by now
    assert {tag: state for tag, (state, _) in instances(slow_cloud).items()} == {f"cli-{n}": "running" for n in names}
    assert pending(), "no visit after the stop"
    assert running_executions(slow_cloud) == []
