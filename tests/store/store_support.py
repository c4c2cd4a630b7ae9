"""Builders and probes shared by the state store tests."""

from __future__ import annotations

import copy
import threading
from collections import Counter
from typing import Any

from pcf_control_plane.store import Observation, ParticleFlags, ParticleSpec, StateStore

START = 1_700_000_000.0
DEPLOYMENT = "demo"


_MOTO_DYNAMODB_LOCK = threading.RLock()


class FakeClock:
    """Epoch seconds that move only when a test says so; ``sleep`` records and advances."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class CallCounter:
    """Counts the DynamoDB calls a client sends (a botocore ``before-call`` hook) and keeps their API arguments.

    ``before-call`` fires once per request sent (retries included); the arguments as the caller gave them
    come from the ``before-parameter-build`` hook, which fires once per API call.
    """

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.params: list[tuple[str, dict[str, Any]]] = []
        self._events = client.meta.events
        self._events.register("before-call.dynamodb", self._count)
        self._events.register("before-parameter-build.dynamodb", self._keep)

    def __enter__(self) -> CallCounter:
        return self

    def __exit__(self, *_: object) -> None:
        self._events.unregister("before-call.dynamodb", self._count)
        self._events.unregister("before-parameter-build.dynamodb", self._keep)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def _keep(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.params.append((model.name, copy.deepcopy(params)))



def ec2_definition(name: str, instance_type: str = "t3.micro", **extra: Any) -> dict[str, Any]:
    """A realistic EC2 instance definition (about 1 KB as JSON)."""
    return {
        "flavor": "ec2_instance",
        "pcf_name": name,
        "aws_resource": {
            "ImageId": "ami-0123456789abcdef0",
            "InstanceType": instance_type,
            "KeyName": "ops-key",
            "SubnetId": "subnet-0a1b2c3d4e5f67890",
            "SecurityGroupIds": ["sg-0123456789abcdef0", "sg-0fedcba9876543210"],
            "IamInstanceProfile": {"Arn": "arn:aws:iam::123456789012:instance-profile/pcf-worker"},
            "UserData": "#!/bin/bash\nset -euo pipefail\nyum install -y amazon-cloudwatch-agent\n" * 3,
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 30, "VolumeType": "gp3", "Iops": 3000}},
            ],
            "TagSpecifications": [{"ResourceType": "instance", "Tags": [
                {"Key": "PCFName", "Value": name}, {"Key": "pcf:deployment", "Value": DEPLOYMENT},
                {"Key": "team", "Value": "platform"}, {"Key": "cost-center", "Value": "cc-1234"},
            ]}],
            "CpuCredits": 0.5,
        },
        **extra,
    }


def spec(
    pcf_id: str,
    desired_state: str = "running",
    deployment: str = DEPLOYMENT,
    quasiparticle: str | None = None,
    flags: ParticleFlags | None = None,
    **definition_extra: Any,
) -> ParticleSpec:
    """A spec for ``pcf_id`` with a realistic definition."""
    return ParticleSpec(
        pcf_id=pcf_id,
        definition=ec2_definition(pcf_id.rpartition(":")[2], **definition_extra),
        desired_state=desired_state,
        deployment=deployment,
        quasiparticle=quasiparticle,
        flags=flags or ParticleFlags(),
    )


def observation(
    observed_at: float, state: str = "running", resource_id: str | None = "i-0123456789abcdef0", cause: str = "test"
) -> Observation:
    """An observation with the snapshot fields that matter."""
    return Observation(
        state=state,
        observed_at=observed_at,
        resource_id=resource_id,
        cause=cause,
        snapshot={
            "instance_type": "t3.micro",
            "security_groups": ["sg-0123456789abcdef0", "sg-0fedcba9876543210"],
            "tags": {"PCFName": "x", "pcf:deployment": DEPLOYMENT},
            "state": state,
        },
    )


def populate(store: StateStore, count: int) -> list[str]:
    """``count`` particles in deployment ``demo`` (every one observed), and a few elsewhere."""
    ids = [f"ec2_instance:worker-{n:05d}" for n in range(count)]
    for n, pcf_id in enumerate(ids):
        store.put_spec(spec(pcf_id, quasiparticle="distributed_master_worker:big"))
        store.record_observation(pcf_id, observation(1000.0 + n, resource_id=f"i-{n:017x}"))
    for n in range(5):
        store.put_spec(spec(f"ec2_instance:other-{n}", deployment="other"))
    return ids
