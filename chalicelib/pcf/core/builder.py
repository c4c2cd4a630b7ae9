"""Build particles from definitions: the flavor picks the class."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pcf.core.definition import load_definition
from pcf.core.definition_set import check_raw_definitions
from pcf.core.particle import Particle
from pcf.core.pcf_exceptions import DefinitionError, FlavorMissingException
from pcf.core.registry import get_particle_flavor


def build(definition: Mapping[str, Any]) -> Particle:
    """The particle or quasiparticle a definition describes, validated."""
    if not isinstance(definition, Mapping):
        raise DefinitionError("definition", f"must be a mapping, not {type(definition).__name__}")
    flavor = definition.get("flavor")
    if not flavor:
        raise FlavorMissingException()
    check_raw_definitions([definition])
    return get_particle_flavor(str(flavor))(definition)


def build_from_file(path: str | Path) -> Particle:
    """Load a JSON/YAML definition file and build it; files it names are read from its folder."""
    from pcf.util.definition_files import reading_definitions

    with reading_definitions(Path(path).absolute().parent):
        return build(load_definition(path))


def build_all(definitions: Sequence[Mapping[str, Any]]) -> list[Particle]:
    """Build several top-level definitions; an error notes the list position it came from."""
    built = []
    for index, definition in enumerate(definitions):
        try:
            built.append(build(definition))
        except DefinitionError as error:
            error.add_note(f"in definition [{index}]")
            raise
    return built
