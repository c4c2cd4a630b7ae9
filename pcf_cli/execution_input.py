"""What the CLI sends to the ``apply`` state machine: one definition per execution, its input (the plan Lambda's
``pcf_control_plane.messages.PlanInput``, checked here too so a bad option is refused before anything starts) and
its name."""

from __future__ import annotations

import copy
import json
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pcf.core.pcf_exceptions import DefinitionError
from pcf.particle.aws.ec2.ec2_definition import inline_template_file
from pcf_cli.selection import Selection
from pcf_control_plane.messages import DEFAULT_AWAIT_SECONDS, MAX_CONCURRENCY, MAX_PARTICLE_WAIT_SECONDS, PAGE_SIZE

DEFAULT_CONCURRENCY = PAGE_SIZE
MAX_POLLS = 10_000
MAX_WAIT_SECONDS = 3600
DEFAULT_MAX_POLLS = 120
MAX_INPUT_BYTES = 256 * 1024
MAX_NAME_LENGTH = 80
DIRECT_HINT = "use --engine direct"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class ExecutionSettings:
    """How each execution runs: seconds between polls of a particle, polls before timing out, rollback, concurrency,
    and how long a particle waits for the event that ends its transition before it is visited anyway."""

    wait_seconds: int = 5
    max_polls: int = DEFAULT_MAX_POLLS
    rollback: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    await_seconds: int = DEFAULT_AWAIT_SECONDS


def execution_settings(*, wait_seconds: int, timeout: float | None, rollback: bool,
                       concurrency: int | None) -> ExecutionSettings:
    """The settings for the options given. ``timeout`` seconds become ``ceil(timeout / wait)`` polls, each poll
    counted as at least one second (a wait of 0 polls back to back), and a particle waits for an event at most as
    long as one poll's share of ``timeout`` (at most 60 s, at least 1 s), so that ``timeout`` holds when an event
    never comes (a lost event, a resource stuck in its transition)."""
    if not 0 <= wait_seconds <= MAX_WAIT_SECONDS:
        raise DefinitionError("--wait-seconds", f"must be between 0 and {MAX_WAIT_SECONDS}, not {wait_seconds}")
    if concurrency is not None and not 1 <= concurrency <= MAX_CONCURRENCY:
        raise DefinitionError("--max-workers", f"{concurrency} is more than the {MAX_CONCURRENCY} particles a level "
                                               f"runs at once with --engine stepfunctions (pages of {PAGE_SIZE}); "
                                               f"give 1..{MAX_CONCURRENCY}, or {DIRECT_HINT}")
    max_polls, await_seconds = DEFAULT_MAX_POLLS, DEFAULT_AWAIT_SECONDS
    if timeout is not None:
        max_polls = max(1, math.ceil(timeout / max(wait_seconds, 1)))
        if max_polls > MAX_POLLS:
            raise DefinitionError(
                "--timeout", f"{timeout:g}s is more than {MAX_POLLS} polls of {max(wait_seconds, 1)}s; "
                             "raise --wait-seconds or shorten --timeout")
        if max_polls * wait_seconds > MAX_PARTICLE_WAIT_SECONDS:
            raise DefinitionError(
                "--timeout", f"{timeout:g}s is more than the {MAX_PARTICLE_WAIT_SECONDS} s a particle may wait "
                             "in the page state machine; shorten --timeout")
        await_seconds = min(DEFAULT_AWAIT_SECONDS, max(1, math.ceil(timeout / max_polls)))
    return ExecutionSettings(wait_seconds, max_polls, rollback, concurrency or DEFAULT_CONCURRENCY, await_seconds)


def check_expressible(selection: Selection, cascade: bool) -> None:
    """Refuse ``--cascade`` with a whole definition (its members cascade already)."""
    if cascade and not selection.is_member:
        raise DefinitionError("--cascade", f"{selection.top.name!r} is a whole definition: its members cascade "
                                           "already; name one member of a quasiparticle to cascade from it")


def member_input(selection: Selection, cascade: bool) -> dict[str, Any]:
    """What the input adds for a member picked by NAME (``only`` it, and ``cascade``); nothing for a definition."""
    return {"only": [selection.particle.pcf_id], "cascade": cascade} if selection.is_member else {}


def inline_templates(definition: dict[str, Any], root: Path) -> dict[str, Any]:
    """A copy of ``definition`` whose particles carry the text of the ``userdata_template_file`` they name (read from
    under ``root``, the definition file's folder): the control plane never reads files a definition names."""
    inlined = copy.deepcopy(definition)
    members = inlined.get("particles")
    places = [("", inlined)] + [(f"particles[{index}]", member) for index, member in
                                enumerate(members if isinstance(members, list) else [])]
    for prefix, particle in places:
        resource = particle.get("aws_resource") if isinstance(particle, dict) else None
        if isinstance(resource, dict):
            inline_template_file(resource, root, prefix)
    return inlined


def execution_input(definition: dict[str, Any], desired_state: str | None, settings: ExecutionSettings,
                    member: dict[str, Any] | None = None) -> str:
    """The execution input as JSON (at most 256 KB): the definition, state, the member picked and settings."""
    payload: dict[str, Any] = {"definition": copy.deepcopy(definition)}
    if desired_state:
        payload["desired_state"] = desired_state
    payload.update(member or {})
    payload.update(wait_seconds=settings.wait_seconds, max_polls=settings.max_polls,
                   await_seconds=settings.await_seconds, rollback=settings.rollback,
                   concurrency=settings.concurrency)
    try:
        text = json.dumps(payload)
    except (TypeError, ValueError) as error:
        raise DefinitionError("file", f"the definition holds a value that is not JSON ({error})") from None
    if len(text.encode()) > MAX_INPUT_BYTES:
        raise DefinitionError("file", f"the definition is {len(text.encode())} bytes as JSON, more than the "
                                      f"{MAX_INPUT_BYTES} bytes of an execution's input; split it, or {DIRECT_HINT}")
    return text


def new_execution_name(prefix: str, name: str, *, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                       token: Callable[[], str] = lambda: secrets.token_hex(2)) -> str:
    """``<prefix>-<name>-<UTC time>-<4 hex>``: unique, readable, only ``[A-Za-z0-9_-]``, at most 80 characters."""
    stamp = now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = f"-{stamp}-{token()}"
    prefix = f"{_safe(prefix)}-"
    room = MAX_NAME_LENGTH - len(prefix) - len(suffix)
    readable = _safe(name)[:room].strip("-_") or "definition"
    return f"{prefix}{readable}{suffix}"


def _safe(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-")
