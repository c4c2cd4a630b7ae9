"""The definitions of one file, checked as a whole: how many particles they make, the keys that identify
resources across all of them, and the ``parents``/``children`` that top-level particles name.

Top-level particles may depend on other top-level definitions of the same file (``parents:
["ec2_instance:db"]``); such references must resolve and form no cycle. ``multiplier`` is for members of a
quasiparticle only.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from pcf.core.definition import MAX_PARTICLES
from pcf.core.graph import DependencyGraph
from pcf.core.particle import Particle
from pcf.core.pcf_exceptions import (
    DefinitionError,
    DependencyCycleError,
    InvalidUniqueKeysException,
    UnknownParentError,
)
from pcf.util.pcf_util import generate_pcf_id, get_path

RELATIONS = ("parents", "children")


def check_raw_definitions(definitions: Sequence[Mapping[str, Any]]) -> None:
    """Before anything is built: at most ``MAX_PARTICLES`` particles in all (multipliers counted, without
    expanding them), and no ``multiplier`` on a top-level particle."""
    total = 0
    for index, definition in enumerate(definitions):
        where = f"[{index}]" if len(definitions) > 1 else ""
        if "particles" not in definition and definition.get("multiplier") is not None:
            raise DefinitionError(
                f"{where}.multiplier".lstrip("."),
                "multiplies members of a quasiparticle only: put this particle in a quasiparticle's particles",
            )
        total += particle_count(definition)
        if total > MAX_PARTICLES:
            raise DefinitionError(
                f"{where}.particles".lstrip("."),
                f"the file makes {total:,} or more particles; a file holds at most {MAX_PARTICLES:,}",
            )


def particle_count(definition: Mapping[str, Any]) -> int:
    """How many particles ``definition`` makes, multipliers (and those taken from ``base_particle_config``)
    counted; malformed entries count one (validation says what is wrong with them)."""
    members = definition.get("particles")
    if not isinstance(members, list):
        return 1
    multipliers: dict[tuple[Any, Any], int] = {}
    total = 0
    for member in members:
        if not isinstance(member, Mapping):
            total += 1
            continue
        key = (member.get("flavor"), member.get("pcf_name", definition.get("pcf_name")))
        count = member.get("multiplier")
        if count is None and member.get("base_particle_config") is not None:
            count = multipliers.get((member.get("flavor"), member.get("base_particle_config")), 1)
        count = count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1
        multipliers[key] = count
        total += count
    return total


def link_definitions(built: Sequence[Particle]) -> list[Particle]:
    """Check the built definitions as a set and link top-level relatives; returns them in the order to start
    them (parents first; reverse it to stop or terminate)."""
    _check_unique_values(built)
    ids = {particle.pcf_id: index for index, particle in enumerate(built)}
    edges: list[tuple[str, str]] = []
    for index, particle in enumerate(built):
        if getattr(particle, "is_quasiparticle", False):
            continue
        for relation in RELATIONS:
            for position, ref in enumerate(particle.normalized_definition.get(relation) or []):
                field = f"[{index}].{relation}[{position}]" if len(built) > 1 else f"{relation}[{position}]"
                if ref not in ids or ref == particle.pcf_id:
                    raise UnknownParentError(field, _unknown(ref, particle.pcf_id, list(ids)))
                edges.append((ref, particle.pcf_id) if relation == "parents" else (particle.pcf_id, ref))
    graph = DependencyGraph(list(ids), edges)
    cycle = graph.find_cycle()
    if cycle:
        raise DependencyCycleError(cycle)
    for parent_id, child_id in edges:
        parent, child = built[ids[parent_id]], built[ids[child_id]]
        parent.children.add(child)
        child.parents.add(parent)
    return start_order(built)


def start_order(built: Sequence[Particle]) -> list[Particle]:
    """The top-level definitions in the order to start them: each after the top-level parents it is linked to
    (file order otherwise)."""
    position = {id(particle): index for index, particle in enumerate(built)}
    placed: list[Particle] = []
    seen: set[int] = set()

    def place(particle: Particle) -> None:
        if id(particle) in seen:
            return
        seen.add(id(particle))
        for parent in sorted(particle.parents, key=lambda p: position.get(id(p), -1)):
            if id(parent) in position:
                place(parent)
        placed.append(particle)

    for particle in built:
        place(particle)
    return placed


def _unknown(ref: str, own: str, known: list[str]) -> str:
    if ref == own:
        return f"{ref!r} is this particle itself"
    others = [pcf_id for pcf_id in known if pcf_id != own]
    close = difflib.get_close_matches(ref, others, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; the file defines {', '.join(others) or 'nothing else'}"
    return f"{ref!r} names no other top-level definition of this file{hint}"


def _check_unique_values(built: Sequence[Particle]) -> None:
    """No two particles of a flavor whose ``UNIQUE_KEYS`` name its resource, anywhere in the file, share a value of a
    ``UNIQUE_KEYS`` path: both would bind the same resource."""
    from pcf.core.quasiparticle import Quasiparticle  # not at the top: quasiparticle imports the validation chain

    owners: dict[tuple[str, str, str], str] = {}
    for index, top in enumerate(built):
        members = top.members() if isinstance(top, Quasiparticle) else [top]
        for member in members:
            flavor = str(member.normalized_definition.get("flavor", member.flavor))
            if not getattr(type(member), "UNIQUE_KEYS_BIND_RESOURCE", False):
                continue
            for key in getattr(type(member), "UNIQUE_KEYS", ()):
                value = get_path(member.normalized_definition, key)
                slot = (flavor, key, repr(value))
                pcf_id = generate_pcf_id(flavor, member.name)
                if slot in owners and owners[slot] != pcf_id:
                    where = f"[{index}]." if len(built) > 1 else ""
                    raise InvalidUniqueKeysException(
                        f"{where}{pcf_id}.{key}", f"{value!r} is also the {key} of {owners[slot]}; it must be unique"
                    )
                owners.setdefault(slot, pcf_id)
