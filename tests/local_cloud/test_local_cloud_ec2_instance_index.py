"""The local cloud's instance-id index and per-resource tag reads give exactly moto's answers (issue 13, E8).

Each example launches, stops, starts, terminates, tags and untags instances at random and, after every change,
compares ``DescribeInstances`` by ``InstanceIds`` (unknown ids included: ``InvalidInstanceID.NotFound``), by the
``instance-id`` filter (unknown ids: nothing) and by ``tag:`` filters with moto's own scans (``unindexed()``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcf_local_cloud.cloud import LocalCloud

PROPERTY_SETTINGS = settings(max_examples=25, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])
UNKNOWN = "i-0123456789abcdef0"
NAMES = ["web", "db", "cache"]
PICK = st.integers(0, 50)
OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("run"), st.integers(1, 3), st.sampled_from(NAMES)),
    st.tuples(st.sampled_from(["stop", "start", "terminate", "untag"]), PICK),
    st.tuples(st.just("tag"), PICK, st.sampled_from(NAMES)),
), min_size=1, max_size=8)
LOOKUPS = st.lists(st.tuples(st.sampled_from(["ids", "filter", "tag", "filter+state"]),
                             st.lists(PICK, max_size=3), st.booleans(), st.sampled_from(NAMES)),
                   min_size=1, max_size=4)


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as local:
        yield local


def _image(ec2: Any) -> str:
    return str(ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])


def _run(ec2: Any, count: int, name: str) -> list[str]:
    answer = ec2.run_instances(ImageId=_image(ec2), MinCount=count, MaxCount=count, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "PCFName", "Value": name},
                                              {"Key": "PCFDeployment", "Value": "d"}]}])
    return [instance["InstanceId"] for instance in answer["Instances"]]


def change(ec2: Any, launched: list[str], operation: tuple[Any, ...]) -> None:
    kind = operation[0]
    if kind == "run":
        launched.extend(_run(ec2, operation[1], operation[2]))
        return
    if not launched:
        return
    instance_id = launched[operation[1] % len(launched)]
    try:
        if kind == "stop":
            ec2.stop_instances(InstanceIds=[instance_id])
        elif kind == "start":
            ec2.start_instances(InstanceIds=[instance_id])
        elif kind == "terminate":
            ec2.terminate_instances(InstanceIds=[instance_id])
        elif kind == "tag":
            ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "PCFName", "Value": operation[2]}])
        else:
            ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": "PCFName"}])
    except ClientError as error:
        assert error.response["Error"]["Code"] == "IncorrectInstanceState"


def describe(ec2: Any, launched: list[str], lookup: tuple[Any, ...]) -> dict[str, Any]:
    """``DescribeInstances`` as ``lookup`` asks, every page: the reservations, or the error code."""
    kind, picks, with_unknown, name = lookup
    ids = list(dict.fromkeys(launched[pick % len(launched)] for pick in picks)) if launched else []
    ids += [UNKNOWN] if with_unknown or not ids else []
    if kind == "ids":
        request: dict[str, Any] = {"InstanceIds": ids}
    elif kind == "filter":
        request = {"Filters": [{"Name": "instance-id", "Values": ids}]}
    elif kind == "filter+state":
        request = {"Filters": [{"Name": "instance-id", "Values": ids},
                               {"Name": "instance-state-name", "Values": ["running", "pending"]}]}
    else:
        request = {"Filters": [{"Name": "tag:PCFName", "Values": [name]},
                               {"Name": "tag:PCFDeployment", "Values": ["d"]}]}
    try:
        pages = list(ec2.get_paginator("describe_instances").paginate(**request))
    except ClientError as error:
        return {"error": error.response["Error"]["Code"]}
    return {"reservations": [reservation for page in pages for reservation in page["Reservations"]]}


def assert_same_answers(cloud: LocalCloud, launched: list[str], lookups: list[tuple[Any, ...]]) -> None:
    ec2 = cloud.client("ec2")
    for lookup in lookups:
        indexed = describe(ec2, launched, lookup)
        with cloud.patches.instance_index.unindexed():
            scanned = describe(ec2, launched, lookup)
        assert indexed == scanned, lookup


@PROPERTY_SETTINGS
@given(operations=OPERATIONS, lookups=LOOKUPS)
def test_every_lookup_answers_as_moto_scan_after_every_change(
    cloud: LocalCloud, operations: list[tuple[Any, ...]], lookups: list[tuple[Any, ...]]
) -> None:
    ec2 = cloud.client("ec2")
    launched: list[str] = []
    assert_same_answers(cloud, launched, lookups)
    for operation in operations:
        change(ec2, launched, operation)
        assert_same_answers(cloud, launched, lookups)


def test_an_unknown_id_fails_by_instance_ids_and_is_ignored_by_the_filter(cloud: LocalCloud) -> None:
    ec2 = cloud.client("ec2")
    known = _run(ec2, 1, "web")[0]

    with pytest.raises(ClientError) as refused:
        ec2.describe_instances(InstanceIds=[known, UNKNOWN])
    filtered = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [known, UNKNOWN]}])

    assert refused.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    assert UNKNOWN in refused.value.response["Error"]["Message"]
    assert [i["InstanceId"] for r in filtered["Reservations"] for i in r["Instances"]] == [known]


def test_a_terminated_instance_is_still_found_by_id_as_moto_keeps_showing_it(cloud: LocalCloud) -> None:
    ec2 = cloud.client("ec2")
    first, second = _run(ec2, 2, "db")
    ec2.describe_instances(InstanceIds=[first])  # the index knows the reservation

    ec2.terminate_instances(InstanceIds=[first])
    answer = ec2.describe_instances(InstanceIds=[first, second])

    states = {i["InstanceId"]: i["State"]["Name"] for r in answer["Reservations"] for i in r["Instances"]}
    assert states == {first: "terminated", second: "running"}


def test_instances_launched_after_the_index_was_built_are_found_without_a_rebuild(cloud: LocalCloud) -> None:
    ec2 = cloud.client("ec2")
    index = cloud.patches.instance_index
    ec2.describe_instances(InstanceIds=_run(ec2, 1, "web"))
    rebuilds = index.rebuilds

    later = [_run(ec2, 1, "cache")[0] for _ in range(3)]
    answer = ec2.describe_instances(InstanceIds=later)

    assert [i["InstanceId"] for r in answer["Reservations"] for i in r["Instances"]] == later
    assert index.rebuilds == rebuilds


def test_a_reservation_moto_no_longer_holds_is_not_answered_from_the_index(cloud: LocalCloud) -> None:
    ec2 = cloud.client("ec2")
    gone, kept = _run(ec2, 1, "web")[0], _run(ec2, 1, "web")[0]
    ec2.describe_instances(InstanceIds=[gone, kept])
    reservations = cloud.ec2_backend().reservations
    removed_id = next(rid for rid, r in reservations.items() if any(i.id == gone for i in r.instances))
    removed = reservations.pop(removed_id)
    try:
        with pytest.raises(ClientError, match=r"InvalidInstanceID\.NotFound"):
            ec2.describe_instances(InstanceIds=[gone])
        assert ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [gone]}])["Reservations"] == []
        assert len(ec2.describe_instances(InstanceIds=[kept])["Reservations"]) == 1
    finally:
        reservations[removed_id] = removed


def test_a_tag_read_is_given_only_the_tags_of_its_resource(cloud: LocalCloud) -> None:
    ec2 = cloud.client("ec2")
    first, second = _run(ec2, 2, "cache")
    backend = cloud.ec2_backend()

    tags = backend.describe_tags(filters={"resource-id": [first]})
    wildcard = backend.describe_tags(filters={"resource-id": [first[:-1] + "*"]})
    with cloud.patches.instance_index.unindexed():
        scanned = backend.describe_tags(filters={"resource-id": [first]})

    assert tags == scanned
    assert {tag["resource_id"] for tag in tags} == {first}
    assert {(tag["key"], tag["value"]) for tag in tags} == {("PCFName", "cache"), ("PCFDeployment", "d")}
    assert first in {tag["resource_id"] for tag in wildcard}
    assert second not in {tag["resource_id"] for tag in tags}
