"""Which definitions a command acts on: the file, its definitions, and the NAME picked from them."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from pcf.core import State
from pcf.core.builder import build, build_all
from pcf.core.definition import find_default_definition
from pcf.core.definition_file import DEFAULT_LIMITS, DefinitionLimits
from pcf.core.definition_file import load_definitions as read_definitions_file
from pcf.core.definition_set import check_raw_definitions, link_definitions, start_order
from pcf.core.particle import Particle
from pcf.core.pcf_exceptions import DefinitionError
from pcf.core.quasiparticle import Quasiparticle
from pcf.util.definition_files import reading_definitions

MAX_NAMES_LISTED = 12


def definition_file(file: str | None, cwd: str | Path = ".") -> Path:
    """``file`` (relative to ``cwd``), or the first of pcf.json, pcf.yml, pcf.yaml in ``cwd``."""
    return Path(cwd) / file if file else find_default_definition(cwd)


def load_definitions(path: str | Path, limits: DefinitionLimits = DEFAULT_LIMITS) -> list[dict[str, Any]]:
    """The definitions a JSON/YAML file holds (one mapping, or a list), not validated yet, within ``limits``."""
    return read_definitions_file(path, limits)


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
            return list(self.particle.members())
        return self.particle.apply_family(cascade)


def is_quasiparticle(particle: Particle) -> TypeGuard[Quasiparticle]:
    """Is ``particle`` a quasiparticle (it has ``members()``)?"""
    return isinstance(particle, Quasiparticle)


def build_definitions(definitions: list[dict[str, Any]], root: Path | None = None) -> list[Particle]:
    """Validate and build every definition (nothing touches AWS; errors name the list position); the files they
    name (user data templates) are read from under ``root``, the definition file's folder."""
    check_raw_definitions(definitions)
    with reading_definitions(root):
        built = build_all(definitions) if len(definitions) > 1 else [build(definitions[0])]
    seen: dict[str, int] = {}
    for index, particle in enumerate(built):
        if particle.pcf_id in seen:
            other = seen[particle.pcf_id]
            raise DefinitionError(f"[{index}].pcf_name", f"{particle.pcf_id} is also defined by [{other}]")
        seen[particle.pcf_id] = index
    link_definitions(built)
    return built


def in_dependency_order(selections: list[Selection]) -> list[Selection]:
    """``selections`` in the order to apply them: top-level parents first, or last when every selected particle
    is to be stopped or terminated."""
    order = {id(top): index for index, top in enumerate(start_order([s.top for s in selections]))}
    ordered = sorted(selections, key=lambda s: order.get(id(s.top), 0))
    stopping = all(s.particle.desired_state in (State.stopped, State.terminated) for s in ordered)
    return list(reversed(ordered)) if stopping else ordered


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
            for member in top.members()
            if name in (member.pcf_id, member.name)
        ]
    if len(matches) == 1:
        return matches
    if matches:
        ids = ", ".join(sorted(f"{m.particle.pcf_id} (in {m.top.name})" if m.is_member else m.top.pcf_id
                               for m in matches))
        raise DefinitionError("NAME", f"{name!r} is ambiguous: name one of {ids}")
    known = known_names(built)
    members = [m.name for top in built if is_quasiparticle(top) for m in top.members()]
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
            names += sorted(m.pcf_id for m in top.members())
    return names
