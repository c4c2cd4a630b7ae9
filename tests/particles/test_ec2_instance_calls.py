"""EC2Instance: EC2 API call budget, and waiting through pending phases on the virtual clock."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from pcf.core import State
from pcf.core.decision import Action
from pcf.core.runtime import EventKind
from pcf.particle.aws.ec2.ec2_instance import EC2Instance
from pcf.util.definition_files import template_root
from tests.support.ec2_calls import Calls

START_BUDGET = 6
PER_POLL_BUDGET = 2


def make_particle(tmp_path: Any, name: str = "web", **resource: Any) -> EC2Instance:
    """A definition that asks for everything sync_state could read: user data, shutdown behavior, tags."""
    template = tmp_path / f"{name}.j2"
    template.write_text("#!/bin/bash\necho {{ role }}\n")
    aws_resource = {
        "ImageId": "ami-12345678",
        "InstanceType": "t2.micro",
        "InstanceInitiatedShutdownBehavior": "stop",
        **resource,
        "custom_config": {
            "instance_name": f"pcf-{name}",
            "tags": {"Team": "a"},
            "userdata_template_file": str(template),
            "userdata_params": {"role": name},
        },
    }
    with template_root(tmp_path):  # a template is read from under the definition's folder
        return EC2Instance({"pcf_name": name, "flavor": "ec2_instance", "aws_resource": aws_resource})


def test_start_from_nothing_stays_within_the_call_budget(cloud: Any, runtime: Any, tmp_path: Any) -> None:
    calls = Calls(cloud)
    particle = make_particle(tmp_path)
    particle.set_desired_state("running")

    outcome = particle.apply(runtime=runtime).outcomes[particle.pcf_id]

    assert outcome.transitions == [Action.start] and outcome.polls == 1  # the wait after the launch
    assert len(calls.names) <= START_BUDGET, calls.names
    assert Counter(calls.names) == {"DescribeInstances": 2, "RunInstances": 1}  # attributes known from the launch


def test_slow_start_waits_on_the_virtual_clock_within_budget(
    slow_cloud: Any, clock: Any, runtime: Any, tmp_path: Any
) -> None:
    calls = Calls(slow_cloud)
    events: list[Any] = []
    runtime.on_event = events.append
    particle = make_particle(tmp_path)
    particle.set_desired_state("running")
    began = time.monotonic()

    outcome = particle.apply(runtime=runtime).outcomes[particle.pcf_id]

    assert time.monotonic() - began < 5.0  # virtual seconds cost no real ones
    assert outcome.final_state is State.running and outcome.transitions == [Action.start]
    assert outcome.polls >= 3  # 0.5 + 0.75 + 1.125 + 1.69 … until 5 virtual seconds have passed
    assert 5.0 <= clock.now() <= 5.0 + 4.0
    observed = [e.state for e in events if e.kind is EventKind.observed]
    assert observed == [State.terminated, State.pending, State.running]
    assert len(calls.names) <= START_BUDGET + PER_POLL_BUDGET * outcome.polls, calls.names
    assert set(calls.names) == {"DescribeInstances", "RunInstances"}


def test_slow_stop_and_terminate_wait_through_their_phases(
    slow_cloud: Any, clock: Any, runtime: Any, tmp_path: Any
) -> None:
    particle = make_particle(tmp_path)
    for desired, action in (("running", Action.start), ("stopped", Action.stop), ("terminated", Action.terminate)):
        before = clock.now()
        particle.set_desired_state(desired)
        outcome = particle.apply(runtime=runtime).outcomes[particle.pcf_id]
        assert outcome.transitions == [action]
        assert outcome.final_state is State[desired]
        assert outcome.polls > 0 and clock.now() - before >= 5.0


def test_a_steady_sync_is_one_describe(cloud: Any, runtime: Any, tmp_path: Any) -> None:
    particle = make_particle(tmp_path)
    particle.set_desired_state("running")
    particle.apply(runtime=runtime)
    calls = Calls(cloud)

    particle.sync_state()
    assert particle.is_state_definition_equivalent()

    assert calls.names == ["DescribeInstances"]


def test_attributes_are_read_only_when_specified_and_unknown(cloud: Any, runtime: Any, tmp_path: Any) -> None:
    make = make_particle(tmp_path)
    make.set_desired_state("running")
    make.apply(runtime=runtime)
    calls = Calls(cloud)

    fresh = make_particle(tmp_path)  # another process: it knows nothing about the instance yet
    fresh.sync_state()
    assert sorted(calls.names) == ["DescribeInstanceAttribute", "DescribeInstanceAttribute", "DescribeInstances"]
    assert fresh.is_state_definition_equivalent()
    calls.reset()
    fresh.sync_state()
    assert calls.names == ["DescribeInstances"]  # known now, within the cache TTL

    bare = EC2Instance(
        {"pcf_name": "web", "flavor": "ec2_instance",
         "aws_resource": {"ImageId": "ami-12345678", "custom_config": {"instance_name": "pcf-web"}}}
    )  # fmt: skip
    calls.reset()
    bare.sync_state()
    assert calls.names == ["DescribeInstances"]
    assert "UserData" not in bare.current_state_definition


def test_no_attribute_reads_while_pending(slow_cloud: Any, runtime: Any, tmp_path: Any) -> None:
    particle = make_particle(tmp_path)
    particle.set_desired_state("running")
    particle.apply(runtime=runtime, sync=False)
    calls = Calls(slow_cloud)
    fresh = make_particle(tmp_path)
    fresh.sync_state()
    assert fresh.state is State.pending
    assert calls.names == ["DescribeInstances"]


@pytest.mark.parametrize("count", [3])
def test_several_particles_start_together_within_budget(cloud: Any, runtime: Any, tmp_path: Any, count: int) -> None:
    from pcf.core.apply_engine import apply_particles

    calls = Calls(cloud)
    particles = [make_particle(tmp_path, f"node{i}") for i in range(count)]
    for particle in particles:
        particle.set_desired_state("running")

    result = apply_particles(particles, runtime=runtime)

    assert all(o.final_state is State.running for o in result.outcomes.values())
    assert len(calls.names) <= START_BUDGET * count
