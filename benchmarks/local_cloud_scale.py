"""The local cloud at 10,000 particles (issue 13, E8): one call's time with the local cloud's indexes and with
moto's scans (``unindexed()``), side by side, on the same data; and the process CPU of one ``TransactWriteItems``
on tables of 0, 8,000 and 80,000 items with the local cloud's undo journal and with moto's copies of the table
(``moto_copies()``).

The state table is filled as 10,000 particles would fill it (a spec, an observation and 6 history items each:
80,000 items), 10,000 instances are launched one reservation each and 10,000 volumes created, all tagged
``PCFName``/``PCFDeployment``; the fills go straight to moto's backends (the API would take tens of minutes). Each
figure is the mean wall time of ``repeats`` calls through a boto3 client (request signing, moto's parsing and
serialization included).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from moto.dynamodb.models import dynamodb_backends

from pcf_control_plane.store.table import create_table
from pcf_local_cloud.cloud import LocalCloud

CASE = "local cloud at scale"
PARTICLES, QUICK_PARTICLES = 10_000, 1_000
HISTORY_ITEMS = 6
SCANNED_TAG_FILTER_LIMIT = 2_000
"""Above this many instances moto's own tag filter (instances x tags) is not timed: minutes per call."""
TABLE = "pcf-scale-bench"


TRANSACTION_PARTICLES = (0, 1_000, 10_000)
"""Table sizes (in particles, 8 items each) at which a transaction's CPU is measured, up to ``particles``."""


@dataclass
class ScaleResult:
    particles: int
    items: int
    fill_seconds: float
    rows: list[tuple[str, float, float | None]] = field(default_factory=list)
    """(call, ms indexed, ms with moto's scan or ``None`` when not timed)."""
    transactions: list[tuple[int, str, float, float]] = field(default_factory=list)
    """(items in the table, transaction, CPU ms journaled, CPU ms with moto's table copies)."""

    def text(self) -> str:
        lines = [f"Local cloud at scale: {self.items} DynamoDB items, {self.particles} EC2 instances (one "
                 f"reservation each), filled in {self.fill_seconds:.0f} s; mean ms per call",
                 f"  {'call':<58} {'indexed':>9} {'moto scan':>10} {'speed-up':>9}"]
        for name, indexed, scanned in self.rows:
            scan_text = f"{scanned:10.1f}" if scanned is not None else f"{'not run':>10}"
            ratio = f"{scanned / indexed:8.0f}x" if scanned is not None and indexed > 0 else f"{'':>9}"
            lines.append(f"  {name:<58} {indexed:9.1f} {scan_text} {ratio}")
        if self.transactions:
            lines.append("  TransactWriteItems, process CPU ms per transaction (through a boto3 client)")
            lines.append(f"  {'items':>8}  {'transaction':<48} {'journal':>9} {'moto copy':>10} {'speed-up':>9}")
            for items, name, journaled, copied in self.transactions:
                ratio = f"{copied / journaled:8.0f}x" if journaled > 0 else f"{'':>9}"
                lines.append(f"  {items:>8}  {name:<48} {journaled:9.1f} {copied:10.1f} {ratio}")
        return "\n".join(lines)


def _mean_ms(call: Callable[[], Any], repeats: int, context: Callable[[], AbstractContextManager[Any]]) -> float:
    with context():
        call()  # warm: a lazily built index is not what a steady call costs
        began = time.perf_counter()
        for _ in range(repeats):
            call()
        return (time.perf_counter() - began) / repeats * 1000


def _cpu_ms(call: Callable[[], Any], repeats: int, context: Callable[[], AbstractContextManager[Any]]) -> float:
    with context():
        call()
        began = time.process_time()
        for _ in range(repeats):
            call()
        return (time.process_time() - began) / repeats * 1000


def _fill_table(cloud: LocalCloud, particles: int, name: str = TABLE) -> int:
    create_table(cloud.client("dynamodb"), name, sleep=lambda _: None)
    table = dynamodb_backends[cloud.account_id][cloud.region].get_table(name)
    for i in range(particles):
        pcf_id, deployment = f"pcf-{i:06d}", {"S": f"bench#{i % 16}"}
        common = {"pk": {"S": f"P#{pcf_id}"}, "pcf_id": {"S": pcf_id}}
        table.put_item({**common, "sk": {"S": "SPEC"}, "deployment_key": deployment, "quasiparticle": {"S": "q"}})
        table.put_item({**common, "sk": {"S": "OBS"}, "deployment_key": deployment, "state": {"S": "running"},
                        "resource_id": {"S": f"i-{i:017x}"}})
        for h in range(HISTORY_ITEMS):
            table.put_item({**common, "sk": {"S": f"H#{h:03d}"}, "cause": {"S": "bench"}})
    return len(table)


def _launch(cloud: LocalCloud, particles: int) -> list[str]:
    backend = cloud.ec2_backend()
    image = cloud.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return [backend.run_instances(image, 1, None, [], instance_type="t3.micro", is_instance_type_default=False,
                                  region_name=cloud.region,
                                  tags={"instance": {"PCFName": f"bench-{i}", "PCFDeployment": "bench"}}
                                  ).instances[0].id for i in range(particles)]


def _create_volumes(cloud: LocalCloud, particles: int) -> list[str]:
    backend = cloud.ec2_backend()
    zone = f"{cloud.region}a"
    volumes = []
    for i in range(particles):
        volume = backend.create_volume(size=8, zone_name=zone)
        volume.add_tags({"PCFName": f"bench-vol-{i}", "PCFDeployment": "bench"})
        volumes.append(volume.id)
    return volumes


def run(particles: int = PARTICLES, repeats: int = 5) -> ScaleResult:
    """Fill a fresh local cloud for ``particles`` and time each call indexed and with moto's scan."""
    with LocalCloud() as cloud:
        began = time.perf_counter()
        items = _fill_table(cloud, particles)
        ids = _launch(cloud, particles)
        _create_volumes(cloud, particles)
        result = ScaleResult(particles, items, time.perf_counter() - began)
        ddb, ec2 = cloud.client("dynamodb"), cloud.client("ec2")
        middle = particles // 2
        calls: list[tuple[str, Callable[[], Any], Callable[[], AbstractContextManager[Any]], bool]] = [
            ("Query by_resource (GSI) = one instance id", lambda: ddb.query(
                TableName=TABLE, IndexName="by_resource", KeyConditionExpression="resource_id = :r",
                ExpressionAttributeValues={":r": {"S": f"i-{middle:017x}"}}),
             cloud.patches.dynamodb_indexes.unindexed, True),
            ("Query by_deployment (GSI) = one shard, Limit 100", lambda: ddb.query(
                TableName=TABLE, IndexName="by_deployment", KeyConditionExpression="deployment_key = :d",
                ExpressionAttributeValues={":d": {"S": "bench#3"}}, Limit=100),
             cloud.patches.dynamodb_indexes.unindexed, True),
            ("Query table pk = one particle (its 8 items)", lambda: ddb.query(
                TableName=TABLE, KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": f"P#pcf-{middle:06d}"}}),
             cloud.patches.dynamodb_indexes.unindexed, True),
            ("DescribeInstances InstanceIds=[one]", lambda: ec2.describe_instances(InstanceIds=[ids[middle]]),
             cloud.patches.instance_index.unindexed, True),
            ("DescribeInstances instance-id filter, 200 ids", lambda: ec2.describe_instances(
                Filters=[{"Name": "instance-id", "Values": ids[middle:middle + 200]}]),
             cloud.patches.instance_index.unindexed, True),
            ("DescribeInstances tag:PCFName + tag:PCFDeployment", lambda: ec2.describe_instances(
                Filters=[{"Name": "tag:PCFName", "Values": [f"bench-{middle}"]},
                         {"Name": "tag:PCFDeployment", "Values": ["bench"]}]),
             cloud.patches.instance_index.unindexed, particles <= SCANNED_TAG_FILTER_LIMIT),
            ("DescribeInstances tag:PCFDeployment, MaxResults 100 (page 1)", lambda: ec2.describe_instances(
                Filters=[{"Name": "tag:PCFDeployment", "Values": ["bench"]}], MaxResults=100),
             cloud.patches.instance_index.unindexed, particles <= SCANNED_TAG_FILTER_LIMIT),
            ("DescribeVolumes tag:PCFName + tag:PCFDeployment", lambda: ec2.describe_volumes(
                Filters=[{"Name": "tag:PCFName", "Values": [f"bench-vol-{middle}"]},
                         {"Name": "tag:PCFDeployment", "Values": ["bench"]}]),
             cloud.patches.instance_index.unindexed, particles <= SCANNED_TAG_FILTER_LIMIT),
            ("TransactWriteItems, one Put (moto: copies of the table)", lambda: ddb.transact_write_items(
                TransactItems=[{"Put": {"TableName": TABLE, "Item": {"pk": {"S": "P#x"}, "sk": {"S": "H#x"}}}}]),
             cloud.patches.dynamodb_transactions.moto_copies, True),
        ]
        for name, call, unindexed, compare in calls:
            indexed = _mean_ms(call, repeats, nullcontext)
            scanned = _mean_ms(call, max(1, repeats // 2), unindexed) if compare else None
            result.rows.append((name, indexed, scanned))
        for size in [size for size in TRANSACTION_PARTICLES if size <= particles]:
            table = TABLE if size == particles else f"{TABLE}-{size}"
            filled = result.items if table == TABLE else _fill_table(cloud, size, table)
            result.transactions.extend(_transaction_cpu(cloud, table, filled, repeats))
        return result


def _transaction_cpu(cloud: LocalCloud, table: str, items: int, repeats: int) -> list[tuple[int, str, float, float]]:
    """CPU of the shape the control plane commits (an observation update, two history puts, a lease check) on
    ``table``, committed and cancelled (the check fails), with the journal and with moto's copies."""
    ddb = cloud.client("dynamodb")
    serial = iter(range(1 << 30))

    def transaction(lease_free: bool) -> list[dict[str, Any]]:
        n, pk = next(serial), {"S": "P#pcf-bench-txn"}
        return [
            {"Update": {"TableName": table, "Key": {"pk": pk, "sk": {"S": "OBS"}}, "UpdateExpression": "SET seen = :n",
                        "ExpressionAttributeValues": {":n": {"N": str(n)}}}},
            *({"Put": {"TableName": table, "Item": {"pk": pk, "sk": {"S": f"H#{n:09d}#{i}"}}}} for i in range(2)),
            {"ConditionCheck": {"TableName": table, "Key": {"pk": pk, "sk": {"S": "LEASE"}},
                                "ConditionExpression": ("attribute_not_exists(pk)" if lease_free
                                                        else "attribute_exists(pk)")}},
        ]

    def commit() -> None:
        ddb.transact_write_items(TransactItems=transaction(True))

    def cancel() -> None:
        try:
            ddb.transact_write_items(TransactItems=transaction(False))
        except ddb.exceptions.TransactionCanceledException:
            return
        raise AssertionError("the cancelled transaction committed")

    copies = cloud.patches.dynamodb_transactions.moto_copies
    copy_repeats = max(1, min(repeats, 40_000 // max(items, 1)))  # moto's copy: seconds each at 80,000 items
    return [(items, name, _cpu_ms(call, repeats * 4, nullcontext), _cpu_ms(call, copy_repeats, copies))
            for name, call in (("committed: Update + 2 Put + ConditionCheck", commit),
                               ("cancelled: the ConditionCheck fails", cancel))]
