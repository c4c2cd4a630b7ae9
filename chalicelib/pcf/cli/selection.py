"""Which definitions a command acts on: the file, its definitions, and the NAME picked from them."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pcf.core import State
from pcf.core.builder import build, build_all
from pcf.core.definition import find_default_definition
from pcf.core.particle import Particle
from pcf.core.pcf_exceptions import DefinitionError

MAX_NAMES_LISTED = 12


def definition_file(file: str | None, cwd: str | Path = ".") -> Path:
    """``file`` (relative to ``cwd``), or the first of pcf.json, pcf.yml, pcf.yaml in ``cwd``."""
    return Path(cwd) / file if file else find_default_definition(cwd)


def load_definitions(path: str | Path) -> list[dict[str, Any]]:
    """The definitions a JSON/YAML file holds: one mapping, or a list of them (not validated yet)."""
    file = Path(path)
    if not file.is_file():
        raise DefinitionError("file", f"{file} does not exist")
    text = file.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        kind = "JSON" if file.suffix == ".json" else "YAML"
        raise DefinitionError("file", f"{file} is not valid {kind}: {_parse_problem(error)}") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise DefinitionError("file", f"{file} holds no definition")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            where = f"[{index}]" if isinstance(data, list) else ""
            raise DefinitionError(
                f"file{where}", f"must be a definition (a mapping) or a list of them, not {type(item).__name__}"
            )
    return items


def _parse_problem(error: Exception) -> str:
    """A parse error in one line, with its position."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(error).splitlines()[0]


@dataclass
class Selection:
    """One thing a command applies: a top-level definition, or one member of a quasiparticle."""

    top: Particle
    particle: Particle

    @property
    def is_member(self) -> bool:
        return self.particle is not self.top

    @property
    def label(self) -> str:
        return self.particle.pcf_id if self.is_member else self.top.name

    def set_desired_state(self, state: State | str, cascade: bool = False) -> None:
        """Desire ``state`` for what is selected; the relatives an apply brings along follow it."""
        self.particle.set_desired_state(state)
        if self.is_member:
            relatives = self.particle.ancestors() if self.particle.desired_state is State.running else (
                self.particle.descendants() if cascade else set()
            )
            for relative in relatives:
                relative.desired_state = None

    def particles(self, cascade: bool = False) -> list[Particle]:
        """Every particle an apply of the selection touches (as ``apply`` itself picks them)."""
        if is_quasiparticle(self.particle):
            return list(self.particle.members())  # type: ignore[attr-defined]
        return self.particle.apply_family(cascade)


def is_quasiparticle(particle: Particle) -> bool:
    return bool(getattr(particle, "is_quasiparticle", False))


def build_definitions(definitions: list[dict[str, Any]]) -> list[Particle]:
    """Validate and build every definition (nothing touches AWS); errors name the list position when
    there are several."""
    built = build_all(definitions) if len(definitions) > 1 else [build(definitions[0])]
    seen: dict[str, int] = {}
    for index, particle in enumerate(built):
        if particle.pcf_id in seen:
            other = seen[particle.pcf_id]
            raise DefinitionError(f"[{index}].pcf_name", f"{particle.pcf_id} is also defined by [{other}]")
        seen[particle.pcf_id] = index
    return built


def select(built: list[Particle], name: str | None) -> list[Selection]:
    """All top-level definitions, or the one NAME picks: a top-level pcf_name or pcf_id, else a member's
    pcf_id or pcf_name. An unknown or ambiguous NAME is a ``DefinitionError`` on field ``NAME``."""
    if not name:
        return [Selection(p, p) for p in built]
    matches = [Selection(top, top) for top in built if name in (top.name, top.pcf_id)]
    if not matches:
        matches = [
            Selection(top, member)
            for top in built
            if is_quasiparticle(top)
            for member in top.members()  # type: ignore[attr-defined]
            if name in (member.pcf_id, member.name)
        ]
    if len(matches) == 1:
        return matches
    if matches:
        ids = ", ".join(sorted(f"{m.particle.pcf_id} (in {m.top.name})" if m.is_member else m.top.pcf_id
                               for m in matches))
        raise DefinitionError("NAME", f"{name!r} is ambiguous: name one of {ids}")
    known = known_names(built)
    members = [m.name for top in built if is_quasiparticle(top) for m in top.members()]  # type: ignore[attr-defined]
    close = difflib.get_close_matches(name, known + members, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    listed = ", ".join(known[:MAX_NAMES_LISTED])
    if len(known) > MAX_NAMES_LISTED:
        listed += f", … (+{len(known) - MAX_NAMES_LISTED} more)"
    raise DefinitionError("NAME", f"{name!r} matches no definition; {hint}known: {listed}")


def known_names(built: list[Particle]) -> list[str]:
    """The NAMEs a command accepts: top-level pcf_names, then member pcf_ids."""
    names = [p.name for p in built]
    for top in built:
        if is_quasiparticle(top):
            names += sorted(m.pcf_id for m in top.members())  # type: ignore[attr-defined]
    return names
