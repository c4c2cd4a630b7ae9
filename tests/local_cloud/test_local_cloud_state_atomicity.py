"""An instance's state changes all at once for every reader: never a name shown with another state's code, never a
state the change only passes through inside the emulation.

moto's response serializer reads ``instance.instance_state`` once per instance and then its ``code`` and its
``name``; the ``instance-state-name``/``-code`` filters read them separately. So the object a reader gets must never
change afterwards. The switch interval is made tiny so that the interpreter swaps threads between almost any two
bytecodes: a change applied in steps is then caught within a few hundred rounds.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from moto.ec2.models import instances as instances_module

from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.dynamodb_atomic import SharedLock
from pcf_local_cloud.ec2_phases import STATE_CODES

AMI = "ami-12345678"
ROUNDS = 150


@pytest.fixture
def tiny_switch_interval() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _launch(cloud: LocalCloud, count: int) -> list[Any]:
    ec2 = cloud.client("ec2")
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=AMI, MinCount=count, MaxCount=count)["Instances"]]
    return [cloud.instance_backend(instance_id) for instance_id in ids]


def _watch(instances: list[Any], done: threading.Event, seen: list[tuple[str, str, int]]) -> None:
    """Read every instance's state as moto's serializer does, until ``done``; record each mixed answer."""
    while not done.is_set():
        for instance in instances:
            state = instance.instance_state
            code, name = state.code, state.name
            if STATE_CODES.get(name) != code:
                seen.append((instance.id, name, code))


def _churn(cloud: LocalCloud, vclock: VirtualClock, instances: list[Any]) -> None:
    """Stop and start every instance, settle the phases on the clock, ``ROUNDS`` times."""
    backend = cloud.ec2_backend()
    ids = [instance.id for instance in instances]
    for step in range(ROUNDS):
        action = backend.stop_instances if step % 2 == 0 else backend.start_instances
        action(ids)
        vclock.advance(30)


@pytest.mark.usefixtures("tiny_switch_interval")
def test_readers_never_see_a_state_name_with_another_states_code(slow_lc: LocalCloud, vclock: VirtualClock) -> None:
    instances = _launch(slow_lc, 4)
    vclock.advance(30)
    done = threading.Event()
    seen: list[tuple[str, str, int]] = []
    readers = [threading.Thread(target=_watch, args=(instances, done, seen)) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        _churn(slow_lc, vclock, instances)
    finally:
        done.set()
        for reader in readers:
            reader.join(30)
    assert seen == []
    assert {instance.state for instance in instances} == {"running"}


def _seen_from_another_thread(instance: Any) -> tuple[str, int]:
    """``(name, code)`` of ``instance`` as a reader in another thread sees it now."""
    seen: list[tuple[str, int]] = []

    def read() -> None:
        state = instance.instance_state
        seen.append((state.name, state.code))

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(10)
    assert seen, "the reader did not answer"
    return seen[0]


def _observe_after_moto_writes(monkeypatch: pytest.MonkeyPatch, instance: Any, seen: list[tuple[str, int]]) -> None:
    """Have another thread read ``instance``'s state at the point where moto's start/stop/terminate/reboot has
    written the new state and builds the state reason: in the middle of the change."""
    real = instances_module.StateReason

    def state_reason(*args: Any, **kwargs: Any) -> Any:
        seen.append(_seen_from_another_thread(instance))
        return real(*args, **kwargs)

    monkeypatch.setattr(instances_module, "StateReason", state_reason)


@pytest.mark.parametrize(("action", "before", "after"), [
    ("stop_instances", "running", "stopping"),
    ("terminate_instances", "running", "shutting-down"),
    ("start_instances", "stopped", "pending"),
])
def test_a_change_under_way_is_not_seen_by_other_threads_until_it_is_whole(
    slow_lc: LocalCloud, vclock: VirtualClock, monkeypatch: pytest.MonkeyPatch, action: str, before: str, after: str
) -> None:
    [instance] = _launch(slow_lc, 1)
    vclock.advance(30)
    if before == "stopped":
        slow_lc.ec2_backend().stop_instances([instance.id])
        vclock.advance(30)
    seen: list[tuple[str, int]] = []
    _observe_after_moto_writes(monkeypatch, instance, seen)

    getattr(slow_lc.ec2_backend(), action)([instance.id])

    assert seen == [(before, STATE_CODES[before])]
    assert _seen_from_another_thread(instance) == (after, STATE_CODES[after])


def test_an_instance_is_never_seen_in_motos_initial_state_while_it_launches(
    slow_lc: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int]] = []
    real = instances_module.Instance.setup_defaults

    def setup_defaults(instance: Any) -> None:  # moto calls it once the instance is in its reservation
        seen.append(_seen_from_another_thread(instance))
        real(instance)

    monkeypatch.setattr(instances_module.Instance, "setup_defaults", setup_defaults)
    _launch(slow_lc, 2)

    assert seen == [("pending", 0), ("pending", 0)]


@pytest.mark.parametrize("change", ["stop", "start", "terminate", "reboot", "force", "hold", "settle"])
def test_a_state_object_a_reader_holds_never_changes(slow_lc: LocalCloud, vclock: VirtualClock, change: str) -> None:
    [instance] = _launch(slow_lc, 1)
    backend = slow_lc.ec2_backend()
    if change != "settle":
        vclock.advance(30)
    if change == "start":
        backend.stop_instances([instance.id])
        vclock.advance(30)
    held = instance.instance_state
    shown = (held.name, held.code)

    {"stop": lambda: backend.stop_instances([instance.id]),
     "start": lambda: backend.start_instances([instance.id]),
     "terminate": lambda: backend.terminate_instances([instance.id]),
     "reboot": lambda: backend.reboot_instances([instance.id]),
     "force": lambda: slow_lc.force_instance_state(instance.id, "stopping"),
     "hold": lambda: slow_lc.hold_pending(instance.id),
     "settle": lambda: vclock.advance(30)}[change]()

    assert (held.name, held.code) == shown
    now = instance.instance_state
    assert STATE_CODES[now.name] == now.code
    if change not in ("reboot",):
        assert now is not held and now.name != shown[0]


def test_a_state_readers_may_hold_refuses_a_change_in_place(slow_lc: LocalCloud) -> None:
    [instance] = _launch(slow_lc, 1)
    with pytest.raises(AttributeError, match="never changed in place"):
        instance.instance_state.name = "stopped"
    assert instance.instance_state.name == "pending"


# -- the shared lock: reads beside each other, a write alone -------------------------------------------------


def _hold(side: Any, entered: threading.Event, release: threading.Event) -> threading.Thread:
    def run() -> None:
        with side():
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_two_reads_hold_the_shared_lock_at_once() -> None:
    lock = SharedLock()
    first, second, release = threading.Event(), threading.Event(), threading.Event()
    threads = [_hold(lock.shared, first, release), _hold(lock.shared, second, release)]
    assert first.wait(5) and second.wait(5)  # the second read did not wait for the first
    release.set()
    for thread in threads:
        thread.join(5)


def test_a_write_waits_for_the_reads_and_holds_new_reads_back() -> None:
    lock = SharedLock()
    reading, read_release = threading.Event(), threading.Event()
    writing, write_release = threading.Event(), threading.Event()
    late_read, late_release = threading.Event(), threading.Event()
    reader = _hold(lock.shared, reading, read_release)
    assert reading.wait(5)
    writer = _hold(lock.exclusive, writing, write_release)
    assert not writing.wait(0.2)  # a read holds the lock
    late = _hold(lock.shared, late_read, late_release)
    assert not late_read.wait(0.2)  # a waiting write keeps new reads out
    read_release.set()
    assert writing.wait(5)
    assert not late_read.wait(0.2)  # the write is alone
    write_release.set()
    assert late_read.wait(5)
    late_release.set()
    for thread in (reader, writer, late):
        thread.join(5)
