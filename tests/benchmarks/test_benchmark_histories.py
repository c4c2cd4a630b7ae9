"""The benchmarks' history readers on synthetic Step Functions histories, and their definition builders."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from benchmarks import definitions, sfn_history
from benchmarks.import_bench import cumulative_us
from benchmarks.package_bench import requirement_names
from benchmarks.sfn_cases import (
    HistorySize,
    ParticleTransitions,
    TransitionsResult,
    estimate_seconds,
    particle_transitions,
)
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


def page_history(visits: dict[str, int], *, retries: int = 0, acted_visit: int = 1) -> list[dict[str, Any]]:
    """A page execution: ``LoadPage``, then the ``Particles`` Map with one iteration per particle, interleaved
    (every particle's visit 1, then every particle's visit 2, ...). A particle's visit ``acted_visit`` starts it,
    its last visit answers ``done``; its first ``Converge`` fails ``retries`` times before succeeding."""
    h = History()
    h.add("ExecutionStarted", 0, input=json.dumps({"phase": "start", "level": 0, "page": 3}))
    h.add("TaskStateEntered", 0, name="LoadPage", input="{}")
    h.add("LambdaFunctionScheduled", 0, input="{}")
    h.add("LambdaFunctionSucceeded", 0.1, output="{}")
    h.add("TaskStateExited", 0.1, name="LoadPage", output="{}")
    h.add("MapStateEntered", 0.1, name="Particles", input="{}")
    last: dict[str, int] = {}
    for visit in range(1, max(visits.values()) + 1):
        for pcf_id, count in visits.items():
            if visit > count:
                continue
            item = {"pcf_id": pcf_id, "visits": visit}
            at = 10.0 * visit
            if visit > 1:
                last[pcf_id] = h.add("PassStateEntered", at - 1, after=last[pcf_id], name="CountVisit",
                                     input=json.dumps(item))
                last[pcf_id] = h.add("WaitStateEntered", at - 1, after=last[pcf_id], name="Later",
                                     input=json.dumps(item))
            else:
                last[pcf_id] = h.add("MapIterationStarted", at, after=6, index=list(visits).index(pcf_id))
            last[pcf_id] = h.add("TaskStateEntered", at, after=last[pcf_id], name="Converge", input=json.dumps(item))
            failures = retries if visit == 1 else 0
            for attempt in range(1 + failures):
                last[pcf_id] = h.add("LambdaFunctionScheduled", at, after=last[pcf_id], input=json.dumps(item))
                kind = "LambdaFunctionSucceeded" if attempt == failures else "LambdaFunctionFailed"
                last[pcf_id] = h.add(kind, at + 0.5, after=last[pcf_id])
            step = {"pcf_id": pcf_id, "action": "done" if visit == count else "later",
                    "acted": "start" if visit == acted_visit else None}
            last[pcf_id] = h.add("TaskStateExited", at + 0.5, after=last[pcf_id], name="Converge",
                                 output=json.dumps({**item, "step": step}))
            last[pcf_id] = h.add("ChoiceStateEntered", at + 0.5, after=last[pcf_id], name="Decide",
                                 input=json.dumps({**item, "step": step}))
            if visit == count:
                last[pcf_id] = h.add("SucceedStateEntered", at + 0.5, after=last[pcf_id], name="Done",
                                     input=json.dumps({**item, "step": step}))
    h.add("MapStateExited", 100, name="Particles", output="[]")
    h.add("ExecutionSucceeded", 100, output="{}")
    return h.events


def test_a_page_history_splits_its_transitions_between_its_particles_and_the_page() -> None:
    page = sfn_history.page_transitions(page_history({"ec2_instance:a": 1, "ec2_instance:b": 3}, retries=2))
    assert page.own == sfn_history.Transitions(Counter({"LoadPage": 1, "Particles": 1}))
    one = page.particles["ec2_instance:a"]
    assert one.entered == Counter({"Converge": 1, "Decide": 1, "Done": 1}) and one.retries == 2
    three = page.particles["ec2_instance:b"]
    assert three.entered == Counter({"Converge": 3, "Decide": 3, "CountVisit": 2, "Later": 2, "Done": 1})
    assert three.retries == 2 and three.total == 13
    assert (page.visits("ec2_instance:a"), page.visits("ec2_instance:b")) == (1, 3)


def test_a_transition_overshoots_from_the_visit_that_acted_to_the_visit_that_saw_it_done() -> None:
    events = page_history({"ec2_instance:a": 3, "ec2_instance:b": 1, "ec2_instance:c": 2}, acted_visit=1)
    assert sorted(sfn_history.transition_overshoots(events, 5.0)) == [-5.0, 5.0, 15.0]
    assert sfn_history.transition_overshoots(page_history({"ec2_instance:a": 2}, acted_visit=0), 5.0) == []


@dataclass
class PagedRun:
    """What ``particle_transitions`` reads of an ``ExecutionRun``: the parent history and the page histories."""

    parent: list[dict[str, Any]]
    children: dict[str, list[dict[str, Any]]]


def test_each_particle_pays_its_visits_and_a_share_of_its_page_and_of_the_parents_per_page_states() -> None:
    parent = History()
    parent.add("ExecutionStarted", 0)
    parent.task("Plan", "plan", 0, 0.1)
    parent.add("MapStateEntered", 1, name="Levels")
    parent.add("MapStateEntered", 1, name="Pages")
    parent.add("TaskStateEntered", 1, name="RunPage")
    parent.add("TaskScheduled", 1, resourceType="states")
    parent.add("TaskStateEntered", 1, name="RunPage")
    parent.add("TaskScheduled", 1, resourceType="states")
    parent.add("TaskScheduled", 2, resourceType="states")  # one RunPage retried
    run = PagedRun(parent.events, {"page-0": page_history({"ec2_instance:a": 1, "ec2_instance:b": 1}),
                                   "page-1": page_history({"ec2_instance:c": 1, "ec2_instance:d": 3})})
    found = {p.pcf_id: p for p in particle_transitions(run)}  # type: ignore[arg-type]
    parent_share = (2 + 1) / 4  # two RunPage entries and one retry, over four particles
    page_share = 2 / 2  # LoadPage and the Particles Map, over the page's two particles
    assert found["ec2_instance:a"].transitions == pytest.approx(3 + page_share + parent_share)
    assert found["ec2_instance:d"].transitions == pytest.approx(11 + page_share + parent_share)
    assert found["ec2_instance:d"].visits == 3
    assert found["ec2_instance:a"].by_state["(parent per page)"] == pytest.approx(parent_share)
    assert TransitionsResult([], [list(found.values())]).per_execution(run) == 3  # type: ignore[arg-type]


def test_the_fit_separates_the_happy_path_from_the_cost_of_a_visit() -> None:
    per_run = [[ParticleTransitions("p", visits, 7 + 4 * visits, {}) for visits in (1, 1)],
               [ParticleTransitions("p", visits, 7 + 4 * visits, {}) for visits in (3, 4)]]
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
