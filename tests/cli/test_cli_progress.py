"""The progress printer, the summary table and the cancellable sleep."""

from __future__ import annotations

import io
import threading

import pytest

from pcf.core import State
from pcf.core.decision import Action
from pcf.core.runtime import ApplyEvent, EventKind
from pcf_cli.cancel import Cancellation, Interrupted
from pcf_cli.output import table_text
from pcf_cli.progress import ProgressPrinter
from pcf_local_cloud.clock import VirtualClock


def printer_at(start: float, *, quiet: bool = False) -> tuple[ProgressPrinter, io.StringIO]:
    stream = io.StringIO()
    return ProgressPrinter(stream, lambda: start, quiet=quiet, width=24), stream


def test_lines_show_seconds_since_the_start_and_state_changes() -> None:
    printer, stream = printer_at(100.0)
    worker = "ec2_instance:worker-1"

    printer(ApplyEvent(EventKind.level, "ec2_instance:master", detail="start level 1", at=100.0))
    printer(ApplyEvent(EventKind.observed, worker, state=State.terminated, at=100.2))
    printer(ApplyEvent(EventKind.transition, worker, State.terminated, Action.start, "terminated -> running", 100.2))
    printer(ApplyEvent(EventKind.observed, worker, state=State.pending, at=100.4))
    printer(ApplyEvent(EventKind.observed, worker, state=State.running, at=105.3))
    printer(ApplyEvent(EventKind.done, worker, state=State.running, detail="running as desired", at=105.3))

    assert stream.getvalue().splitlines() == [
        "[   0.0s] start level 1: ec2_instance:master",
        "[   0.2s] ec2_instance:worker-1    terminated",
        "[   0.2s] ec2_instance:worker-1    start: terminated -> running",
        "[   0.4s] ec2_instance:worker-1    terminated -> pending",
        "[   5.3s] ec2_instance:worker-1    pending -> running",
        "[   5.3s] ec2_instance:worker-1    done: running as desired",
    ]
    record = printer.records[worker]
    assert record.state is State.running and record.transitions == ["start"] and record.failure == ""


def test_long_levels_are_shortened_and_failures_recorded() -> None:
    printer, stream = printer_at(0.0)
    ids = ",".join(f"p:{i}" for i in range(10))

    printer(ApplyEvent(EventKind.level, ids, detail="stop level 2", at=1.0))
    printer(ApplyEvent(EventKind.failed, "p:3", state=State.pending, detail="ParticleTimeoutError: p:3: late", at=2.0))
    printer(ApplyEvent(EventKind.rollback, "p:1", detail="terminating what this apply created", at=3.0))

    lines = stream.getvalue().splitlines()
    assert lines[0] == "[   1.0s] stop level 2: p:0, p:1, p:2, p:3 (+6 more)"
    assert lines[1].endswith("p:3                      FAILED: ParticleTimeoutError: p:3: late")
    assert lines[2].endswith("rollback: terminating what this apply created")
    assert printer.records["p:3"].failure == "ParticleTimeoutError: p:3: late"


def test_quiet_prints_nothing_but_still_records() -> None:
    printer, stream = printer_at(0.0, quiet=True)

    printer(ApplyEvent(EventKind.transition, "p:a", State.stopped, Action.start, "stopped -> running", 1.0))

    assert stream.getvalue() == ""
    assert printer.records["p:a"].transitions == ["start"]


def test_table_columns_are_padded_to_the_widest_cell() -> None:
    table = table_text(("pcf_id", "state"), [("ec2_instance:master", "running"), ("x", "stopped")])

    assert table.splitlines() == [
        "pcf_id               state",
        "ec2_instance:master  running",
        "x                    stopped",
    ]


def test_cancellable_sleep_sleeps_in_slices_until_cancelled() -> None:
    clock = VirtualClock()
    cancellation = Cancellation()
    sleep = cancellation.sleep_with(clock.sleep)

    sleep(1.0)
    assert clock.now() == pytest.approx(1.0)
    cancellation.event.set()
    with pytest.raises(Interrupted):
        sleep(1.0)
    assert clock.now() == pytest.approx(1.0)


def test_a_waiting_thread_gives_up_once_cancelled() -> None:
    cancellation = Cancellation()
    sleep = cancellation.sleep_with(lambda s: threading.Event().wait(s))
    outcome: list[str] = []

    def wait() -> None:
        try:
            sleep(30)
            outcome.append("slept")
        except Interrupted:
            outcome.append("interrupted")

    worker = threading.Thread(target=wait)
    worker.start()
    cancellation.event.set()
    worker.join(timeout=2)

    assert outcome == ["interrupted"]


def test_a_level_of_a_paged_run_is_its_label_and_no_particle_record() -> None:
    printer, stream = printer_at(100.0)

    printer(ApplyEvent(EventKind.level, "", detail="start level 2: 85 particles in 3 pages", at=101.0))

    assert stream.getvalue().splitlines() == ["[   1.0s] start level 2: 85 particles in 3 pages"]
    assert printer.records == {}, "a level line names no particle"
