"""The local cloud's EC2 tag index gives exactly moto's answers to tag-filtered describes (issue 13, E8).

Each example launches, tags, untags, stops, terminates instances and creates, tags and deletes volumes at random
and, after every change, compares ``DescribeInstances`` (every page) and ``DescribeVolumes`` with ``tag:`` filters
(literal values, several values, a wildcard, with another filter) with moto's own scans (``unindexed()``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcf_local_cloud import ec2_tag_index
from pcf_local_cloud.cloud import LocalCloud

PROPERTY_SETTINGS = settings(max_examples=20, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])
NAMES = ["web", "db", "Web"]
DEPLOYMENTS = ["d", "e"]
ZONE = "us-east-1a"
PICK = st.integers(0, 50)
OPERATIONS = st.lists(st.one_of(
    st.tuples(st.sampled_from(["run", "volume"]), st.integers(1, 2), st.sampled_from(NAMES),
              st.sampled_from(DEPLOYMENTS)),
    st.tuples(st.sampled_from(["tag", "untag-value"]), PICK, st.sampled_from(NAMES), st.booleans()),
    st.tuples(st.sampled_from(["untag", "retag-deployment", "terminate", "stop", "delete-volume"]), PICK,
              st.booleans()),
), min_size=1, max_size=8)
LOOKUPS = st.lists(st.tuples(
    st.lists(st.sampled_from([*NAMES, "w*", "nobody"]), min_size=1, max_size=2, unique=True),
    st.sampled_from([None, *DEPLOYMENTS]),
    st.sampled_from(["instances", "instances+state", "volumes", "volumes+status"]),
), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as local:
        yield local


def _tags(name: str, deployment: str) -> list[dict[str, str]]:
    return [{"Key": "PCFName", "Value": name}, {"Key": "PCFDeployment", "Value": deployment}]


def change(ec2: Any, made: dict[str, list[str]], operation: tuple[Any, ...]) -> None:
    kind = operation[0]
    if kind == "run":
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        answer = ec2.run_instances(ImageId=image, MinCount=operation[1], MaxCount=operation[1], TagSpecifications=[
            {"ResourceType": "instance", "Tags": _tags(operation[2], operation[3])}])
        made["instances"] += [instance["InstanceId"] for instance in answer["Instances"]]
        return
    if kind == "volume":
        for _ in range(operation[1]):
            made["volumes"].append(ec2.create_volume(Size=8, AvailabilityZone=ZONE, TagSpecifications=[
                {"ResourceType": "volume", "Tags": _tags(operation[2], operation[3])}])["VolumeId"])
        return
    on_volume = kind == "delete-volume" or bool(operation[-1])
    pool = made["volumes"] if on_volume else made["instances"]
    if not pool:
        return
    resource = pool[operation[1] % len(pool)]
    try:
        if kind == "tag":
            ec2.create_tags(Resources=[resource], Tags=[{"Key": "PCFName", "Value": operation[2]}])
        elif kind == "untag-value":
            ec2.delete_tags(Resources=[resource], Tags=[{"Key": "PCFName", "Value": operation[2]}])
        elif kind == "untag":
            ec2.delete_tags(Resources=[resource], Tags=[{"Key": "PCFName"}])
        elif kind == "retag-deployment":
            ec2.create_tags(Resources=[resource], Tags=[{"Key": "PCFDeployment", "Value": "e"}])
        elif kind == "delete-volume":
            ec2.delete_volume(VolumeId=resource)
            pool.remove(resource)
        elif not on_volume:
            (ec2.terminate_instances if kind == "terminate" else ec2.stop_instances)(InstanceIds=[resource])
    except ClientError as error:
        assert error.response["Error"]["Code"] == "IncorrectInstanceState"


def describe(ec2: Any, lookup: tuple[Any, ...]) -> list[Any]:
    """The answer to ``lookup``, every page (instances two reservations a page)."""
    names, deployment, kind = lookup
    filters = [{"Name": "tag:PCFName", "Values": names}]
    filters += [{"Name": "tag:PCFDeployment", "Values": [deployment]}] if deployment else []
    if kind == "instances+state":
        filters.append({"Name": "instance-state-name", "Values": ["running", "pending"]})
    if kind == "volumes+status":
        filters.append({"Name": "status", "Values": ["available"]})
    if kind.startswith("volumes"):
        return list(ec2.describe_volumes(Filters=filters)["Volumes"])
    pages = ec2.get_paginator("describe_instances").paginate(Filters=filters, PaginationConfig={"PageSize": 5})
    return [reservation for page in pages for reservation in page["Reservations"]]


def assert_same_answers(cloud: LocalCloud, lookups: list[tuple[Any, ...]]) -> None:
    ec2 = cloud.client("ec2")
    for lookup in lookups:
        indexed = describe(ec2, lookup)
        with cloud.patches.instance_index.unindexed():
            scanned = describe(ec2, lookup)
        assert indexed == scanned, lookup


@PROPERTY_SETTINGS
@given(operations=OPERATIONS, lookups=LOOKUPS)
def test_every_tag_filter_answers_as_moto_scan_after_every_change(
    cloud: LocalCloud, operations: list[tuple[Any, ...]], lookups: list[tuple[Any, ...]]
) -> None:
    ec2 = cloud.client("ec2")
    made: dict[str, list[str]] = {"instances": [], "volumes": []}
    assert_same_answers(cloud, lookups)
    for operation in operations:
        change(ec2, made, operation)
        assert_same_answers(cloud, lookups)


def test_a_name_lookup_considers_only_the_resources_with_that_name(cloud: LocalCloud) -> None:
    ec2 = cloud.client("ec2")
    made: dict[str, list[str]] = {"instances": [], "volumes": []}
    for index in range(6):
        change(ec2, made, ("run", 1, f"only-{index}", "d"))
        change(ec2, made, ("volume", 1, f"only-{index}", "d"))
    backend, index = cloud.ec2_backend(), cloud.patches.tag_index
    filters = {"tag:PCFName": ["only-3"], "tag:PCFDeployment": ["d"]}

    reservations = index.reservations(backend, filters)
    volumes = index.volumes(backend, filters)

    assert reservations is not None and [i.id for r in reservations for i in r.instances] == [made["instances"][3]]
    assert volumes is not None and [volume.id for volume in volumes] == [made["volumes"][3]]
    assert index.reservations(backend, {"tag:PCFName": ["only-*"]}) is None  # a wildcard: moto scans
    assert index.volumes(backend, {"tag:PCFName": ["only-3"], "tag:PCFDeployment": ["e"]}) == []


def test_the_comparison_catches_an_index_that_misses_a_tag_change(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2 = cloud.client("ec2")
    made: dict[str, list[str]] = {"instances": [], "volumes": []}
    change(ec2, made, ("run", 1, "stale-before", "d"))
    lookup = (["stale-after"], "d", "instances")
    assert_same_answers(cloud, [lookup])  # the index is built now
    monkeypatch.setattr(ec2_tag_index._BackendTags, "refresh", lambda self, resource_id: None)

    change(ec2, made, ("tag", 0, "stale-after", False))

    with pytest.raises(AssertionError):
        assert_same_answers(cloud, [lookup])
    monkeypatch.undo()
    change(ec2, made, ("tag", 0, "stale-after", False))  # the next write re-reads the resource from moto
    assert_same_answers(cloud, [lookup])
    assert len(describe(ec2, lookup)) == 1


def test_a_reset_backend_is_indexed_afresh(cloud: LocalCloud) -> None:
    ec2 = cloud.client("ec2")
    made: dict[str, list[str]] = {"instances": [], "volumes": []}
    change(ec2, made, ("volume", 1, "kept", "d"))
    assert [v["VolumeId"] for v in describe(ec2, (["kept"], "d", "volumes"))] == made["volumes"]
    builds = cloud.patches.tag_index.builds

    cloud.ec2_backend().reset()  # moto's reset: the same backend object with a new, empty tag store

    assert describe(ec2, (["kept"], "d", "volumes")) == []
    change(ec2, made, ("volume", 1, "kept", "d"))
    assert [v["VolumeId"] for v in describe(ec2, (["kept"], "d", "volumes"))] == made["volumes"][1:]
    assert cloud.patches.tag_index.builds == builds + 1
