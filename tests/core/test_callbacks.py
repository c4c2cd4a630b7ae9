"""A definition names a callback; it never chooses code to run. Names resolve only to functions registered on
purpose (the stage's ``PCF_CALLBACKS``, the ``pcf.callbacks`` entry points, ``register_callback``), are
checked without importing anything, and a Python callable passed by the user's own code still runs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from pcf.core import State
from pcf.core.pcf_exceptions import NoCallbackFunctionException
from pcf.core.runtime import Runtime
from pcf.util import callbacks
from tests.support.callbacks import CALLS
from tests.support.memory_flavor import MemoryCloud, MemoryParticle, memory_definition

HOSTILE = ["os:system", "subprocess:run", "builtins:eval", "pcf.util.callbacks:resolve_callable",
           "no_such_module_anywhere:go", "os", ":system", "os:"]


@pytest.fixture
def trap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A module on sys.path whose import writes a marker file: importing it is running it."""
    marker = tmp_path / "imported"
    (tmp_path / "pcf_trap_module.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\nCALLS = []\n"
        "def go(**kwargs):\n    CALLS.append(kwargs)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield marker
    sys.modules.pop("pcf_trap_module", None)


def definition(function: Any, **kwargs: Any) -> dict[str, Any]:
    callback = {"function": function, "kwargs": kwargs}
    return memory_definition("a", desired_state="running", callbacks={"start": callback})


@pytest.mark.parametrize("name", HOSTILE)
def test_an_unregistered_name_is_refused_when_the_particle_is_built(name: str) -> None:
    with pytest.raises(NoCallbackFunctionException) as caught:
        MemoryParticle(definition(name, command="touch /tmp/pwned"))

    assert caught.value.field == "callbacks.start.function"
    assert "is not a registered callback" in caught.value.reason or "must be a callable" in caught.value.reason


def test_validation_imports_nothing(trap: Path) -> None:
    with pytest.raises(NoCallbackFunctionException):
        MemoryParticle(definition("pcf_trap_module:go"))

    assert not trap.exists() and "pcf_trap_module" not in sys.modules


@pytest.mark.parametrize("value", [3, None, "", ["os:system"]])
def test_a_value_that_is_neither_a_callable_nor_a_name_is_refused(value: Any) -> None:
    with pytest.raises(NoCallbackFunctionException) as caught:
        MemoryParticle(definition(value))

    assert caught.value.field == "callbacks.start.function"


def run_once(particle: MemoryParticle, runtime: Runtime) -> None:
    particle.apply(runtime=runtime)
    assert particle.state is State.running


def test_a_name_in_the_stage_allow_list_runs(
    memory_cloud: MemoryCloud, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PCF_CALLBACKS", "other:thing, tests.support.callbacks:record_call")
    CALLS.clear()
    particle = MemoryParticle(definition("tests.support.callbacks:record_call", particle=True, note="hi"))

    run_once(particle, runtime)

    assert [{"particle": particle, "note": "hi"}] == CALLS


def test_a_registered_function_runs_by_name_and_by_module_path(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    seen: list[tuple[Any, str]] = []

    @callbacks.register_callback(name="notify")
    def notify(particle: Any, note: str) -> None:
        seen.append((particle, note))

    try:
        by_name = MemoryParticle(definition("notify", particle=True, note="by name"))
        run_once(by_name, runtime)
        memory_cloud.resources.clear()
        by_path = MemoryParticle(definition(f"{__name__}:{notify.__qualname__}", particle=True, note="by path"))
        run_once(by_path, runtime)
    finally:
        callbacks.unregister_callback(notify)
    assert seen == [(by_name, "by name"), (by_path, "by path")]
    for name in ("notify", f"{__name__}:{notify.__qualname__}"):
        with pytest.raises(NoCallbackFunctionException):
            MemoryParticle(definition(name))


def test_register_callback_takes_the_name_positionally() -> None:
    def ping() -> None:
        pass

    try:
        assert callbacks.register_callback(ping, "ping") is ping
        assert callbacks.register_callback("pong")(ping) is ping
        assert callbacks.is_allowed("ping") and callbacks.is_allowed("pong")
    finally:
        callbacks.unregister_callback(ping)
    assert not callbacks.is_allowed("ping") and not callbacks.is_allowed(f"{__name__}:{ping.__qualname__}")


def test_an_entry_point_is_allowed_by_name_and_value(
    memory_cloud: MemoryCloud, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, trap: Path
) -> None:
    entry = EntryPoint(name="trap", value="pcf_trap_module:go", group=callbacks.ENTRY_POINT_GROUP)
    monkeypatch.setattr(callbacks, "_entry_points", lambda: {"trap": entry, "pcf_trap_module:go": entry})

    particle = MemoryParticle(definition("trap", particle=True, n=1))
    assert not trap.exists()  # allowed by name: still not imported while validating

    run_once(particle, runtime)
    assert trap.exists()  # imported when the callback ran
    assert [{"particle": particle, "n": 1}] == sys.modules["pcf_trap_module"].CALLS


def test_entry_points_are_read_from_the_group_once(monkeypatch: pytest.MonkeyPatch, trap: Path) -> None:
    groups: list[str] = []

    def fake_entry_points(group: str) -> list[EntryPoint]:
        groups.append(group)
        return [EntryPoint(name="trap", value="pcf_trap_module : go [extra]", group=group)]

    monkeypatch.setattr(callbacks, "entry_points", fake_entry_points)
    callbacks._entry_points.cache_clear()
    try:
        assert callbacks.is_allowed("trap") and callbacks.is_allowed("pcf_trap_module:go")
        assert not callbacks.is_allowed("pcf_trap_module:other")
    finally:
        callbacks._entry_points.cache_clear()
    assert groups == ["pcf.callbacks"]  # cached
    assert not trap.exists() and "pcf_trap_module" not in sys.modules


def test_a_python_callable_still_runs_in_library_mode(memory_cloud: MemoryCloud, runtime: Runtime) -> None:
    seen: list[Any] = []

    run_once(MemoryParticle(definition(lambda **kwargs: seen.append(kwargs), x=1)), runtime)

    assert seen == [{"x": 1}]


def test_running_checks_the_name_again(memory_cloud: MemoryCloud, runtime: Runtime,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCF_CALLBACKS", "os:system")
    particle = MemoryParticle(definition("os:system", command="true"))
    monkeypatch.setenv("PCF_CALLBACKS", "")  # a stored spec from when the name was allowed

    with pytest.raises(NoCallbackFunctionException, match="not a registered callback"):
        particle.apply(runtime=runtime)
