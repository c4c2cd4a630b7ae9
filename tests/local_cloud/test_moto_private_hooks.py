"""The private moto and botocore hooks of the local cloud still fit the installed versions, and live in one module.

A failure here means moto (or botocore) changed under a hook: its attribute is gone, its signature changed, or a
function whose body the hook relies on is no longer the one recorded. Read the hook's ``why`` in
``pcf_local_cloud/moto_private.py``, check the new moto source, and record the new signature or hash only once
the hook is right again.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import hashlib
import importlib
import inspect
import threading
import time
from pathlib import Path
from typing import Any

import botocore
import moto
import pytest

import pcf_local_cloud
from pcf_local_cloud.cloud import LocalCloud
from pcf_local_cloud.moto_private import HOOKS, RECORDED_MOTO, PrivateHook
from pcf_local_cloud.patching import active_patches

HOOK_MODULE = "moto_private.py"
GENERIC_NAMES = {"time", "_state", "Event", "threading", "Thread", "copy", "parse"}
"""Hooked names the package's own code also uses for its own things (modules, a private attribute, classes)."""
INTERPRETER_CLIENTS = "moto.stepfunctions.parser.asl.utils.boto_client.boto_client_for"


def resolve(dotted: str) -> tuple[Any, str]:
    """``(owner, name)``: the module or class that ``dotted`` names an attribute of, and the attribute's name."""
    owner_path, _, name = dotted.rpartition(".")
    parts = owner_path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            owner = getattr(owner, part)
        return owner, name
    raise LookupError(dotted)


def source_hash(dotted: str) -> str:
    owner, name = resolve(dotted)
    found = vars(owner)[name] if isinstance(owner, type) and name in vars(owner) else getattr(owner, name)
    function = found.fget if isinstance(found, property) else found
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


def problems(hook: PrivateHook) -> list[str]:
    """What no longer holds of ``hook`` in the installed moto and botocore (empty: the hook fits)."""
    found: list[str] = []
    try:
        owner, name = resolve(hook.target)
    except (LookupError, AttributeError) as error:
        return [f"its owner is gone ({error!r})"]
    own = vars(owner)
    if inspect.ismodule(owner) and name == "time":
        if own.get("time") is not time:
            found.append("the module no longer imports the time module as `time`")
    elif inspect.ismodule(owner) and name == "Event":
        if own.get("Event") is not threading.Event:
            found.append("the module no longer makes its events with threading.Event as `Event`")
    elif inspect.ismodule(owner) and name == "threading":
        if own.get("threading") is not threading:
            found.append("the module no longer imports the threading module as `threading`")
    elif inspect.ismodule(owner) and name == "Thread":
        if own.get("Thread") is not threading.Thread:
            found.append("the module no longer makes its threads with threading.Thread as `Thread`")
    elif inspect.ismodule(owner) and name == "copy":
        if own.get("copy") is not copy:
            found.append("the module no longer imports the copy module as `copy`")
    elif name in own or (isinstance(owner, type) and hasattr(owner, name)):
        if hook.signature is not None:
            signature = str(inspect.signature(own[name] if name in own else getattr(owner, name)))
            if signature != hook.signature:
                found.append(f"its signature is now {signature}, recorded {hook.signature}")
    elif not _set_in_relied_on(hook, name):
        found.append("the attribute is gone")
    for dotted, recorded in hook.relies_on.items():
        try:
            now = source_hash(dotted)
        except (LookupError, AttributeError, KeyError, OSError, TypeError) as error:
            found.append(f"{dotted}, whose body it relies on, is gone ({error!r})")
            continue
        if now != recorded:
            found.append(f"the source of {dotted}, whose body it relies on, changed "
                         f"(sha256 {now}, recorded {recorded})")
    return found


def _set_in_relied_on(hook: PrivateHook, name: str) -> bool:
    """Whether a function the hook relies on assigns the instance attribute ``name``."""
    for dotted in hook.relies_on:
        owner, attribute = resolve(dotted)
        function = vars(owner).get(attribute) if isinstance(owner, type) else getattr(owner, attribute, None)
        if inspect.isfunction(function) and f"self.{name} =" in inspect.getsource(function):
            return True
    return False


def versions() -> str:
    return f"moto {moto.__version__}, botocore {botocore.__version__} (hooks recorded on moto {RECORDED_MOTO})"


@pytest.fixture(autouse=True)
def _originals_in_place() -> None:
    assert active_patches() is None, "a local cloud is up: the hooks' originals cannot be checked"


@pytest.mark.parametrize("hook", HOOKS, ids=[hook.target.rsplit(".", 2)[-2] + "." + hook.target.rsplit(".", 1)[-1]
                                             for hook in HOOKS])
def test_each_private_hook_still_fits_the_installed_moto(hook: PrivateHook) -> None:
    found = problems(hook)
    assert not found, f"{versions()}: private hook {hook.target} no longer fits: " + "; ".join(found) + (
        f". Why it exists: {hook.why}")


def test_a_hook_whose_moto_function_changed_is_reported_with_the_version_and_the_hook() -> None:
    hook = HOOKS[1]  # Instance._state, which relies on two bodies
    dotted = next(iter(hook.relies_on))
    stale = dataclasses.replace(hook, relies_on={**hook.relies_on, dotted: "0" * 64})
    renamed = dataclasses.replace(HOOKS[0], target=HOOKS[0].target + "_renamed")
    resigned = dataclasses.replace(HOOKS[0], signature="(self)")

    assert [p for p in problems(stale) if dotted in p and "changed" in p]
    assert problems(renamed) == ["the attribute is gone"]
    assert problems(resigned) and "recorded (self)" in problems(resigned)[0]


def test_every_private_attribute_the_local_cloud_replaces_is_a_listed_hook() -> None:
    with LocalCloud() as cloud:
        targets = list(cloud.patches.targets)
    listed = {hook.target for hook in HOOKS if hook.replaced}
    private = [target for target in targets if _is_private(target)]
    unlisted = sorted({target for target in private if target not in listed
                       and not target.endswith(".boto_client_for")})

    assert private, "the local cloud replaces no private attribute: HOOKS is out of date"
    assert not unlisted, f"{versions()}: private attributes replaced outside moto_private.HOOKS: {unlisted}"
    assert INTERPRETER_CLIENTS in targets


def _is_private(target: str) -> bool:
    owner, name = resolve(target)
    return name.startswith("_") or inspect.ismodule(owner)


def test_only_moto_private_names_the_private_attributes() -> None:
    # a hooked public moto method (Table.query, get_multi_instances_by_id) may still be called by name elsewhere
    names = {hook.target.rsplit(".", 1)[-1] for hook in HOOKS if _is_private(hook.target)} - GENERIC_NAMES
    package = Path(pcf_local_cloud.__file__).parent
    naming: dict[str, list[str]] = {}
    for path in sorted(package.glob("*.py")):
        if path.name == HOOK_MODULE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            used = (node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name)
                    else node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None)
            if used in names:
                naming.setdefault(path.name, []).append(str(used))

    assert naming == {}
