"""``pcf apply/run/stop/terminate`` on the in-memory test flavor: states reached, order, NAME, output, exit codes."""

from __future__ import annotations

import re

from pcf.core import State
from tests.cli.cli_support import FLAVOR, OTHER_FLAVOR, CliRunner, MemoryCloud, cluster, particle

HEAD, W0, W1 = f"{FLAVOR}:head", f"{FLAVOR}:worker-0", f"{FLAVOR}:worker-1"
D0, D1 = f"{FLAVOR}:disk-0", f"{FLAVOR}:disk-1"
ALL = {HEAD, W0, W1, D0, D1}


def summary(out: str) -> dict[str, list[str]]:
    """The summary table's rows by pcf_id: [state, id, transitions]."""
    rows = {}
    for line in out.splitlines()[1:]:
        cells = re.split(r"\s{2,}", line.strip())
        if cells and cells[0].startswith(f"{FLAVOR}:"):
            rows[cells[0]] = cells[1:]
    return rows


def test_run_starts_every_particle_parents_first_and_prints_a_summary(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", cluster())

    result = pcf_cli("run")

    assert result.code == 0, result.err
    assert memory.states() == dict.fromkeys(ALL, State.running)
    order = [pcf_id for pcf_id, action in memory.log if action == "start"]
    assert order.index(HEAD) < order.index(W0) < order.index(D0)
    assert order.index(W1) < order.index(D1)
    rows = summary(result.out)
    assert set(rows) == ALL
    assert all(row[0] == "running" and row[2] == "start" for row in rows.values())
    assert rows[HEAD][1].startswith("mem-")
    assert re.search(r"^done in [\d.]+s: 5 particle\(s\): 5 running$", result.out, re.M)


def test_progress_lines_have_elapsed_seconds_and_state_changes_on_stderr(pcf_cli: CliRunner) -> None:
    pcf_cli.write("pcf.yml", cluster())

    result = pcf_cli("run")

    assert re.search(rf"^\[\s+\d+\.\ds\] {re.escape(HEAD)}\s+pending -> running$", result.err, re.M)
    assert re.search(rf"^\[\s+0\.0s\] start level 1: {re.escape(HEAD)}$", result.err, re.M)
    assert re.search(rf"{re.escape(D1)}\s+start: terminated -> running$", result.err, re.M)
    assert "[" not in result.out, "progress goes to stderr, the summary alone to stdout"


def test_stop_then_terminate_go_children_first(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", cluster())
    assert pcf_cli("run").code == 0
    memory.log.clear()

    stopped = pcf_cli("stop")
    stop_order = [pcf_id for pcf_id, _ in memory.log]
    memory.log.clear()
    terminated = pcf_cli("terminate")

    assert stopped.code == 0 and terminated.code == 0
    assert stop_order.index(D0) < stop_order.index(W0) < stop_order.index(HEAD)
    assert [a for _, a in memory.log] == ["terminate"] * 5
    assert [pcf_id for pcf_id, _ in memory.log][-1] == HEAD
    assert memory.states() == dict.fromkeys(ALL, State.terminated)
    assert {row[0] for row in summary(stopped.out).values()} == {"stopped"}


def test_apply_converges_to_the_states_written_in_the_definition(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.json", [particle("a", desired_state="running"), particle("b", desired_state="stopped")])

    result = pcf_cli("apply")

    assert result.code == 0, result.err
    # b does not exist, so there is nothing to stop: it is not created just to be stopped
    assert memory.states() == {f"{FLAVOR}:a": State.running}
    assert summary(result.out)[f"{FLAVOR}:b"][0] == "terminated"
    assert summary(result.out)[f"{FLAVOR}:a"][2] == "start"


def test_apply_without_desired_state_is_bad_input_and_does_nothing(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", cluster())

    result = pcf_cli("apply")

    assert result.code == 2
    assert result.err_lines == [
        f"pcf: error: {HEAD}.desired_state: is not set: set desired_state in the definition, "
        "or use pcf run/stop/terminate"
    ]
    assert memory.log == []


def test_quiet_prints_only_the_summary(pcf_cli: CliRunner) -> None:
    pcf_cli.write("pcf.yml", cluster())

    result = pcf_cli("run", "--quiet")

    assert result.code == 0
    assert result.err == ""
    assert set(summary(result.out)) == ALL


def test_local_target_notes_that_resources_vanish(pcf_cli: CliRunner) -> None:
    pcf_cli.write("pcf.yml", cluster())

    result = pcf_cli("run")

    assert result.err_lines[0].startswith("target: local (no AWS credentials found")
    assert result.err_lines[-1] == "local cloud: resources exist only for this command; see README"


def test_name_selects_a_top_level_definition(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", [particle("a"), particle("b")])

    result = pcf_cli("run", "b")

    assert result.code == 0
    assert memory.states() == {f"{FLAVOR}:b": State.running}
    assert set(summary(result.out)) == {f"{FLAVOR}:b"}


def test_name_selects_a_member_with_the_parents_it_needs(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", cluster())

    by_name = pcf_cli("run", "worker-1")

    assert by_name.code == 0
    assert memory.states() == {HEAD: State.running, W1: State.running}
    assert set(summary(by_name.out)) == {HEAD, W1}
    assert pcf_cli("run", D0).code == 0, "a member's pcf_id works too"
    assert memory.states()[D0] is State.running and memory.states()[W0] is State.running


def test_stop_of_a_member_reaches_its_children_only_with_cascade(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", cluster())
    assert pcf_cli("run").code == 0

    assert pcf_cli("stop", "worker-0").code == 0
    assert memory.states()[W0] is State.stopped and memory.states()[D0] is State.running
    assert pcf_cli("stop", "worker-1", "--cascade").code == 0
    assert memory.states()[W1] is State.stopped and memory.states()[D1] is State.stopped
    assert memory.states()[HEAD] is State.running


def test_unknown_name_exits_2_with_the_known_names(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", cluster())

    result = pcf_cli("run", "wroker-1")

    assert result.code == 2
    assert result.err_lines == [
        f"pcf: error: NAME: 'wroker-1' matches no definition; did you mean 'worker-1'? "
        f"known: group, {D0}, {D1}, {HEAD}, {W0}, {W1}"
    ]
    assert memory.log == []


def test_ambiguous_name_lists_the_candidates(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    twin = {**particle("x"), "flavor": OTHER_FLAVOR}
    pcf_cli.write("pcf.yml", {"pcf_name": "pair", "flavor": "quasiparticle", "particles": [particle("x"), twin]})

    result = pcf_cli("run", "x")

    assert result.code == 2
    assert result.err_lines == [
        f"pcf: error: NAME: 'x' is ambiguous: name one of {OTHER_FLAVOR}:x (in pair), {FLAVOR}:x (in pair)"
    ]
    assert memory.log == []
    assert pcf_cli("run", f"{OTHER_FLAVOR}:x").code == 0


def test_a_failed_transition_exits_1_with_one_line_per_failed_particle(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", cluster())
    memory.fail_on[(W1, "start")] = RuntimeError("capacity exhausted")

    result = pcf_cli("run")

    assert result.code == 1
    assert f"pcf: error: {W1}: RuntimeError: capacity exhausted" in result.err_lines
    assert "Traceback" not in result.err
    rows = summary(result.out)
    assert rows[HEAD][0] == "running"
    assert rows[W1][2] == "start (failed)"
    assert rows[D0][2] == "not reached" and D0 not in memory.states()
    assert re.search(r"^FAILED \(1 particle\(s\)\) in", result.out, re.M)


def test_several_failures_in_a_level_are_each_reported(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", cluster())
    memory.fail_on[(W0, "start")] = RuntimeError("boom 0")
    memory.fail_on[(W1, "start")] = RuntimeError("boom 1")

    result = pcf_cli("run", "--quiet")

    assert result.code == 1
    assert result.err_lines == [f"pcf: error: {W0}: RuntimeError: boom 0", f"pcf: error: {W1}: RuntimeError: boom 1"]


def test_timeout_is_the_per_particle_max_timeout(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", particle("slow"))
    memory.stuck.add(f"{FLAVOR}:slow")

    result = pcf_cli("run", "--timeout", "5", "--quiet")

    assert result.code == 1
    assert result.err_lines == [f"pcf: error: {FLAVOR}:slow: ParticleTimeoutError: still pending after 5s"]
    assert pcf_cli.clock.now() >= 5


def test_ctrl_c_exits_130(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", particle("a"))
    memory.fail_on[(f"{FLAVOR}:a", "start")] = KeyboardInterrupt()

    result = pcf_cli("run")

    assert result.code == 130
    assert result.err_lines[-1] == "pcf: error: interrupted"
    assert "Traceback" not in result.err


def test_unexpected_errors_show_a_traceback_only_with_verbose(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", particle("a"))

    def broken_observe(pcf_id: str) -> None:
        raise ZeroDivisionError("division by zero")

    memory.observe = broken_observe  # type: ignore[method-assign]
    plain = pcf_cli("plan", "--state", "running", "--observe")
    verbose = pcf_cli("plan", "--state", "running", "--observe", "-v")

    assert plain.code == 1 and verbose.code == 1
    assert plain.err_lines[-1] == "pcf: error: ZeroDivisionError: division by zero (-v shows the traceback)"
    assert "Traceback" not in plain.err
    assert "Traceback (most recent call last)" in verbose.err
    assert verbose.err_lines[-1] == "pcf: error: ZeroDivisionError: division by zero"
