"""The control-plane steps over each state store, and the EC2 instance definitions their tests plan."""

from __future__ import annotations

from typing import Any

from pcf_control_plane.steps import ControlPlane
from pcf_control_plane.store import DynamoDBStateStore, InMemoryStateStore
from pcf_local_cloud.clock import VirtualClock

STORES = ("memory", "dynamodb")


def steps_over(kind: str, cloud: Any, clock: VirtualClock, table: str = "pcf-state") -> ControlPlane:
    """The steps over a ``memory`` store or a ``dynamodb`` one (a table created in the local cloud)."""
    from pcf_control_plane.store.table import create_table

    if kind == "memory":
        store: Any = InMemoryStateStore(clock=clock.now)
    else:
        client = cloud.client("dynamodb")
        create_table(client, table, sleep=lambda _: None)
        store = DynamoDBStateStore(client, table, clock=clock.now, sleep=clock.sleep)
    return ControlPlane(store, cloud.client_factory, clock=clock.now, deployment="test")


def instance(name: str, ami_id: str, **extra: Any) -> dict[str, Any]:
    """An EC2 instance particle named ``name`` (instance name ``cp-<name>``)."""
    return {"pcf_name": name, "flavor": "ec2_instance", **extra,
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                             "custom_config": {"instance_name": f"cp-{name}"}}}


def live_instances(ec2: Any, name: str) -> list[dict[str, Any]]:
    """The instances named ``name`` that are not terminated or shutting down."""
    reservations = ec2.describe_instances(Filters=[
        {"Name": "tag:PCFName", "Values": [name]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
    ])["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def plan_all(steps: ControlPlane, request: Any) -> Any:
    """``plan_run`` then ``plan_page`` for every page it left to store, as the ``apply`` workflow does; the plan."""
    from pcf_control_plane import run_steps
    from pcf_control_plane.messages import PageStep

    planned = run_steps.plan_run(steps, request)
    for ref in planned.unstored:
        run_steps.plan_page(steps, PageStep(run=request.execution, execution=request.execution,
                                            **ref.model_dump()))
    return planned


def run_ids(steps: ControlPlane, planned: Any, run: str) -> list[list[str]]:
    """The pcf_ids of each level of a planned run, in order (read from its pages)."""
    return [[pcf_id for page in level.pages for pcf_id in steps.store.get_page(run, level.phase, level.level,
                                                                                 page).ids]
            for level in planned.levels]


def visit_until_done(steps: ControlPlane, pcf_id: str, clock: VirtualClock, execution: str,
                     visits: int = 30) -> list[str]:
    """``converge`` visits of ``pcf_id`` (a virtual second apart) until one answers ``done``; the transitions
    they carried out. ``AssertionError`` after ``visits``."""
    from pcf_control_plane.converge import converge
    from pcf_control_plane.messages import ConvergeInput

    acted = []
    for _ in range(visits):
        answer = converge(steps, ConvergeInput(pcf_id=pcf_id, execution=execution))
        if answer.acted:
            acted.append(answer.acted)
        if answer.action == "done":
            return acted
        clock.sleep(1.0)
    raise AssertionError(f"{pcf_id} did not converge in {visits} visits")
