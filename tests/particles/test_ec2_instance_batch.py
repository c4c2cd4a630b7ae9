"""EC2Instance.sync_states: a level of instances is polled with one describe per tick, not one each."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from pcf.core import State
from pcf.core.pcf_exceptions import TooManyResourceException
from pcf.core.quasiparticle import Quasiparticle
from pcf.particle.aws.ec2.ec2_instance import EC2Instance
from tests.support.ec2_calls import Calls
from tests.support.tags import named


def fleet(ami_id: str, size: int) -> Quasiparticle:
    return Quasiparticle({
        "pcf_name": "fleet", "flavor": "quasiparticle", "desired_state": "running",
        "particles": [{
            "pcf_name": "node", "flavor": "ec2_instance", "multiplier": size,
            "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                             "custom_config": {"instance_name": "node"}},
        }],
    })


def live(ec2: Any) -> list[dict[str, Any]]:
    reservations = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    )["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def test_a_level_is_polled_with_one_describe_per_tick(
    slow_cloud: Any, slow_ec2: Any, known_ami_id: str, runtime: Any
) -> None:
    calls = Calls(slow_cloud)
    quasi = fleet(known_ami_id, 20)
    result = quasi.apply(runtime=runtime)

    assert {o.final_state for o in result.outcomes.values()} == {State.running}
    counts = Counter(calls.names)
    assert counts["RunInstances"] == 20
    polls = max(o.polls for o in result.outcomes.values())
    assert polls >= 4  # the 5 s pending phase was waited through
    # one describe for the first look (by name), then one per tick (by id): not 20 per tick
    assert counts["DescribeInstances"] <= 1 + polls + 1
    assert len(live(slow_ec2)) == 20


def test_batch_falls_back_for_an_instance_gone_behind_its_back(
    cloud: Any, ec2: Any, known_ami_id: str, runtime: Any
) -> None:
    quasi = fleet(known_ami_id, 3)
    quasi.apply(runtime=runtime)
    members = sorted(quasi.members(), key=lambda p: p.pcf_id)
    gone = members[1].get_instance_id()
    ec2.terminate_instances(InstanceIds=[gone])

    errors = EC2Instance.sync_states(members)

    assert errors == {}
    assert [p.state for p in members] == [State.running, State.terminated, State.running]


def test_batch_reports_a_duplicate_name_for_that_particle_only(
    cloud: Any, ec2: Any, known_ami_id: str
) -> None:
    quasi = fleet(known_ami_id, 2)
    for _ in range(2):
        ec2.run_instances(ImageId=known_ami_id, MinCount=1, MaxCount=1, TagSpecifications=[
            {"ResourceType": "instance", "Tags": named("node-0")}])
    members = sorted(quasi.members(), key=lambda p: p.pcf_id)

    errors = EC2Instance.sync_states(members)

    assert set(errors) == {"ec2_instance:node-0"}
    assert isinstance(errors["ec2_instance:node-0"], TooManyResourceException)
    assert members[1].state is State.terminated


@pytest.mark.parametrize("size", [1, 3])
def test_batch_agrees_with_single_syncs(cloud: Any, known_ami_id: str, runtime: Any, size: int) -> None:
    quasi = fleet(known_ami_id, size)
    quasi.apply(runtime=runtime)
    batched = sorted(quasi.members(), key=lambda p: p.pcf_id)
    EC2Instance.sync_states(batched)
    single = sorted(fleet(known_ami_id, size).members(), key=lambda p: p.pcf_id)
    for particle in single:
        particle.sync_state()
    assert [p.current_state_definition["InstanceId"] for p in batched] == \
        [p.current_state_definition["InstanceId"] for p in single]
    assert [p.state for p in batched] == [p.state for p in single] == [State.running] * size
