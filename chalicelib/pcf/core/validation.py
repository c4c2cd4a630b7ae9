"""Validate definitions before any AWS call, and expand quasiparticles into their member particles.

Checks: known flavor (closest suggested), unique keys present and not shared, state names, known
parents/children, no dependency cycle (members named), well-formed ``$inherit$`` naming a particle of
the definition, ``$lookup$`` of a known kind. Expansion: ``base_particle_config``, ``multiplier``
(names and unique keys suffixed ``-0``, ``-1``, …) and quasiparticle-level ``parents``.

A reference to a multiplied particle's base name means every copy, except from a copy of a group of the
same size, where it means the copy with the same index (``volume-1`` -> ``worker-1``).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pcf.core.definition import MAX_PARTICLES, ParticleDefinitionModel, QuasiparticleDefinitionModel, parse_model
from pcf.core.graph import DependencyGraph
from pcf.core.pcf_exceptions import (
    DefinitionError,
    DependencyCycleError,
    FlavorMissingException,
    InvalidUniqueKeysException,
    InvalidValueReplaceException,
    UnknownParentError,
)
from pcf.core.references import INHERIT_PREFIX, InheritRef, find_references
from pcf.core.registry import get_particle_flavor
from pcf.util.aws.shapes import field_path_problem, shape_named
from pcf.util.callbacks import check_callback
from pcf.util.pcf_util import MISSING, generate_pcf_id, get_path, set_path, update_dict

USER_FLAVOR_HINT = (" (a flavor that reads top-level keys of its own declares them in its definition_model, or sets "
                    "strict_keys = False there: docs/compatibility.md)")


def normalize_particle(raw: Mapping[str, Any], particle_class: type[Any], prefix: str = "") -> dict[str, Any]:
    """Parse one particle definition for ``particle_class``; returns the plain dict the particle keeps."""
    if isinstance(raw, Mapping) and not raw.get("flavor"):
        raise FlavorMissingException(_join(prefix, "flavor"), "is required")
    model = getattr(particle_class, "definition_model", ParticleDefinitionModel)
    spec = parse_model(model, raw, prefix, "" if particle_class.__module__.startswith("pcf.") else USER_FLAVOR_HINT)
    definition = spec.model_dump(mode="python")
    aws_resource = definition.get("aws_resource")
    if aws_resource is not None:
        if aws_resource.get("region_name") is None:
            aws_resource.pop("region_name", None)
        for path, ref in find_references(aws_resource, _join(prefix, "aws_resource")):
            if isinstance(ref, InheritRef):
                check_inherit_target(ref, ".".join([_join(prefix, "aws_resource"), *map(str, path)]))
    check_unique_keys(definition, particle_class, prefix)
    for transition, callback in (definition.get("callbacks") or {}).items():
        check_callback(callback.get("function"), _join(prefix, f"callbacks.{transition}.function"))
    return definition


def check_inherit_target(ref: InheritRef, field_name: str) -> None:
    """The ``$inherit$`` key path names a field of what the parent's flavor describes (when the flavor declares
    its ``STATE_SHAPE``); its flavor is known."""
    flavor = ref.parent_pcf_id.split(":", 1)[0]
    try:
        parent_class = get_particle_flavor(flavor, field=field_name)
    except DefinitionError as error:
        raise InvalidValueReplaceException(field_name, f"$inherit$ names {ref.parent_pcf_id}: {error.reason}") from None
    shape = getattr(parent_class, "STATE_SHAPE", None)
    if shape is None:
        return
    extra: frozenset[str] = getattr(parent_class, "EXTRA_STATE_FIELDS", frozenset())
    problem = field_path_problem(shape_named(*shape), ref.key_path, extra)
    if problem:
        raise InvalidValueReplaceException(
            field_name, f"$inherit$ {ref.parent_pcf_id}${ref.key_path}: a {flavor} has no such field ({problem})"
        )


def check_unique_keys(definition: Mapping[str, Any], particle_class: type[Any], prefix: str = "") -> None:
    """Every path in the flavor's ``UNIQUE_KEYS`` holds a non-empty value."""
    for key in getattr(particle_class, "UNIQUE_KEYS", ()):
        value = get_path(definition, key)
        if value is MISSING or value is None or value == "":
            raise InvalidUniqueKeysException(
                _join(prefix, key), f"is required by flavor {particle_class.flavor!r} (its UNIQUE_KEYS)"
            )


class MemberDefinition(dict[str, Any]):
    """A member's validated definition that remembers the member as given (``given_definition``): the member
    particle keeps that one as its ``particle_definition``, as the original PCF did."""

    def __init__(self, validated: dict[str, Any], given_definition: dict[str, Any]) -> None:
        super().__init__(validated)
        self.given_definition = given_definition


@dataclass
class ExpandedQuasiparticle:
    """A validated quasiparticle: its own definition and its expanded member definitions."""

    definition: dict[str, Any]
    members: list[dict[str, Any]]
    origins: dict[str, str] = field(default_factory=dict)  # member pcf_id -> "particles[i]"


@dataclass
class _Group:
    base_id: str
    index: int
    size: int


def expand_quasiparticle(raw: Mapping[str, Any]) -> ExpandedQuasiparticle:
    """Validate and expand a quasiparticle definition (see module docstring)."""
    spec = parse_model(QuasiparticleDefinitionModel, raw)
    members: list[dict[str, Any]] = []
    origins: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    group_of: dict[str, _Group] = {}
    earlier: dict[tuple[str, str], dict[str, Any]] = {}
    classes: dict[str, type[Any]] = {}
    given: dict[str, dict[str, Any]] = {}  # each member as the original built it: base merged, copies named

    for index, raw_member in enumerate(spec.particles):
        prefix = f"particles[{index}]"
        member = copy.deepcopy(dict(raw_member))
        member.setdefault("pcf_name", spec.pcf_name)
        if not member.get("flavor"):
            raise FlavorMissingException(f"{prefix}.flavor", "is required")
        particle_class = get_particle_flavor(str(member["flavor"]), field=f"{prefix}.flavor")
        if getattr(particle_class, "is_quasiparticle", False):
            raise DefinitionError(f"{prefix}.flavor", f"{member['flavor']!r} is a quasiparticle: no nesting")
        base_name = member.get("base_particle_config")
        if base_name:
            base = earlier.get((str(member["flavor"]), str(base_name)))
            if base is None:
                names = ", ".join(sorted(n for f, n in earlier if f == member["flavor"])) or "none"
                raise DefinitionError(
                    f"{prefix}.base_particle_config",
                    f"names no earlier {member['flavor']} particle {base_name!r} (earlier: {names})",
                )
            inherited = {k: v for k, v in base.items() if k not in ("pcf_name", "base_particle_config")}
            member, _diff = update_dict(inherited, member)
        definition = normalize_particle(member, particle_class, prefix)
        earlier[(definition["flavor"], definition["pcf_name"])] = member
        base_id = generate_pcf_id(definition["flavor"], definition["pcf_name"])
        count = len(members) + (definition.get("multiplier") or 1)
        if count > MAX_PARTICLES:
            raise DefinitionError(
                f"{prefix}.multiplier" if definition.get("multiplier") else "particles",
                f"makes {count:,} or more particles; a definition holds at most {MAX_PARTICLES:,}",
            )
        copies = _multiply(definition, particle_class) if definition.get("multiplier") else [definition]
        raw_copies = _numbered_copies(member, particle_class, len(copies)) if definition.get("multiplier") else [member]
        if definition.get("multiplier"):
            groups[base_id] = []
        for copy_index, (item, raw_item) in enumerate(zip(copies, raw_copies, strict=True)):
            pcf_id = generate_pcf_id(item["flavor"], item["pcf_name"])
            given[pcf_id] = _with_group_parents(raw_item, spec.parents)
            if pcf_id in origins:
                raise DefinitionError(f"{prefix}.pcf_name", f"{pcf_id} is defined twice ({origins[pcf_id]} too)")
            origins[pcf_id] = prefix
            classes[pcf_id] = particle_class
            if definition.get("multiplier"):
                groups[base_id].append(pcf_id)
                group_of[pcf_id] = _Group(base_id, copy_index, len(copies))
            members.append(item)

    resolver = _Resolver(set(origins), groups, group_of, spec.pcf_name)
    _link_members(members, origins, resolver, spec.parents)
    _check_shared_unique_values(members, origins, classes)
    _check_cycle(members)
    members = [MemberDefinition(m, given[generate_pcf_id(m["flavor"], m["pcf_name"])]) for m in members]
    definition = spec.model_dump(mode="python")
    definition["particles"] = members
    return ExpandedQuasiparticle(definition=definition, members=members, origins=origins)


def _multiply(definition: dict[str, Any], particle_class: type[Any]) -> list[dict[str, Any]]:
    """The validated copies of a multiplied member (``multiplier`` cleared: each is one particle)."""
    return [{**item, "multiplier": None}
            for item in _numbered_copies(definition, particle_class, definition["multiplier"])]


def _numbered_copies(member: dict[str, Any], particle_class: type[Any], count: int) -> list[dict[str, Any]]:
    """``count`` copies of ``member``, named and unique-keyed ``-0``, ``-1``, ... (a key it lacks stays absent)."""
    copies = []
    for i in range(count):
        item = copy.deepcopy(member)
        item["pcf_name"] = f"{member['pcf_name']}-{i}"
        for key in getattr(particle_class, "UNIQUE_KEYS", ()):
            value = get_path(member, key)
            if value is not MISSING:
                set_path(item, key, f"{value}-{i}")
        copies.append(item)
    return copies


def _with_group_parents(member: dict[str, Any], group_parents: list[str]) -> dict[str, Any]:
    if not group_parents:
        return member
    given = dict(member)
    given["parents"] = [*(member.get("parents") or []), *group_parents]
    return given


@dataclass
class _Resolver:
    ids: set[str]
    groups: dict[str, list[str]]
    group_of: dict[str, _Group]
    quasiparticle: str

    def resolve(self, ref: str, referrer: str | None, field_name: str) -> list[str]:
        if ":" not in ref:
            raise UnknownParentError(field_name, f"{ref!r} is not a pcf_id; expected 'flavor:pcf_name'")
        if ref in self.ids:
            return [ref]
        if ref in self.groups:
            targets = self.groups[ref]
            mine = self.group_of.get(referrer or "")
            if mine is not None and mine.size == len(targets):
                return [targets[mine.index]]
            return list(targets)
        close = difflib.get_close_matches(ref, sorted(self.ids | set(self.groups)), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownParentError(field_name, f"{ref!r} names no particle of {self.quasiparticle}{hint}")


def _link_members(
    members: list[dict[str, Any]], origins: dict[str, str], resolver: _Resolver, quasi_parents: list[str]
) -> None:
    shared = [pid for j, ref in enumerate(quasi_parents) for pid in resolver.resolve(ref, None, f"parents[{j}]")]
    for member in members:
        pcf_id = generate_pcf_id(member["flavor"], member["pcf_name"])
        prefix = origins[pcf_id]
        for relation in ("parents", "children"):
            resolved: list[str] = []
            for j, ref in enumerate(member.get(relation) or []):
                for target in resolver.resolve(ref, pcf_id, f"{prefix}.{relation}[{j}]"):
                    if target == pcf_id:
                        raise DependencyCycleError([pcf_id])
                    if target not in resolved:
                        resolved.append(target)
            member[relation] = resolved
        for parent in shared:
            if parent != pcf_id and parent not in member["parents"]:
                member["parents"].append(parent)
        _resolve_inherits(member, pcf_id, prefix, resolver)


def _resolve_inherits(member: dict[str, Any], pcf_id: str, prefix: str, resolver: _Resolver) -> None:
    aws_resource = member.get("aws_resource") or {}
    for path, ref in find_references(aws_resource, f"{prefix}.aws_resource"):
        if not isinstance(ref, InheritRef):
            continue
        field_name = ".".join([f"{prefix}.aws_resource", *map(str, path)])
        try:
            targets = resolver.resolve(ref.parent_pcf_id, pcf_id, field_name)
        except UnknownParentError as error:
            raise InvalidValueReplaceException(field_name, f"$inherit$ {error.reason}") from None
        if len(targets) != 1:
            raise InvalidValueReplaceException(
                field_name, f"$inherit$ names {len(targets)} copies of {ref.parent_pcf_id}; name one, e.g. {targets[0]}"
            )
        if targets[0] != ref.parent_pcf_id:
            set_path(aws_resource, path, f"{INHERIT_PREFIX}{targets[0]}${ref.key_path}")


def _check_shared_unique_values(
    members: list[dict[str, Any]], origins: dict[str, str], classes: dict[str, type[Any]]
) -> None:
    """Two members of a flavor whose ``UNIQUE_KEYS`` name its resource (``UNIQUE_KEYS_BIND_RESOURCE``) may not share
    a value: both would bind one resource. Other flavors' members may, as in the original PCF."""
    owners: dict[tuple[str, str, str], str] = {}
    for member in members:
        pcf_id = generate_pcf_id(member["flavor"], member["pcf_name"])
        if not getattr(classes[pcf_id], "UNIQUE_KEYS_BIND_RESOURCE", False):
            continue
        for key in getattr(classes[pcf_id], "UNIQUE_KEYS", ()):
            slot = (member["flavor"], key, str(get_path(member, key)))
            if slot in owners:
                raise InvalidUniqueKeysException(
                    f"{origins[pcf_id]}.{key}", f"{slot[2]!r} is also the {key} of {owners[slot]}; it must be unique"
                )
            owners[slot] = pcf_id


def definition_graph(members: list[dict[str, Any]]) -> DependencyGraph:
    """The dependency graph the definitions' ``parents`` and ``children`` describe."""
    ids = [generate_pcf_id(m["flavor"], m["pcf_name"]) for m in members]
    edges = []
    for member, pcf_id in zip(members, ids, strict=True):
        edges += [(parent, pcf_id) for parent in member.get("parents") or []]
        edges += [(pcf_id, child) for child in member.get("children") or []]
    return DependencyGraph(ids, edges)


def _check_cycle(members: list[dict[str, Any]]) -> None:
    cycle = definition_graph(members).find_cycle()
    if cycle:
        raise DependencyCycleError(cycle)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
