"""The benchmarks' history readers on synthetic Step Functions histories, and their definition builders."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from benchmarks import definitions, sfn_history
from benchmarks.import_bench import cumulative_us
from benchmarks.package_bench import requirement_names
from benchmarks.sfn_cases import HistorySize, ParticleTransitions, TransitionsResult, estimate_seconds
from pcf.core.graph import DependencyGraph
from pcf.core.quasiparticle import Quasiparticle

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class History:
    """Builds a history the way Step Functions numbers it: ids from 1, each event pointing at the one before."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, at: float, after: int | None = None, **details: Any) -> int:
        event_id = len(self.events) + 1
        previous = after if after is not None else event_id - 1
        event: dict[str, Any] = {"type": kind, "id": event_id, "previousEventId": previous,
                                 "timestamp": T0 + timedelta(seconds=at)}
        if details:
            event[kind[0].lower() + kind[1:] + "EventDetails"] = details
        self.events.append(event)
        return event_id

    def task(self, name: str, function: str, at: float, seconds: float, *, failures: int = 0) -> None:
        """A Lambda Task state that fails ``failures`` times (each retried) and then succeeds."""
        self.add("TaskStateEntered", at, name=name, input="{}")
        for attempt in range(failures + 1):
            resource = f"arn:aws:lambda:us-east-1:123456789012:function:pcf-serverless-dev-{function}"
            self.add("LambdaFunctionScheduled", at, resource=resource, input="{}")
            self.add("LambdaFunctionStarted", at)
            kind = "LambdaFunctionFailed" if attempt < failures else "LambdaFunctionSucceeded"
            self.add(kind, at + seconds, output="{}")
        self.add("TaskStateExited", at + seconds, name=name, output="{}")


def particle_history(polls: int, *, retries: int = 0) -> list[dict[str, Any]]:
    """A particle execution on the happy path: lease, sync, start, ``polls`` waits, done, release."""
    h = History()
    h.add("ExecutionStarted", 0, input=json.dumps({"pcf_id": "ec2_instance:a"}))
    h.task("AcquireLease", "acquire_lease", 0.0, 0.01, failures=retries)
    h.task("Sync", "sync_state", 0.1, 0.02)
    h.add("ChoiceStateEntered", 0.2, name="Decide")
    h.task("Start", "start", 0.2, 0.03)
    for poll in range(polls):
        h.add("PassStateEntered", 1 + poll, name="CountPoll")
        h.add("WaitStateEntered", 1 + poll, name="Wait")
        h.task("Sync", "sync_state", 2 + poll, 0.02)
        h.add("ChoiceStateEntered", 2 + poll, name="Decide")
    h.task("Release", "release_lease", 9, 0.01)
    h.add("PassStateEntered", 9, name="Converged")
    h.add("ExecutionSucceeded", 9, output=json.dumps({"pcf_id": "ec2_instance:a", "state": "running",
                                                       "polls": polls}))
    return h.events


def test_transitions_count_each_state_entered_and_each_retry() -> None:
    one_poll = sfn_history.transitions(particle_history(1))
    assert one_poll.total == 10
    assert one_poll.entered == Counter({"Sync": 2, "Decide": 2, "AcquireLease": 1, "Start": 1, "CountPoll": 1,
                                        "Wait": 1, "Release": 1, "Converged": 1})
    assert sfn_history.transitions(particle_history(4)).total - one_poll.total == 3 * 4
    retried = sfn_history.transitions(particle_history(1, retries=2))
    assert retried.retries == 2 and retried.total == 12


def test_the_fit_separates_the_happy_path_from_the_cost_of_a_poll() -> None:
    per_run = [[ParticleTransitions("p", polls, 7 + 4 * polls, Counter()) for polls in (1, 1)],
               [ParticleTransitions("p", polls, 7 + 4 * polls, Counter()) for polls in (3, 4)]]
    result = TransitionsResult([], per_run)
    assert result.happy_path == pytest.approx(11)
    assert result.per_poll == pytest.approx(4)
    assert result.max_residual == pytest.approx(0)
    assert result.meets_target


def test_lambda_durations_follow_the_previous_event_chain_through_interleaved_events() -> None:
    h = History()
    h.add("ExecutionStarted", 0)
    first = h.add("LambdaFunctionScheduled", 1.0, resource="arn:aws:lambda:us-east-1:1:function:app-dev-start")
    second = h.add("LambdaFunctionScheduled", 1.5, after=0, resource="arn:aws:lambda:us-east-1:1:function:app-dev-plan")
    started_first = h.add("LambdaFunctionStarted", 1.0, after=first)
    started_second = h.add("LambdaFunctionStarted", 1.5, after=second)
    h.add("LambdaFunctionSucceeded", 1.75, after=started_second)
    h.add("LambdaFunctionSucceeded", 3.0, after=started_first)
    assert sfn_history.lambda_durations(h.events) == {"start": [2.0], "plan": [0.25]}


def test_the_largest_payload_is_measured_in_utf8_bytes_and_named_by_its_state() -> None:
    h = History()
    entered = h.add("TaskStateEntered", 0, name="Plan", input="x" * 100)
    h.add("LambdaFunctionScheduled", 0, after=entered, input="é" * 60)  # 60 characters, 120 bytes
    assert sfn_history.largest_payload(h.events) == sfn_history.Payload(120, "LambdaFunctionScheduled", "input", "Plan")
    assert sfn_history.largest_payload([]) == sfn_history.Payload()


def test_peak_overlap_does_not_count_a_span_ending_as_another_starts() -> None:
    at = [T0 + timedelta(seconds=s) for s in range(5)]
    assert sfn_history.peak_overlap([(at[0], at[2]), (at[2], at[4]), (at[1], at[3])]) == 2
    assert sfn_history.peak_overlap([]) == 0


def test_import_time_lines_give_each_module_its_first_cumulative_time() -> None:
    output = ("import time: self [us] | cumulative | imported package\n"
              "import time:       120 |        120 |   _io\n"
              "import time:       900 |       5000 | chalice\n"
              "import time:        10 |         10 | chalice\n"
              "import time:      1000 |      54321 | app\n")
    assert cumulative_us(output) == {"_io": 120, "chalice": 5000, "app": 54321}


def test_requirement_names_skip_comments_options_and_includes() -> None:
    text = "# runtime\npydantic==2.14.3\n-r other.txt\naws-lambda-powertools==3.37.0  # logs\n\nJinja2>=3\n"
    assert requirement_names(text) == ["pydantic", "aws-lambda-powertools", "Jinja2"]


def _levels(definition: dict[str, Any]) -> tuple[list[int], dict[str, int]]:
    members = Quasiparticle(definition).members()
    edges = [(parent.get_pcf_id(), member.get_pcf_id()) for member in members for parent in member.parents]
    levels = DependencyGraph([m.get_pcf_id() for m in members], edges).start_levels()
    return [len(level) for level in levels], Counter(child for _, child in edges)


def test_layered_makes_a_forest_with_the_asked_level_widths() -> None:
    sizes, parents = _levels(definitions.layered("ami-12345678", (2, 4, 4)))
    assert sizes == [2, 4, 4]
    assert len(parents) == 8 and set(parents.values()) == {1}
    with pytest.raises(ValueError, match="multiple"):
        definitions.layered("ami-12345678", (2, 3))


def test_fan_out_hangs_every_child_on_one_root() -> None:
    sizes, parents = _levels(definitions.fan_out("ami-12345678", 5))
    assert sizes == [1, 5]
    assert set(parents.values()) == {1}


def test_the_history_estimate_is_the_quadratic_through_the_two_largest_runs() -> None:
    def size(particles: int, seconds: float) -> HistorySize:
        return HistorySize(particles, seconds, 0, 0, 0, sfn_history.Payload(), sfn_history.Payload(), True)

    runs = [size(10, 10 * 1.0 + 0.01 * 10**2), size(100, 100 * 1.0 + 0.01 * 100**2)]
    assert estimate_seconds(runs, 1000) == pytest.approx(1000 * 1.0 + 0.01 * 1000**2)
    assert estimate_seconds(runs[:1], 100) == pytest.approx(110)
