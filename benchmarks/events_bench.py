"""Events, healing and reconciliation on the local cloud: AWS calls per event and per 1,000 particles per
reconciliation, reconciliation throughput against Lambda's 15-minute limit, event-to-healing-start latency.

    PYTHONPATH=chalicelib:. .venv/bin/python -m benchmarks.events_bench              # 10,000 particles
    PYTHONPATH=chalicelib:. .venv/bin/python -m benchmarks.events_bench --quick      # 1,000 particles

Calls are counted at the botocore layer of the local cloud's clients (what the deployed functions would send
to AWS), by service. The particles of the reconciliation case are written straight into the store and EC2
(the plan step is not what is measured); every instance is tagged with the deployment, as the framework tags
what it creates. Figures are printed, never asserted: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import threading
import time
from collections import Counter
from typing import Any

LAMBDA_LIMIT_SECONDS = 15 * 60
DEPLOYMENT = "bench-events"
AMI = "ami-03cf127a"


class ServiceCalls:
    """AWS calls made through a ``ClientFactory`` by the measuring thread, by service (a botocore ``before-call``
    hook). The functions invoked run in the invoking thread (the local cloud's in-process Lambda), while
    executions they start run in threads of their own: those calls are not the function's and are left out."""

    def __init__(self, factory: Any) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._thread = threading.get_ident()
        factory.add_hook(self._register)

    def _register(self, service: str, client: Any) -> None:
        client.meta.events.register("before-call", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        if threading.get_ident() != self._thread:
            return
        with self._lock:
            self.calls[model.service_model.service_name] += 1

    def take(self) -> Counter[str]:
        with self._lock:
            taken, self.calls = self.calls, Counter()
        return taken


def quiet() -> None:
    for name, value in (("POWERTOOLS_METRICS_DISABLED", "1"), ("POWERTOOLS_TRACE_DISABLED", "1"),
                        ("POWERTOOLS_LOG_LEVEL", "ERROR")):
        os.environ[name] = value
    logging.disable(logging.CRITICAL)


def ec2_event(instance_id: str, state: str, at: float) -> dict[str, Any]:
    """An instance state change as EventBridge delivers it, built as the local cloud builds its own."""
    from pcf_local_cloud.ec2_events import ec2_arn
    from pcf_local_cloud.event_bus import aws_event, envelope

    account = "123456789012"
    return aws_event(envelope(account=account, region="us-east-1", source="aws.ec2",
                              detail_type="EC2 Instance State-change Notification",
                              detail={"instance-id": instance_id, "state": state},
                              resources=[ec2_arn("us-east-1", account, f"instance/{instance_id}")], time=at))


def invoke(cloud: Any, function: str, payload: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    response = cloud.client("lambda").invoke(FunctionName=f"pcf-serverless-dev-{function}",
                                             Payload=json.dumps(payload).encode())
    elapsed = time.perf_counter() - started
    body = json.loads(response["Payload"].read())
    if "FunctionError" in response:
        raise RuntimeError(f"{function} failed: {body}")
    return body, elapsed


def event_case(cloud: Any, deployment: Any, counter: ServiceCalls, repeats: int) -> dict[str, Any]:
    """Calls per event with and without a heal; event-to-heal-start latency (the handler's whole call)."""
    from pcf_control_plane import wiring

    definition = {"pcf_name": "ev", "flavor": "quasiparticle", "particles": [
        {"pcf_name": f"n{i}", "flavor": "ec2_instance", "heal": i % 2 == 0,
         "aws_resource": {"ImageId": AMI, "InstanceType": "t3.micro", "custom_config": {"instance_name": f"ev-{i}"}}}
        for i in range(2 * repeats)]}
    result = deployment.run_execution("apply", {"definition": definition, "desired_state": "running",
                                                "wait_seconds": 0, "max_polls": 30}, name="events-up", timeout_s=600)
    if result.status != "SUCCEEDED":
        raise RuntimeError(f"setup failed: {result.output}")
    store = wiring.control_plane().store
    healing, recording, latencies = [], [], []
    for i in range(2 * repeats):
        instance_id = store.get_observation(f"ec2_instance:n{i}").resource_id
        counter.take()
        body, elapsed = invoke(cloud, "on_ec2_event", ec2_event(instance_id, "stopped", time.time() + 60 + i))
        calls = counter.take()
        calls.pop("lambda", None)  # the benchmark's own invocation, not the function's
        (healing if body["heal"]["status"] == "started" else recording).append(calls)
        if body["heal"]["status"] == "started":
            latencies.append(elapsed)
    return {"heal": _mean_calls(healing), "no_heal": _mean_calls(recording),
            "latency_ms": statistics.median(latencies) * 1000 if latencies else None, "events": 2 * repeats}


def _mean_calls(samples: list[Counter[str]]) -> dict[str, float]:
    services = sorted({service for sample in samples for service in sample})
    return {service: sum(sample[service] for sample in samples) / len(samples) for service in services}


def seed_particles(cloud: Any, store: Any, count: int) -> None:
    """``count`` running instances tagged with the deployment and their names, with their specs and observations
    stored."""
    from pcf.particle.aws.ec2.ec2_instance import INSTANCE_TABLE
    from pcf_control_plane.store import Observation, ParticleSpec

    ec2 = cloud.client("ec2")
    made = 0
    while made < count:
        batch = min(1000, count - made)
        reservation = ec2.run_instances(ImageId=AMI, MinCount=batch, MaxCount=batch, InstanceType="t3.micro",
                                        TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                            {"Key": "PCFDeployment", "Value": DEPLOYMENT}]}])
        for offset, instance in enumerate(reservation["Instances"]):
            pcf_id = f"ec2_instance:r{made + offset}"
            name_tag = [{"Key": "PCFName", "Value": f"r{made + offset}"}]
            ec2.create_tags(Resources=[instance["InstanceId"]], Tags=name_tag)  # as an apply tags it: no drift
            instance = {**instance, "Tags": [*instance.get("Tags", []), *name_tag]}
            store.put_spec(ParticleSpec(pcf_id=pcf_id, deployment=DEPLOYMENT, desired_state="running", definition={
                "flavor": "ec2_instance", "pcf_name": f"r{made + offset}", "parents": [], "children": [],
                "aws_resource": {"ImageId": AMI, "InstanceType": "t3.micro",
                                 "custom_config": {"instance_name": f"r{made + offset}"}}}))
            store.record_observation(pcf_id, Observation(
                state="running", observed_at=time.time(), resource_id=instance["InstanceId"], cause="bench",
                snapshot=INSTANCE_TABLE.snapshot(instance)))
        made += batch
        print(f"  seeded {made}/{count}", file=sys.stderr)


def reconcile_case(cloud: Any, counter: ServiceCalls, count: int) -> dict[str, Any]:
    """Two passes over ``count`` particles (the first fills snapshots; the second is the steady state), with
    a stopped instance and a changed type to find."""
    from pcf_control_plane import wiring

    store = wiring.control_plane().store
    started = time.perf_counter()
    seed_particles(cloud, store, count)
    seeding = time.perf_counter() - started
    ec2 = cloud.client("ec2")
    first_id = store.get_observation("ec2_instance:r0").resource_id
    second_id = store.get_observation("ec2_instance:r1").resource_id
    passes = []
    for number in (1, 2):
        if number == 2:
            ec2.stop_instances(InstanceIds=[first_id])
            ec2.modify_instance_attribute(InstanceId=second_id, InstanceType={"Value": "t3.large"})
        counter.take()
        summary, elapsed = reconcile_steps(cloud, f"pass-{number}")
        calls = counter.take()
        calls.pop("lambda", None)
        passes.append({"seconds": elapsed, "calls": dict(calls), "drifted": summary["drifted"],
                       "written": summary["observations_written"]})
    return {"particles": count, "seeding_s": seeding, "passes": passes}


def reconcile_steps(cloud: Any, name: str) -> tuple[dict[str, Any], float]:
    """A reconciliation run's steps invoked one after another, as the ``reconcile`` machine runs them (its pages one
    at a time here): the run's totals and the time all its invocations took."""
    execution = f"arn:aws:states:us-east-1:123456789012:execution:pcf-serverless-dev-reconcile:{name}"
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:pcf-serverless-dev-reconcile"
    request = {"execution": execution, "cause": f"reconcile:{name}", "act": True}
    begun, elapsed = invoke(cloud, "reconcile_begin", request)
    for index, page in enumerate(begun["pages"]):
        elapsed += invoke(cloud, "reconcile_page", {**request, "index": index, "page": page})[1]
    cursor = None
    while True:
        ended, took = invoke(cloud, "reconcile_end", {"execution": execution, "cursor": cursor, "machine": machine})
        elapsed += took
        if ended["cursor"] is None:
            return ended["summary"], elapsed
        cursor = ended["cursor"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 particles and 4 events")
    parser.add_argument("--particles", type=int, help="particles for the reconciliation case (default 10,000)")
    args = parser.parse_args(argv)
    quiet()
    from pcf_local_cloud import LocalCloud, RealClock
    from pcf_local_cloud.control_plane import deploy_control_plane

    count = args.particles or (1000 if args.quick else 10_000)
    with LocalCloud(clock=RealClock()) as cloud:
        deployment = deploy_control_plane(cloud, environment={"PCF_DEPLOYMENT": DEPLOYMENT,
                                                              "PCF_HEAL_WAIT_SECONDS": "0"})
        counter = ServiceCalls(cloud.client_factory)
        events = event_case(cloud, deployment, counter, repeats=2 if args.quick else 10)
        reconcile = reconcile_case(cloud, counter, count)
    report(events, reconcile)
    return 0


def report(events: dict[str, Any], reconcile: dict[str, Any]) -> None:
    per = 1000 / reconcile["particles"]
    print("## Events")
    print(f"events measured: {events['events']}")
    for kind in ("no_heal", "heal"):
        calls = events[kind]
        print(f"AWS calls per event ({kind.replace('_', ' ')}): {sum(calls.values()):.1f} "
              f"({', '.join(f'{k} {v:.1f}' for k, v in calls.items())}); target <= 3 including the healing start")
    if events["latency_ms"] is not None:
        print(f"event to healing start, in-process (median handler call): {events['latency_ms']:.1f} ms")
    print("\n## Reconciliation")
    print(f"particles: {reconcile['particles']} (seeded in {reconcile['seeding_s']:.1f} s)")
    for number, run in enumerate(reconcile["passes"], 1):
        calls = run["calls"]
        rate = reconcile["particles"] / run["seconds"]
        print(f"pass {number}: {run['seconds']:.2f} s, {rate:.0f} particles/s, "
              f"{run['written']} observations written, {run['drifted']} drifted; "
              f"per 1,000 particles: EC2 {calls.get('ec2', 0) * per:.2f} (target <= 2), "
              f"DynamoDB {calls.get('dynamodb', 0) * per:.2f} (target <= 12), "
              f"Step Functions {calls.get('stepfunctions', 0)}")
    steady = reconcile["passes"][1]
    projection = steady["seconds"] * 10_000 / reconcile["particles"]
    print(f"projected for 10,000 particles: {projection:.0f} s = {projection / LAMBDA_LIMIT_SECONDS:.1%} of "
          f"Lambda's 15-minute limit")


if __name__ == "__main__":
    raise SystemExit(main())
