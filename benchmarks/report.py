"""The targets, and the printed table and details of a benchmark run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.apply_bench import EC2, CaseResult

RATIO_TARGET = 1.5
"""Makespan at most this many critical paths."""
SETUP_CALLS_TARGET = 6.0
"""EC2 calls per particle for a start from nothing, besides its polls."""
CALLS_PER_POLL_TARGET = 2.0
"""EC2 calls per poll of a particle."""


@dataclass(frozen=True)
class Verdict:
    """PASS/FAIL against the targets (information only), with the targets missed."""

    label: str
    missed: tuple[str, ...] = ()


def judge(result: CaseResult) -> Verdict:
    """Compare one result with the targets; baseline cases are not judged."""
    if result.case.baseline:
        return Verdict("baseline")
    missed = []
    if result.ratio > RATIO_TARGET:
        missed.append(f"ratio {result.ratio:.2f} > {RATIO_TARGET}")
    if result.calls_per_particle > result.call_budget_per_particle:
        missed.append(f"EC2 calls/particle {result.calls_per_particle:.2f} > {result.call_budget_per_particle:.2f}")
    if result.not_converged or result.running != result.particles:
        missed.append(f"{result.running}/{result.particles} running")
    return Verdict("FAIL" if missed else "PASS", tuple(missed))


COLUMNS = [
    ("case", "<", 30),
    ("particles", ">", 9),
    ("levels", ">", 6),
    ("workers", ">", 7),
    ("crit.path s", ">", 11),
    ("makespan s", ">", 10),
    ("ratio", ">", 6),
    ("calls/part", ">", 10),
    ("budget/part", ">", 11),
    ("polls/part", ">", 10),
    ("describe/tick", ">", 13),
    ("verdict", "<", 8),
]


def _row(values: Sequence[str]) -> str:
    return "  ".join(f"{value:{align}{width}}" for value, (_, align, width) in zip(values, COLUMNS, strict=True))


def table(results: Sequence[CaseResult]) -> str:
    """One row per case."""
    lines = [_row([name for name, _, _ in COLUMNS])]
    lines.append("-" * len(lines[0]))
    for r in results:
        lines.append(_row([
            r.case.name,
            str(r.particles),
            str(r.levels),
            str(r.case.max_workers),
            f"{r.critical_path:.1f}",
            f"{r.makespan:.2f}",
            f"{r.ratio:.2f}",
            f"{r.calls_per_particle:.2f}",
            f"{r.call_budget_per_particle:.2f}",
            f"{r.polls_per_particle:.2f}",
            f"{r.describes_per_tick:.2f}",
            judge(r).label,
        ]))
    return "\n".join(lines)


def details(result: CaseResult) -> str:
    """Calls by operation, errors, call latency, level durations and poll overshoot of one case."""
    lines = [f"{result.case.name}:"]
    ops = result.calls.by_operation(EC2)
    lines.append("  EC2 calls by operation: " + ", ".join(f"{op} {sum(c.values())}" for op, c in ops.items()))
    errors = result.calls.error_codes(EC2)
    if errors:
        lines.append("  EC2 errors: " + ", ".join(f"{name} x{n}" for name, n in errors.items()))
    others = sorted({svc for (svc, _op, _ph) in result.calls.calls} - {EC2})
    if others:
        lines.append("  other services called: " + ", ".join(others))
    lines.append(
        f"  mean EC2 call latency {1000 * result.calls.mean_latency(EC2):.1f} ms; "
        f"polls {result.polls} (sleeps {result.sleeps}); "
        f"CPU {result.cpu_seconds:.2f} s = {result.cpu_share:.0%} of one core over the makespan"
    )
    lines.append("  level durations s: " + ", ".join(f"{d:.2f}" for d in result.level_durations))
    lines.append(
        f"  level start -> transition (first sync, queueing for a worker or the GIL): "
        f"mean {result.mean_start_delay:.2f} s, max {result.max_start_delay:.2f} s"
    )
    lines.append(
        f"  last transition -> done, beyond the {result.pending_seconds:g} s pending phase: "
        f"mean {result.mean_overshoot:.2f} s, max {result.max_overshoot:.2f} s"
    )
    missed = judge(result).missed
    if missed:
        lines.append("  missed: " + "; ".join(missed))
    if result.not_converged:
        lines.append("  not converged: " + ", ".join(result.not_converged[:10]))
    return "\n".join(lines)


def comparison(parallel: CaseResult, sequential: CaseResult, flat_100: CaseResult | None) -> str:
    """Parallel vs one-after-another, measured side by side, and what that means at 100 particles."""
    speedup = sequential.makespan / parallel.makespan if parallel.makespan else float("inf")
    lines = [
        f"sequential / parallel makespan, {parallel.particles} instances: "
        f"{sequential.makespan:.2f} s / {parallel.makespan:.2f} s = {speedup:.1f}x",
    ]
    per_particle = sequential.makespan / sequential.particles
    if flat_100 is not None:
        projected = per_particle * flat_100.particles
        lines.append(
            f"one after another (as the original PCF), {flat_100.particles} instances would take ~{projected:.0f} s "
            f"= {projected / flat_100.critical_path:.0f}x the critical path; measured parallel: {flat_100.ratio:.2f}x"
        )
    return "\n".join(lines)
