"""Hostile and careless definitions, generated (hypothesis): ``pcf validate``, ``pcf plan``, ``pcf run`` and the
control plane's ``plan`` step refuse every one with a named field (exit 2), and none of them runs anything the
definition names, reads a file outside the definition's folder, creates a resource, stores a spec, or grows
past a bounded amount of memory.

What counts as "ran" and "read" is observed from outside the code under test: a marker file that any executed
payload would write, and a Python audit hook that records every file opened and every process started while
an example runs.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import no_definition_files
from pcf.core.pcf_exceptions import DefinitionError
from pcf_control_plane import run_steps
from pcf_control_plane.messages import PlanInput
from pcf_control_plane.steps import ControlPlane
from pcf_control_plane.store import InMemoryStateStore
from pcf_local_cloud.clock import VirtualClock
from pcf_local_cloud.cloud import LocalCloud
from tests.cli.cli_support import CliRunner

PROJECT = Path(__file__).resolve().parents[2]
PEAK_BYTES = 64 * 1024 * 1024
"""Memory one refusal may allocate (tracemalloc peak), whatever the input: the inputs below would take
gigabytes if expanded, rendered or parsed without limits."""
EXAMPLES = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# -- what the examples are made of --------------------------------------------------------------------------
def instance(name: str = "web", **custom: Any) -> dict[str, Any]:
    return {"pcf_name": name, "flavor": "ec2_instance",
            "aws_resource": {"ImageId": "ami-12345678", "InstanceType": "t3.micro",
                             "custom_config": {"instance_name": f"pcf-fuzz-{name}", **custom}}}


def volume(name: str = "data", parent: str = "web") -> dict[str, Any]:
    return {"pcf_name": name, "flavor": "ebs_volume", "parents": [f"ec2_instance:{parent}"],
            "aws_resource": {"AvailabilityZone": "us-east-1a", "Size": 8,
                             "custom_config": {"volume_name": f"pcf-fuzz-{name}"}}}


def cluster(*members: dict[str, Any]) -> dict[str, Any]:
    return {"pcf_name": "fuzz", "flavor": "quasiparticle",
            "particles": list(members) or [instance("web"), volume("data")]}


@dataclass
class Example:
    """One hostile input: the file's bytes and suffix, files to lay beside it, and its definition when it is
    JSON data (the control plane's plan step takes data, not files)."""

    name: str
    content: bytes
    suffix: str = ".json"
    beside: dict[str, str] = field(default_factory=dict)
    definition: dict[str, Any] | None = None


def as_file(name: str, definition: Any, suffix: str = ".json", beside: dict[str, str] | None = None) -> Example:
    text = json.dumps(definition) if suffix == ".json" else yaml.safe_dump(definition)
    data = definition if isinstance(definition, dict) and suffix == ".json" else None
    return Example(name, text.encode(), suffix, beside or {}, data)


MARK = "MARKER"  # replaced by the example's marker path
PAYLOAD_COMMAND = f"touch {MARK}"
TEMPLATE_PAYLOADS = [
    "{{ cycler.__init__.__globals__.os.popen('" + PAYLOAD_COMMAND + "').read() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ lipsum.__globals__['os'].system('" + PAYLOAD_COMMAND + "') }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('" + PAYLOAD_COMMAND + "') }}",
    "{% include '/etc/passwd' %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{{ 'x' * 10 ** 9 }}",
    "{{ 'x' | center(1000000000) }}",
    "{% for i in range(20000) %}0123456789{% endfor %}",
    "{{ undefined_value }}",
    "{% if %}",
]
FILE_NAMES = ["/proc/self/environ", "../../../../etc/passwd", "/etc/hostname", "../outside.j2", "link.j2", "fifo.j2",
              "/dev/zero", "missing.j2", "."]
CALLBACKS = ["os:system", "subprocess:run", "builtins:eval", "posix:system", "shutil:rmtree", "pty:spawn",
             "pcf.util.callbacks:run_callback", "nonexistent_module_xyz:go", "os", ":system", "os:"]
CONTROL_CHARACTERS = ["\x1b[31m", "\x07", "\x00", "\u202e", "\n", "\r", "\u2028", "\x7f", "\ufeff"]


@st.composite
def definition_examples(draw: st.DrawFn) -> Example:
    """A JSON or YAML definition with one hostile or careless change (see the issue's corpus)."""
    kind = draw(st.sampled_from([
        "typo", "policy", "region", "types", "callback", "template_file", "template_text", "name", "inherit",
        "multiplier", "top_level", "duplicate_name",
    ]))
    suffix = draw(st.sampled_from([".json", ".yml"]))
    base = cluster() if draw(st.booleans()) else instance()
    target = base["particles"][0] if "particles" in base else base
    if kind == "typo":
        target[draw(st.sampled_from(["multipler", "parent", "childs", "persist_on_terminat", "desired", "heals"]))] = 1
    elif kind == "policy":
        target[draw(st.sampled_from(["heal", "drift"]))] = draw(st.sampled_from(["maybe", 2, "ignore", [], "REVERT"]))
    elif kind == "region":
        target["aws_resource"]["region_name"] = draw(st.sampled_from(["xx-fake-9", "us-east-99", "", "moon", 7]))
    elif kind == "types":
        key, value = draw(st.sampled_from([("InstanceType", 3), ("MinCount", "1"), ("SecurityGroupIds", "sg-1"),
                                           ("InstanceInitiatedShutdownBehavior", "halt"), ("Placement", {}),
                                           ("BlockDeviceMappings", [{"Ebs": {"VolumeSize": "big"}}]),
                                           ("UserData", "x" * (16 * 1024 + 1)), ("MaxCount", 10**6)]))
        target["aws_resource"][key] = value
    elif kind == "callback":
        target["callbacks"] = {draw(st.sampled_from(["start", "stop", "terminate", "update"])): {
            "function": draw(st.sampled_from(CALLBACKS)),
            "kwargs": {"command": PAYLOAD_COMMAND, "args": [PAYLOAD_COMMAND], "source": PAYLOAD_COMMAND}}}
    elif kind == "template_file":
        target["aws_resource"]["custom_config"]["userdata_template_file"] = draw(st.sampled_from(FILE_NAMES))
    elif kind == "template_text":
        target["aws_resource"]["custom_config"]["userdata_template_file"] = "boot.j2"
        return as_file(kind, base, suffix, {"boot.j2": draw(st.sampled_from(TEMPLATE_PAYLOADS))})
    elif kind == "name":
        where = draw(st.sampled_from(["pcf_name", "instance_name"]))
        bad = f"web{draw(st.sampled_from(CONTROL_CHARACTERS))}x"
        if where == "pcf_name":
            target["pcf_name"] = bad
        else:
            target["aws_resource"]["custom_config"]["instance_name"] = bad
    elif kind == "inherit":
        path = draw(st.sampled_from(["PrivateIpAdress", "Placement.Zone", "InstanceId.x", "Nope", "Tags.Name"]))
        base = cluster(instance("web"), {**volume("data"), "aws_resource": {
            "AvailabilityZone": f"$inherit$ec2_instance:web${path}", "Size": 8,
            "custom_config": {"volume_name": "pcf-fuzz-data"}}})
    elif kind == "multiplier":
        count = draw(st.sampled_from([10_000, 5_001, 2**40, -1, 0]))
        members = [{**instance(f"w{i}"), "multiplier": count} for i in range(draw(st.integers(2, 20)))]
        base = cluster(*members)
    elif kind == "top_level":
        base = draw(st.sampled_from([
            [{**instance("a"), "multiplier": 3}],
            [{**instance("a"), "parents": ["ec2_instance:ghost"]}],
            [{**instance("a"), "parents": ["ec2_instance:b"]}, {**instance("b"), "parents": ["ec2_instance:a"]}],
        ]))
        return as_file(kind, base, suffix)
    else:  # duplicate_name
        twin = instance("twin")
        twin["aws_resource"]["custom_config"]["instance_name"] = "pcf-fuzz-web"
        return as_file(kind, [instance("web"), twin], suffix)
    return as_file(kind, base, suffix)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


FILE_EXAMPLES = [
    Example("alias bomb", ("a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9))).encode(), ".yml"),
    Example("recursive anchor", b"a: &a [*a]\n", ".yml"),
    Example("deep json", f'{{"pcf_name": {_nested(100_000)}}}'.encode()),
    Example("deep yaml", ("pcf_name: " + _nested(5_000) + "\n").encode(), ".yml"),
    Example("huge int", b'{"pcf_name": "a", "flavor": "ec2_instance", "multiplier": ' + b"9" * 5000 + b"}"),
    Example("not utf-8", b'{"pcf_name": "caf\xe9", "flavor": "ec2_instance"}'),
    Example("duplicate keys", b'{"pcf_name": "a", "pcf_name": "b", "flavor": "ec2_instance"}'),
    Example("nan", b'{"pcf_name": "a", "flavor": "ec2_instance", "multiplier": NaN}'),
    Example("python tag", b"!!python/object/apply:os.system ['touch MARKER']\n", ".yml"),
    Example("two documents", b"pcf_name: a\n---\npcf_name: b\n", ".yml"),
]


# -- watching what an example does ------------------------------------------------------------------------
class Watch:
    """Records files opened and processes started while ``active`` (one process-wide audit hook)."""

    active: Watch | None = None

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.started: list[Any] = []

    @staticmethod
    def hook(event: str, args: tuple[Any, ...]) -> None:
        watch = Watch.active
        if watch is None:
            return
        if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            watch.opened.append(os.fsdecode(args[0]))
        elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn"):
            watch.started.append((event, args[:2]))


sys.addaudithook(Watch.hook)


@contextmanager
def watching() -> Iterator[Watch]:
    watch = Watch()
    Watch.active = watch
    try:
        yield watch
    finally:
        Watch.active = None


def allowed_roots(folder: Path) -> list[str]:
    """Where reading is fine: the definition's folder, Python and its packages, this project's own code."""
    return [str(folder.resolve()), sys.prefix, sys.base_prefix, sys.exec_prefix, str(PROJECT), "/dev/null"]


def outside(watch: Watch, folder: Path) -> list[str]:
    roots = allowed_roots(folder)
    return [path for path in watch.opened
            if not any(os.path.realpath(os.path.join(folder, path)).startswith(root) for root in roots)]


def only_template_renderers(watch: Watch) -> bool:
    """Processes started were the template renderer (``python -I -c``), never a shell or a definition's
    command."""
    return all(event == "subprocess.Popen" and list(args[1])[:2] == [sys.executable, "-I"]
               for event, args in watch.started)


def lay_out(tmp: Path, example: Example) -> tuple[Path, Path]:
    """The example's folder (with its file and neighbours), a secret beside it, and the marker's path."""
    folder = tmp / "defs"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        if stale.is_symlink() or stale.is_file() or stale.is_fifo():
            stale.unlink()
    marker = tmp / "marker"
    (tmp / "outside.j2").write_text("SECRET outside the definition's folder")
    (folder / "link.j2").symlink_to(tmp / "outside.j2")
    os.mkfifo(folder / "fifo.j2")
    for name, text in example.beside.items():
        (folder / name).write_text(text.replace(MARK, str(marker)))
    (folder / f"pcf{example.suffix}").write_bytes(example.content.replace(MARK.encode(), str(marker).encode()))
    return folder, marker


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    found: list[int] = []
    tracemalloc.start()
    try:
        yield found
    finally:
        found.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


# -- the properties ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared_cloud() -> Iterator[LocalCloud]:
    with LocalCloud(clock=VirtualClock()) as cloud:
        yield cloud


def assert_refused_by_the_cli(tmp: Path, example: Example, cloud: LocalCloud, commands: list[list[str]]) -> None:
    folder, marker = lay_out(tmp, example)
    runner = CliRunner(folder, VirtualClock())
    for argv in commands:
        with watching() as watch, peak_memory() as peak:
            result = runner(*argv, "-f", f"pcf{example.suffix}", cloud=cloud)
        assert result.code == 2, (example.name, argv, result.err)
        assert len(result.err_lines) == 1 and result.err_lines[0].startswith("pcf: error: "), result.err
        assert result.err_lines[0].isprintable(), result.err
        field, sep, reason = result.err_lines[0].removeprefix("pcf: error: ").partition(": ")
        assert sep and field and reason, result.err
        assert not marker.exists(), (example.name, "a payload ran")
        assert outside(watch, folder) == [], (example.name, "read outside the definition's folder")
        assert only_template_renderers(watch), (example.name, watch.started)
        assert peak[0] < PEAK_BYTES, (example.name, peak[0])
    ec2 = cloud.client("ec2")
    assert ec2.describe_instances()["Reservations"] == [] and ec2.describe_volumes()["Volumes"] == []


@given(example=definition_examples())
@EXAMPLES
def test_hostile_definitions_are_refused_by_validate_plan_and_run(
    tmp_path_factory: pytest.TempPathFactory, shared_cloud: LocalCloud, example: Example
) -> None:
    tmp = tmp_path_factory.mktemp("hostile")
    assert_refused_by_the_cli(tmp, example, shared_cloud, [["validate"], ["plan"], ["run", "--engine", "direct"]])


@pytest.mark.parametrize("example", FILE_EXAMPLES, ids=lambda e: e.name)
def test_hostile_files_are_refused_before_anything_is_built(
    tmp_path: Path, shared_cloud: LocalCloud, example: Example
) -> None:
    assert_refused_by_the_cli(tmp_path, example, shared_cloud, [["validate"], ["plan"], ["run", "--engine", "direct"]])


@given(example=definition_examples().filter(lambda e: e.definition is not None))
@EXAMPLES
def test_the_control_plane_plan_step_refuses_the_same_and_stores_nothing(
    tmp_path_factory: pytest.TempPathFactory, shared_cloud: LocalCloud, example: Example
) -> None:
    tmp = tmp_path_factory.mktemp("hostile")
    folder, marker = lay_out(tmp, example)
    definition = json.loads(json.dumps(example.definition).replace(MARK, str(marker)))
    store = InMemoryStateStore(clock=lambda: 0.0)
    steps = ControlPlane(store, shared_cloud.client_factory, clock=lambda: 0.0, deployment="fuzz")
    cwd = Path.cwd()
    os.chdir(folder)  # a Lambda's working directory holds no definition file: relative names must not resolve
    try:
        with watching() as watch, peak_memory() as peak, no_definition_files(), pytest.raises(DefinitionError) as e:
            run_steps.plan_run(steps, PlanInput(definition=copy.deepcopy(definition), execution="fuzz"))
    finally:
        os.chdir(cwd)
    assert e.value.field is not None and e.value.reason
    assert store.members_of("quasiparticle:fuzz") == [] and store.get_spec("ec2_instance:web") is None
    assert store.get_run("fuzz") is None, "no run partition either"
    assert not marker.exists()
    assert outside(watch, folder) == [] and only_template_renderers(watch)
    assert peak[0] < PEAK_BYTES


def test_the_watch_sees_what_it_must_see(tmp_path: Path) -> None:
    """The audit hook records an open outside the folder and a started shell: the properties above could fail."""
    secret = tmp_path / "elsewhere.txt"
    secret.write_text("x")
    (tmp_path / "defs").mkdir()
    with watching() as watch:
        secret.read_text()
        os.system("true")
    assert outside(watch, tmp_path / "defs") == [str(secret)]
    assert not only_template_renderers(watch)


