"""Reconciliation a page at a time (``Reconciler.begin/page/end``), in-process on the local cloud's EC2: each page
describes only its own resources, in chunks, by id then by name; a drift is left to an ancestor's heal even when the
two are on different pages; a page's memory does not grow with the deployment; starting a run neither repeats nor
overlaps one."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from pcf.particle.aws.ec2.ec2_instance import INSTANCE_TABLE
from pcf.util.aws.tag_specifications import DEFAULT_DEPLOYMENT
from pcf_control_plane.healing import Healer
from pcf_control_plane.reconcile import Reconciler
from pcf_control_plane.reconcile_describe import FILTER_VALUES_MAX
from pcf_control_plane.reconcile_items import PageRequest, RunRequest
from pcf_control_plane.reconcile_start import execution_name, start_run
from pcf_control_plane.store import InMemoryStateStore, Observation, ParticleSpec

DEPLOYMENT = DEFAULT_DEPLOYMENT  # the tag a definition expects when no PCF_DEPLOYMENT is set
RUN = "arn:aws:states:us-east-1:123456789012:execution:pcf-serverless-dev-reconcile:run"


def seed(ec2: Any, store: InMemoryStateStore, ami_id: str, count: int, *, prefix: str = "n",
         parents: dict[int, int] | None = None, observed: bool = True) -> list[str]:
    """``count`` running instances of the deployment with their specs (and observations with their ids)."""
    found = ec2.run_instances(ImageId=ami_id, MinCount=count, MaxCount=count, InstanceType="t3.micro",
                              TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                  {"Key": "PCFDeployment", "Value": DEPLOYMENT}]}])["Instances"]
    ids = []
    for n, instance in enumerate(found):
        name = f"{prefix}{n:04d}"
        ec2.create_tags(Resources=[instance["InstanceId"]], Tags=[{"Key": "PCFName", "Value": name}])
        pcf_id = f"ec2_instance:{name}"
        parent = [f"ec2_instance:{prefix}{parents[n]:04d}"] if parents and n in parents else []
        store.put_spec(ParticleSpec(pcf_id=pcf_id, deployment=DEPLOYMENT, desired_state="running", definition={
            "flavor": "ec2_instance", "pcf_name": name, "parents": parent, "children": [],
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                             "custom_config": {"instance_name": name}}}))
        if observed:
            store.record_observation(pcf_id, Observation(
                state="running", observed_at=1.0, resource_id=instance["InstanceId"], cause="seed",
                snapshot=INSTANCE_TABLE.snapshot(instance)))
        ids.append(pcf_id)
    return ids


class Describes:
    """The filters of every DescribeInstances call made with ``ec2``."""

    def __init__(self, ec2: Any) -> None:
        self.filters: list[dict[str, list[str]]] = []
        ec2.meta.events.register("provide-client-params.ec2.DescribeInstances", self._seen)

    def _seen(self, params: dict[str, Any], **_: Any) -> None:
        self.filters.append({f["Name"]: list(f["Values"]) for f in params.get("Filters", [])})


def test_a_page_describes_only_its_particles_by_id_in_chunks_then_the_missing_by_name(
        cloud: Any, ec2: Any, ami_id: str) -> None:
    store = InMemoryStateStore()
    ids = seed(ec2, store, ami_id, 450)
    unobserved = seed(ec2, store, ami_id, 3, prefix="u", observed=False)
    seed(ec2, store, ami_id, 40, prefix="z")  # on the next page
    reconciler = Reconciler(store, ec2, None, deployment=DEPLOYMENT, page_size=453)
    first, second = reconciler.begin(RunRequest(execution=RUN, cause="reconcile:t", act=False)).pages
    calls = Describes(ec2)

    stats = reconciler.page(PageRequest(execution=RUN, index=0, page=first, cause="reconcile:t", act=False))

    by_id = [f["instance-id"] for f in calls.filters if "instance-id" in f]
    by_name = [f["tag:PCFName"] for f in calls.filters if "tag:PCFName" in f]
    assert [len(chunk) for chunk in by_id] == [FILTER_VALUES_MAX, FILTER_VALUES_MAX, 50]
    assert by_name == [[pcf_id.split(":")[1] for pcf_id in unobserved]]
    assert all(f["tag:PCFDeployment"] == [DEPLOYMENT] for f in calls.filters)
    assert (stats.particles, stats.ec2_calls, stats.drifted) == (453, 4, 0)
    assert second.count == 40 and set(ids + unobserved) == {r.pcf_id for r in store.list_range(DEPLOYMENT, first)}


def test_a_drifted_child_on_another_page_is_left_to_its_drifted_parents_heal(
        cloud: Any, ec2: Any, ami_id: str) -> None:
    store = InMemoryStateStore()
    ids = seed(ec2, store, ami_id, 4, parents={1: 0, 2: 1, 3: 2})  # a chain: n0 <- n1 <- n2 <- n3
    instance = {pcf_id: store.get_observation(pcf_id).resource_id for pcf_id in ids}
    ec2.stop_instances(InstanceIds=[instance[ids[0]], instance[ids[2]], instance[ids[3]]])  # n1 still runs
    started: list[str] = []
    healer = Healer(store, lambda name, _: started.append(name) or f"arn:{name}", wait_seconds=0)

    report = Reconciler(store, ec2, healer, deployment=DEPLOYMENT, page_size=1, heal_batch=2).run("reconcile:x")

    outcomes = {d.pcf_id: d.outcome for d in report.drifted}
    assert outcomes == {ids[0]: "started", ids[2]: "covered by an ancestor's heal",
                        ids[3]: "covered by an ancestor's heal"}
    assert len(started) == 1 and report.particles == 4 and report.ec2_calls == 4


def _page_peak(ec2: Any, store: InMemoryStateStore, pages: int) -> int:
    reconciler = Reconciler(store, ec2, None, deployment=DEPLOYMENT, page_size=100)
    listed = reconciler.begin(RunRequest(execution=f"{RUN}-{pages}", cause="reconcile:m", act=False)).pages
    assert len(listed) == pages
    tracemalloc.start()
    try:
        reconciler.page(PageRequest(execution=f"{RUN}-{pages}", index=0, page=listed[0], cause="reconcile:m",
                                    act=False))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_pages_memory_does_not_grow_with_the_deployment(cloud: Any, ec2: Any, ami_id: str) -> None:
    store = InMemoryStateStore()
    seed(ec2, store, ami_id, 100)
    small = _page_peak(ec2, store, 1)
    seed(ec2, store, ami_id, 700, prefix="m")
    assert _page_peak(ec2, store, 8) < 1.5 * small  # the same page of 100, in a deployment 8 times larger


class FakeSfn:
    """``ListExecutions``/``StartExecution`` as Step Functions answers them, for one machine."""

    class exceptions:
        class ExecutionAlreadyExists(Exception):
            pass

    def __init__(self, running: list[str]) -> None:
        self.running, self.started = running, []

    def list_executions(self, **params: Any) -> dict[str, Any]:
        assert params["statusFilter"] == "RUNNING"
        return {"executions": [{"executionArn": arn, "name": arn.rsplit(":", 1)[-1]} for arn in self.running]}

    def start_execution(self, **params: Any) -> dict[str, Any]:
        if params["name"] in self.started:
            raise self.exceptions.ExecutionAlreadyExists(params["name"])
        self.started.append(params["name"])
        return {"executionArn": f"{MACHINE.replace(':stateMachine:', ':execution:')}:{params['name']}"}


MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:pcf-serverless-dev-reconcile"


@pytest.mark.parametrize("running", [[], ["other"]])
def test_a_redelivered_schedule_event_starts_nothing_more(running: list[str]) -> None:
    sfn = FakeSfn([])
    name = execution_name("5c2d1b0e-0000-4000-8000-000000000001")
    first = start_run(sfn, MACHINE, name, act=True, cause="reconcile:e")
    sfn.running = [first.execution] if not running else []
    again = start_run(sfn, MACHINE, name, act=True, cause="reconcile:e")
    assert (first.status, again.status, again.execution) == ("started", "duplicate", first.execution)
    assert sfn.started == [name]


def test_a_run_still_running_is_not_overlapped() -> None:
    sfn = FakeSfn([f"{MACHINE.replace(':stateMachine:', ':execution:')}:reconcile-earlier"])
    result = start_run(sfn, MACHINE, execution_name("later"), act=True, cause="reconcile:later")
    assert result.status == "skipped" and "reconcile-earlier is still running" in result.reason
    assert sfn.started == []
