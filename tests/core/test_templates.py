"""Templates from definitions: read only from under their root, rendered only in the sandbox, in a child process
with no environment, limited in CPU, memory, wall time and output (``pcf.util.templates``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pcf.core.pcf_exceptions import InvalidConfigException
from pcf.util import definition_files, templates
from pcf.util.definition_files import (
    current_template_root,
    disable_file_reads,
    file_reads_allowed,
    file_reads_disabled,
    template_root,
)
from pcf.util.templates import (
    DEFAULT_TEMPLATE_LIMITS,
    RenderJob,
    TemplateLimits,
    check_later,
    read_template_file,
    render_batch,
    render_many,
    render_template_text,
)

FIELD = "ec2_instance:web.aws_resource.custom_config.userdata_template"
QUICK = TemplateLimits(cpu_seconds=1)
"""One CPU second per template: enough for any honest template here, and quick to exhaust."""


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    templates.clear_cache()
    yield
    templates.clear_cache()


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every child process the renderer starts: its command and keyword arguments (the child still runs)."""
    calls: list[dict[str, Any]] = []
    real_run = subprocess.run

    def run(command: list[str], **kwargs: Any) -> Any:
        calls.append({"command": command, **kwargs})
        return real_run(command, **kwargs)

    monkeypatch.setattr(templates.subprocess, "run", run)
    return calls


def refusal(source: str, params: dict[str, Any] | None = None, limits: TemplateLimits = QUICK) -> str:
    with pytest.raises(InvalidConfigException) as refused:
        render_template_text(source, params or {}, field=FIELD, limits=limits)
    assert refused.value.field == FIELD
    assert "\n" not in refused.value.reason
    return refused.value.reason


# -- rendering ----------------------------------------------------------------------------------------
def test_a_template_renders_with_its_params_and_keeps_its_trailing_newline() -> None:
    source = "#!/bin/bash\n{% for p in ports %}open {{ p }} {{ name|upper }}\n{% endfor %}"

    assert render_template_text(source, {"ports": [22, 443], "name": "web"}, field=FIELD) == (
        "#!/bin/bash\nopen 22 WEB\nopen 443 WEB\n"
    )
    in_order = "{% for k, v in env.items() %}{{ k }}={{ v }};{% endfor %}"
    assert render_template_text(in_order, {"env": {"B": 1, "A": None}}, field=FIELD) == "B=1;A=None;"


@pytest.mark.parametrize(
    "payload",
    [
        "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
        "{{ joiner.__init__.__globals__.os.system('touch MARKER') }}",
        "{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}",
        "{{ namespace.__init__.__globals__.os.popen('touch MARKER') }}",
        "{{ self.__init__.__globals__.__builtins__.open('MARKER', 'w') }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{% set g = cycler.__init__.__globals__ %}{{ g.os.popen('touch MARKER').read() }}",
        "{{ (cycler|attr('__init__')).__globals__.os.popen('touch MARKER') }}",
    ],
)
def test_the_sandbox_refuses_escapes_and_nothing_runs(payload: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    source = payload.replace("MARKER", str(marker))

    reason = refusal(source)

    assert reason.startswith("the template tried something the sandbox forbids: ")
    assert not marker.exists()


def test_a_huge_range_is_refused_by_the_sandbox_before_it_runs() -> None:
    reason = refusal("{% for i in range(100000000) %}{{ i }}{% endfor %}")

    assert reason.startswith("the template tried something the sandbox forbids")
    assert "range" in reason.lower()


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% if i == j %}{% endif %}{% endfor %}{% endfor %}",
    ],
)
def test_nested_loops_end_with_the_cpu_time_reason(source: str) -> None:
    assert refusal(source) == "took more than the 1 s of CPU time a template may take to render"


@pytest.mark.parametrize("source", ['{{ "x" * 10**9 }}', '{{ "x"|center(10**9) }}', "{{ 'ab' * 300000000 }}"])
def test_a_huge_value_ends_with_the_memory_or_size_reason_and_costs_this_process_nothing(source: str) -> None:
    tracemalloc.start()
    try:
        reason = refusal(source)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert reason in ("needs more than the 256 MiB of memory a template may take to render",
                      "renders to more than 16384 bytes; EC2 accepts at most 16 KB of user data")
    assert peak < 16 * 1024 * 1024, "the value was built in the child, not here"


def test_a_power_too_large_to_interrupt_is_refused() -> None:
    assert "a power of more than 65536 bits" in refusal("{{ 10 ** (10 ** 10) }}")
    assert render_template_text("{{ 2 ** 64 }}", {}, field=FIELD) == "18446744073709551616"


def test_output_over_16_kb_is_refused_and_16_kb_is_not() -> None:
    assert len(render_template_text("{{ 'x' * 16384 }}", {}, field=FIELD)) == 16384
    assert refusal("{{ 'x' * 16385 }}") == "renders to more than 16384 bytes; EC2 accepts at most 16 KB of user data"
    assert refusal("{{ 'é' * 8193 }}").startswith("renders to more than 16384 bytes"), "bytes, not characters"


@pytest.mark.parametrize(
    "source",
    ['{% include "/etc/passwd" %}', '{% import "/etc/passwd" as p %}', '{% extends "/etc/passwd" %}',
     '{% from "/etc/passwd" import root %}', '{% include ["a", "/etc/passwd"] ignore missing %}'],
)
def test_a_template_cannot_load_another_file(source: str) -> None:
    assert refusal(source) == (
        "the template includes, imports or extends another template; a template cannot load files"
    )


def test_syntax_errors_missing_values_and_bad_params_name_the_field_and_why() -> None:
    assert refusal("line one\n{% if %}") == (
        "template syntax error at line 2: Expected an expression, got 'end of statement block'"
    )
    with pytest.raises(InvalidConfigException) as missing:
        render_template_text("echo {{ master_ip }}", {}, field=FIELD, params_field="x.userdata_params")
    assert (missing.value.field, missing.value.reason) == (
        "x.userdata_params", "the template needs a value that is not given: 'master_ip' is undefined"
    )
    with pytest.raises(InvalidConfigException, match="must be JSON data") as not_json:
        render_template_text("{{ x }}", {"x": object()}, field=FIELD, params_field="x.userdata_params")
    assert not_json.value.field == "x.userdata_params"
    assert refusal("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}") == "recurses too deeply to render"
    assert refusal("{{ 1 / 0 }}") == "fails to render: ZeroDivisionError: division by zero"
    assert refusal("x" * (64 * 1024 + 1)) == "the template is 65537 bytes; a template may be at most 65536 bytes"


# -- the child process --------------------------------------------------------------------------------
def test_the_child_gets_no_environment_and_runs_isolated(
    spawned: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "parent-secret")
    monkeypatch.setenv("PCF_TEST_MARKER", "parent-marker")

    render_template_text("{{ x }}", {"x": 1}, field=FIELD)

    [call] = spawned
    assert call["command"][:3] == [sys.executable, "-I", "-c"]
    assert call["env"] == {}
    assert call["timeout"] == DEFAULT_TEMPLATE_LIMITS.wall_seconds
    assert call["capture_output"] is True
    sent = json.loads(call["input"])
    assert "parent-secret" not in call["input"].decode() and "parent-marker" not in call["input"].decode()
    assert all(os.path.isabs(entry) for entry in sent["path"])
    # what a process started the same way really sees
    seen = subprocess.run([sys.executable, "-I", "-c", "import json, os; print(json.dumps(dict(os.environ)))"],
                          env=templates.child_environment(), capture_output=True, text=True, check=True)
    environment = json.loads(seen.stdout)
    assert not [name for name in environment if name.startswith("AWS_") or name == "PCF_TEST_MARKER"]
    assert set(environment) <= {"LC_CTYPE"}, "only what Python itself sets (its UTF-8 locale coercion)"


def test_a_render_is_cached_and_a_batch_costs_one_child(spawned: list[dict[str, Any]]) -> None:
    jobs = [RenderJob("worker {{ i }} of {{ n }}", {"i": i, "n": 300}, f"particles[{i}]") for i in range(300)]
    jobs[7] = RenderJob("{% if %}", {}, "particles[7]")

    results = render_many(jobs)

    assert len(spawned) == 1
    assert results[0] == "worker 0 of 300" and results[299] == "worker 299 of 300"
    assert isinstance(results[7], InvalidConfigException) and results[7].field == "particles[7]"
    assert render_template_text("worker {{ i }} of {{ n }}", {"i": 5, "n": 300}, field=FIELD) == "worker 5 of 300"
    assert len(spawned) == 1, "rendered before: no new child"


def test_a_job_that_kills_its_child_is_refused_and_the_others_still_render(
    spawned: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    command = templates.child_command()
    dies = "import os\nif request['jobs'][0]['params'] == '{\"crash\": true}': os._exit(3)\nchild_main(request)"
    crash_first = [*command[:-1], command[-1].replace("child_main(request)", dies)]
    monkeypatch.setattr(templates, "child_command", lambda: crash_first)
    jobs = [RenderJob("{{ crash }}", {"crash": True}, "a"), RenderJob("{{ x }}", {"x": 2}, "b")]

    crashed, rendered = render_many(jobs)

    assert isinstance(crashed, InvalidConfigException) and crashed.field == "a"
    assert crashed.reason == "could not be rendered: the renderer exited with status 3"
    assert rendered == "2"
    assert len(spawned) == 2, "the jobs after the one it died on go to a new child"


def test_a_child_that_hangs_is_stopped_at_the_wall_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "child_command", lambda: [sys.executable, "-c", "import time; time.sleep(60)"])

    reason = refusal("{{ x }}", {"x": 1}, limits=TemplateLimits(wall_seconds=0.5))

    assert reason == "took more than the 0.5 s a template may take to render"


def test_render_batch_gathers_the_checks_into_one_child(spawned: list[dict[str, Any]]) -> None:
    checked: list[str] = []

    def check(index: int) -> None:
        checked.append(render_template_text("n{{ i }}", {"i": index}, field=f"p{index}"))

    with render_batch():
        for index in range(50):
            check_later([RenderJob("n{{ i }}", {"i": index}, f"p{index}")], lambda index=index: check(index))
        assert checked == [], "nothing renders inside the block"

    assert checked == [f"n{i}" for i in range(50)]
    assert len(spawned) == 1


def test_render_batch_raises_the_first_failing_check_in_order(spawned: list[dict[str, Any]]) -> None:
    jobs = [RenderJob("ok", {}, "first"), RenderJob("{{ nope }}", {}, "second"), RenderJob("{% if %}", {}, "third")]
    with pytest.raises(InvalidConfigException) as refused, render_batch():
        for job in jobs:
            check_later([job], lambda job=job: render_template_text(job.source, job.params, field=job.field))

    assert refused.value.field == "second"
    assert len(spawned) == 1


# -- reading files ------------------------------------------------------------------------------------
@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "defs"
    (folder / "userdata").mkdir(parents=True)
    (folder / "userdata" / "boot.sh.j2").write_text("#!/bin/bash\necho {{ x }}\n")
    return folder


def unreadable(name: str, root: Path) -> str:
    with pytest.raises(InvalidConfigException) as refused:
        read_template_file(name, root, field="web.userdata_template_file")
    assert refused.value.field == "web.userdata_template_file"
    return refused.value.reason


def test_a_template_is_read_relative_to_its_root_or_absolute_under_it(root: Path) -> None:
    assert read_template_file("userdata/boot.sh.j2", root, field="f") == "#!/bin/bash\necho {{ x }}\n"
    assert read_template_file(str(root / "userdata" / "boot.sh.j2"), root, field="f").startswith("#!/bin/bash")
    assert read_template_file("userdata/../userdata/boot.sh.j2", root, field="f").startswith("#!/bin/bash")


@pytest.mark.parametrize("name", ["/proc/self/environ", "../../etc/passwd", "../outside.j2", "/etc/passwd",
                                  "../../../../../../../../etc/shadow"])
def test_files_outside_the_root_are_refused(name: str, root: Path) -> None:
    (root.parent / "outside.j2").write_text("secret")

    assert unreadable(name, root).endswith(
        f"lies outside {root.resolve()}; a template must be under the definition file's folder"
    )


def test_a_symlink_out_of_the_root_is_refused(root: Path) -> None:
    (root.parent / "secret.txt").write_text("secret")
    (root / "userdata" / "link.j2").symlink_to(root.parent / "secret.txt")
    (root / "escape").symlink_to("/etc")

    assert "lies outside" in unreadable("userdata/link.j2", root)
    assert "lies outside" in unreadable("escape/passwd", root)


def test_system_files_are_refused_even_under_the_root() -> None:
    assert unreadable("/proc/self/environ", Path("/")).startswith("'/proc/self/environ' is a system file")
    assert unreadable("proc/self/environ", Path("/")).startswith("'proc/self/environ' is a system file")


def test_a_fifo_a_directory_and_a_missing_file_are_refused_without_blocking(root: Path) -> None:
    os.mkfifo(root / "pipe.j2")  # nobody ever opens its other end: opening it would block forever

    assert unreadable("pipe.j2", root) == "'pipe.j2' is not a regular file (a FIFO)"
    assert unreadable("userdata", root) == "'userdata' is not a regular file (a directory)"
    assert unreadable("nope.j2", root) == f"'nope.j2' does not exist (names are read from {root.resolve()})"


def test_a_template_over_64_kib_or_not_utf8_is_refused(root: Path) -> None:
    (root / "big.j2").write_text("x" * (64 * 1024 + 1))
    (root / "latin1.j2").write_bytes("caf\xe9".encode("latin-1"))

    assert unreadable("big.j2", root) == "'big.j2' is 65537 bytes; a template may be at most 65536 bytes"
    assert unreadable("latin1.j2", root) == "'latin1.j2' is not UTF-8 text (byte 3)"


def test_no_file_is_read_where_file_reads_are_disabled(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = ("the control plane never reads files a definition names: send the template's text as "
                "custom_config.userdata_template (the pcf CLI does this)")
    with file_reads_disabled():
        assert unreadable("userdata/boot.sh.j2", root) == expected
        seen_elsewhere: list[bool] = []
        thread = threading.Thread(target=lambda: seen_elsewhere.append(file_reads_allowed()))
        thread.start()
        thread.join()
        assert seen_elsewhere == [True], "scoped to this context: another thread still reads its files"
    assert read_template_file("userdata/boot.sh.j2", root, field="f")

    monkeypatch.setattr(definition_files, "_process_reads_off", False)
    disable_file_reads()
    assert unreadable("userdata/boot.sh.j2", root) == expected


def test_the_template_root_is_the_block_s_else_the_variable_else_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PCF_TEMPLATE_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert current_template_root() == tmp_path
    monkeypatch.setenv("PCF_TEMPLATE_ROOT", str(tmp_path / "env"))
    assert current_template_root() == tmp_path / "env"
    with template_root(tmp_path / "defs") as root:
        assert current_template_root() == root == tmp_path / "defs"
    assert current_template_root() == tmp_path / "env"
