"""Every flavor's resource table (``pcf.core.resource_table``) is complete and consistent: with botocore's EC2
model, with the IAM action catalogue, with the flavor's own tables, with app.py's event rule, and with what the
local cloud describes. Adding a flavor means declaring its table; this walks the registry and checks it."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

import botocore.session
import parliament
import pytest

from pcf.core import State
from pcf.core.aws_resource import AWSResource
from pcf.core.registry import BUILTIN_FLAVOR_MODULES, load_builtin_flavors
from pcf.core.resource_table import (
    TRANSITIONS,
    ResourceTable,
    observation_snapshot,
    resource_id_of,
    resource_tables,
    table_of,
)
from pcf.particle.aws.ec2.ebs_volume import EBSVolume
from pcf.particle.aws.ec2.ec2_instance import EC2Instance
from pcf.util.aws.tag_specifications import DEPLOYMENT_TAG, deployment_name
from pcf_control_plane.aws_events import accepted_events

_SESSION = botocore.session.get_session()


def _action_known(action: str) -> bool:
    try:
        parliament.expand_action(action)
    except (parliament.UnknownActionException, parliament.UnknownPrefixException):
        return False
    return True


def _item_shape(table: ResourceTable) -> Any:
    """botocore's shape of one resource of the table's describe call."""
    model = _SESSION.get_service_model(table.describe.service)
    operation = model.operation_model(_SESSION.create_client(
        table.describe.service, region_name="us-east-1").meta.method_to_api_mapping[table.describe.operation])
    shape = operation.output_shape
    for key in table.describe.items:
        shape = shape.members[key].member
    return shape


def table_problems(flavor: type[Any], table: ResourceTable | None = None) -> list[str]:
    """What is missing from or inconsistent in the flavor's table (or in ``table``, checked as the flavor's): empty
    when it is whole."""
    table = table or table_of(flavor)
    if table is None:
        return ["no RESOURCE_TABLE"] if getattr(flavor, "CREATE_OPERATION", None) else []
    problems: list[str] = []
    client = _SESSION.create_client(table.describe.service, region_name="us-east-1")
    if table.describe.operation not in client.meta.method_to_api_mapping:
        return [f"{table.describe.operation} is not a {table.describe.service} call"]
    if not client.can_paginate(table.describe.operation):
        problems.append(f"{table.describe.operation} cannot be paginated")
    item = _item_shape(table)
    if table.id_key not in item.members:
        problems.append(f"id_key {table.id_key} is not a field of {item.name}")
    status_values = set(getattr(item.members.get("State"), "enum", []) or
                        getattr(getattr(item.members.get("State"), "members", {}).get("Name"), "enum", []) or [])
    if not table.gone <= status_values:
        problems.append(f"gone {sorted(table.gone - status_values)} are not statuses of {item.name}")
    unread = status_values - set(flavor.state_lookup) - table.unmanageable
    if unread:
        problems.append(f"statuses {sorted(unread)} are neither in state_lookup nor unmanageable")
    if table.unmanageable & set(flavor.state_lookup):
        problems.append("an unmanageable status is in state_lookup")
    if any(flavor.state_lookup.get(status) is State.running for status in table.gone):
        problems.append("a gone status reads as running")
    not_transitional = sorted(s for s in table.awaited if flavor.state_lookup.get(s) is not State.pending)
    if not_transitional:
        problems.append(f"awaited {not_transitional} do not read as pending")
    if table.awaited and not table.events:
        problems.append("awaited statuses without an event to end them")
    if f"aws_resource.custom_config.{table.name_key}" not in flavor.UNIQUE_KEYS:
        problems.append(f"name_key {table.name_key} is not the flavor's unique key")
    permissions = table.permissions
    if set(permissions.transitions) != set(TRANSITIONS):
        problems.append(f"transitions {sorted(permissions.transitions)} are not {sorted(TRANSITIONS)}")
    actions = {*permissions.describe, *permissions.tagged(), *permissions.create, *permissions.inputs}
    problems += [f"{action} is not an IAM action" for action in sorted(actions) if not _action_known(action)]
    if table.describe.action not in permissions.describe:
        problems.append(f"{table.describe.action} (the describe call) is not among the describe permissions")
    if flavor.CREATE_OPERATION and f"{table.describe.service}:{flavor.CREATE_OPERATION}" not in permissions.create:
        problems.append(f"{flavor.CREATE_OPERATION} is not among the create permissions")
    for kind in table.events:
        model_type = typing.get_type_hints(kind.model)["detail_type"]
        if typing.get_args(model_type) != (kind.detail_type,):
            problems.append(f"{kind.model.__name__} parses {model_type}, not {kind.detail_type!r}")
    return problems


def managed_flavors() -> dict[str, type[Any]]:
    return {name: cls for name, cls in load_builtin_flavors().items() if issubclass(cls, AWSResource)}


@pytest.mark.parametrize("flavor", sorted(managed_flavors()))
def test_every_flavor_that_creates_aws_resources_declares_a_whole_table(flavor: str) -> None:
    assert table_problems(managed_flavors()[flavor]) == []


def test_both_built_in_resource_flavors_hold_tables() -> None:
    builtin = {name: cls for name, cls in load_builtin_flavors().items() if name in BUILTIN_FLAVOR_MODULES}

    assert {name for name, cls in builtin.items() if table_of(cls)} == {"ec2_instance", "ebs_volume"}


def test_a_table_with_a_wrong_key_an_unknown_action_or_a_missing_transition_is_caught() -> None:
    table = EC2Instance.RESOURCE_TABLE
    assert table is not None
    permissions = dataclasses.replace(table.permissions, transitions={
        **{k: v for k, v in table.permissions.transitions.items() if k != "update"},
        "stop": ("ec2:StopInstancez",)})
    broken = dataclasses.replace(table, id_key="InstanceIdent", gone=frozenset({"gone-away"}),
                                 permissions=permissions, awaited=frozenset({"pending", "running"}))

    problems = table_problems(EC2Instance, broken)  # checked as EC2Instance's: no class registers a broken table

    assert any("InstanceIdent" in p for p in problems)
    assert any("gone-away" in p for p in problems)
    assert any("ec2:StopInstancez" in p for p in problems)
    assert any("transitions" in p for p in problems)
    assert "awaited ['running'] do not read as pending" in problems


def test_a_resource_flavor_without_a_table_is_caught() -> None:
    bare = type("Bare", (AWSResource,), {"CREATE_OPERATION": "CreateThing"})  # no flavor: never registered

    assert table_problems(bare) == ["no RESOURCE_TABLE"]
    assert "Bare" not in {cls.__name__ for cls in load_builtin_flavors().values()}


def test_the_accepted_events_are_the_tables_events_and_app_py_routes_exactly_those() -> None:
    import app

    accepted = accepted_events()

    assert accepted == {"aws.ec2": {"EC2 Instance State-change Notification", "EBS Volume Notification"}}
    routed = {(source, detail_type, json.dumps(rule.get("detail"), sort_keys=True))
              for source in app.EC2_EVENTS["source"] for rule in app.EC2_EVENTS["$or"]
              for detail_type in rule["detail-type"]}
    declared = {(kind.source, kind.detail_type, json.dumps(
        {key: list(values) for key, values in kind.detail.items()} if kind.detail else None, sort_keys=True))
        for table in resource_tables().values() for kind in table.events}
    assert routed == declared


def test_an_event_filter_keeps_exactly_the_states_that_end_a_transition() -> None:
    """Filtered out: the statuses ``state_lookup`` reads as ``pending``; kept: every other status the model allows."""
    filters = 0
    for flavor, cls in managed_flavors().items():
        table = table_of(cls)
        for kind in table.events if table else ():
            if kind.detail is None:
                continue
            [(field, kept)] = kind.detail.items()
            allowed = set(typing.get_args(kind.model.model_fields["detail"].annotation.model_fields[field].annotation))
            assert set(kept) <= allowed, flavor
            assert {s for s in allowed if cls.state_lookup.get(s, State.pending) is not State.pending} == set(kept)
            filters += 1
    assert filters == 1, "the instance's state changes are filtered"


def test_what_reconciliation_describes_is_what_a_sync_observed(cloud: Any, ami_id: str, runtime: Any) -> None:
    """The table's describe call finds each particle's resource by id, its status reads as the particle's state, and
    its snapshot equals the one a step takes of the particle: reconciliation and the state machine agree."""
    instance = EC2Instance({"pcf_name": "web", "flavor": "ec2_instance", "desired_state": "running",
                            "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                                             "SecurityGroupIds": [], "custom_config": {"instance_name": "web",
                                                                                       "tags": {"Team": "a"}}}})
    volume = EBSVolume({"pcf_name": "data", "flavor": "ebs_volume", "desired_state": "running",
                        "aws_resource": {"AvailabilityZone": "us-east-1a", "Size": 10,
                                         "custom_config": {"volume_name": "data"}}})
    ec2 = cloud.client("ec2")
    for particle in (instance, volume):
        particle.apply(runtime=runtime)
        particle.sync_state()
        table = table_of(type(particle))
        assert table is not None
        pages = ec2.get_paginator(table.describe.operation).paginate(
            Filters=[{"Name": f"tag:{DEPLOYMENT_TAG}", "Values": [deployment_name()]}],
            PaginationConfig={"PageSize": table.describe.page_size})
        [described] = [r for page in pages for r in table.describe.resources(page)]

        assert table.resource_id(described) == resource_id_of(particle) is not None
        assert type(particle).state_lookup[table.status(described)] is particle.observed_state is State.running
        assert table.snapshot(described) == observation_snapshot(particle)
        assert "Tags" in table.snapshot(described) and set(table.snapshot(described)) <= set(table.snapshot_fields)
