"""How the sizing benchmark projects what it measured to Lambda (``benchmarks.sizing_bench``)."""

from __future__ import annotations

import pytest

from benchmarks.sizing_bench import CALL_SECONDS, Measurement, projected_at, report


def test_cpu_scales_with_the_memory_share_and_each_call_adds_a_round_trip() -> None:
    m = Measurement("plan", 100, cpu_s=1.0, calls=100, peak_mb=100)
    assert m.projected_s(1769) == pytest.approx(1.0 + 100 * CALL_SECONDS)
    assert m.projected_s(128) == pytest.approx(1769 / 128 + 100 * CALL_SECONDS)
    assert m.projected_s(3538) == m.projected_s(1769), "a single thread gains nothing past one vCPU"


def test_a_function_is_extended_linearly_from_its_two_largest_sizes() -> None:
    measured = [Measurement("reconcile", 100, 0.5, 10, 90), Measurement("reconcile", 300, 1.0, 30, 100),
                Measurement("reconcile", 1000, 2.0, 100, 120), Measurement("plan", 1000, 9.0, 9, 9)]
    at = projected_at(measured, "reconcile", 10_000)
    assert at.cpu_s == pytest.approx(2.0 + 1.0 / 700 * 9000)
    assert at.calls == 1_000
    assert at.peak_mb == pytest.approx(120 + 20 / 700 * 9000)


def test_the_report_says_whether_each_size_fits_with_twice_the_headroom() -> None:
    measured = [Measurement("plan", 100, cpu_s=1.0, calls=0, peak_mb=100),
                Measurement("plan", 1000, cpu_s=20.0, calls=0, peak_mb=100)]
    rows = report(measured, {"plan": (60, 512)}, 80).splitlines()[3:]
    assert rows[0].endswith("| yes |"), "3.5 s of 60 s, 100 of 512 MB"
    assert rows[1].endswith("| NO |"), "69 s > 30 s"
