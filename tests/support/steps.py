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
