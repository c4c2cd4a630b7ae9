"""VirtualClock and RealClock semantics."""

from __future__ import annotations

import threading
import time

import pytest

from pcf_local_cloud.clock import Clock, RealClock, VirtualClock


def run_threads(count: int, target: object) -> None:
    threads = [threading.Thread(target=target) for _ in range(count)]  # type: ignore[arg-type]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_virtual_clock_starts_where_told_and_stands_still() -> None:
    clock = VirtualClock(start=100.0)
    assert clock.now() == 100.0
    assert clock.now() == 100.0


def test_sleeps_in_one_thread_add_up_without_real_waiting() -> None:
    clock = VirtualClock()
    started = time.monotonic()
    clock.sleep(3600)
    clock.sleep(1800)
    assert clock.now() == 5400
    assert time.monotonic() - started < 1.0


def test_threads_that_sleep_at_the_same_time_advance_the_clock_once() -> None:
    clock = VirtualClock()
    barrier = threading.Barrier(20)

    def worker() -> None:
        clock.now()
        barrier.wait()
        clock.sleep(5)

    run_threads(20, worker)
    assert clock.now() == 5


def test_rounds_of_concurrent_sleeps_advance_once_per_round() -> None:
    clock = VirtualClock()
    barrier = threading.Barrier(10)

    def worker() -> None:
        for _ in range(3):
            clock.now()
            barrier.wait()
            clock.sleep(2)
            barrier.wait()

    run_threads(10, worker)
    assert clock.now() == 6


def test_each_thread_sleeps_from_the_time_it_last_saw() -> None:
    clock = VirtualClock()
    long_sleeper_done = threading.Event()
    woke_at: list[float] = []

    def short_sleeper() -> None:
        clock.now()  # looks at t=0
        long_sleeper_done.wait(5)
        clock.sleep(5)  # 0 + 5: the clock is already at 10, so it stays there
        woke_at.append(clock.now())

    def long_sleeper() -> None:
        clock.now()
        clock.sleep(10)
        long_sleeper_done.set()

    short = threading.Thread(target=short_sleeper)
    short.start()
    long_thread = threading.Thread(target=long_sleeper)
    long_thread.start()
    short.join(5)
    long_thread.join(5)
    assert woke_at == [10]


def test_a_thread_that_never_looked_sleeps_from_the_current_time() -> None:
    clock = VirtualClock()
    clock.advance(100)
    run_threads(1, lambda: clock.sleep(1))
    assert clock.now() == 101


def test_advance_moves_the_clock_and_the_callers_reference() -> None:
    clock = VirtualClock()
    clock.now()
    assert clock.advance(50) == 50
    clock.sleep(1)
    assert clock.now() == 51


def test_negative_durations_are_refused() -> None:
    clock = VirtualClock()
    with pytest.raises(ValueError):
        clock.sleep(-1)
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert clock.now() == 0


def test_sleep_zero_does_not_move_the_clock() -> None:
    clock = VirtualClock(start=7)
    clock.sleep(0)
    assert clock.now() == 7


def test_real_clock_is_monotonic_and_really_sleeps() -> None:
    clock = RealClock()
    before = clock.now()
    clock.sleep(0.01)
    assert clock.now() - before >= 0.01


def test_both_clocks_satisfy_the_protocol() -> None:
    assert isinstance(VirtualClock(), Clock)
    assert isinstance(RealClock(), Clock)
    assert not isinstance(object(), Clock)
