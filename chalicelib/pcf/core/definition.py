"""Definitions as pydantic models, and loading them from JSON or YAML files.

A definition is what users write: ``pcf_name``, ``flavor``, ``aws_resource`` (with ``custom_config``),
``parents``/``children``, ``multiplier``, ``base_particle_config``, ``persist_on_termination`` (or the
original docs' ``persist_on_terminate``), ``persist_on_update``, ``callbacks``, ``desired_state``.
Quasiparticles add ``particles`` and a top-level ``custom_config``. Unknown keys are kept: flavors and
user subclasses read their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from pcf.core.pcf_exceptions import DefinitionError, DefinitionErrors

StateName = Literal["running", "stopped", "terminated"]
TransitionName = Literal["start", "stop", "terminate", "update"]
DEFAULT_DEFINITION_FILES = ("pcf.json", "pcf.yml", "pcf.yaml")
ModelT = TypeVar("ModelT", bound=BaseModel)


class CallbackSpec(BaseModel):
    """A function to call after a transition: a callable, or ``"package.module:function"`` in files."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    function: Callable[..., Any] | str = Field(description="callable, or 'module:attribute'")
    kwargs: dict[str, Any] = Field(default_factory=dict)


class AwsResourceSpec(BaseModel):
    """The AWS API parameters of a particle, with PCF's own settings under ``custom_config``."""

    model_config = ConfigDict(extra="allow")

    custom_config: dict[str, Any] = Field(default_factory=dict)
    region_name: str | None = Field(default=None, description="region of the resource; the client's when unset")


class ParticleSpec(BaseModel):
    """One particle's definition."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    pcf_name: str = Field(min_length=1, pattern=r"^[^:$\s]+$", description="unique within its flavor")
    flavor: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_]+$")
    aws_resource: AwsResourceSpec | None = None
    parents: list[str] = Field(default_factory=list, description="pcf_ids ('flavor:pcf_name') started first")
    children: list[str] = Field(default_factory=list, description="pcf_ids started after this particle")
    multiplier: int | None = Field(default=None, ge=1, le=10_000, description="copies named <pcf_name>-<i>")
    base_particle_config: str | None = Field(default=None, description="pcf_name of an earlier particle to extend")
    persist_on_termination: bool = Field(
        default=False, validation_alias=AliasChoices("persist_on_termination", "persist_on_terminate")
    )
    persist_on_update: bool = False
    callbacks: dict[TransitionName, CallbackSpec] = Field(default_factory=dict)
    desired_state: StateName | None = None


class QuasiparticleSpec(BaseModel):
    """A group of particles with dependencies."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    pcf_name: str = Field(min_length=1, pattern=r"^[^:$\s]+$")
    flavor: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_]+$")
    particles: list[dict[str, Any]] = Field(min_length=1)
    parents: list[str] = Field(default_factory=list, description="member pcf_ids every other member depends on")
    custom_config: dict[str, Any] = Field(default_factory=dict)
    persist_on_termination: bool = Field(
        default=False, validation_alias=AliasChoices("persist_on_termination", "persist_on_terminate")
    )
    persist_on_update: bool = False
    desired_state: StateName | None = None


def definition_json_schema() -> dict[str, Any]:
    """The JSON Schema of a definition file: a particle or a quasiparticle."""
    particle = ParticleSpec.model_json_schema(mode="validation")
    quasi = QuasiparticleSpec.model_json_schema(mode="validation")
    defs = {**particle.pop("$defs", {}), **quasi.pop("$defs", {})}
    particle["properties"]["callbacks"] = {
        "type": "object",
        "description": "transition name -> {function: 'module:attribute', kwargs: {...}}",
    }
    defs.pop("CallbackSpec", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "PCF definition",
        "oneOf": [{"$ref": "#/$defs/QuasiparticleSpec"}, {"$ref": "#/$defs/ParticleSpec"}],
        "$defs": {**defs, "ParticleSpec": particle, "QuasiparticleSpec": quasi},
    }


def errors_from_validation(error: ValidationError, prefix: str = "") -> DefinitionErrors:
    """A pydantic error as ``DefinitionErrors``, each naming its field as a dotted path."""
    found = []
    for item in error.errors():
        parts = [str(p) for p in item["loc"]]
        field = ".".join(parts)
        if prefix:
            field = f"{prefix}.{field}" if field else prefix
        reason = item["msg"]
        if item["type"] == "missing":
            reason = "is required"
        elif item["type"] == "literal_error":
            reason = f"{item['input']!r} is not allowed: {item['msg'].removeprefix('Input should be ')}"
        elif item["type"] == "extra_forbidden":
            reason = "is not a known setting"
        found.append(DefinitionError(field, reason))
    return DefinitionErrors(found)


def parse_model(model: type[ModelT], data: Any, prefix: str = "") -> ModelT:
    """Validate ``data`` against ``model``, raising ``DefinitionErrors`` that name the fields."""
    if not isinstance(data, Mapping):
        raise DefinitionError(prefix or "definition", f"must be a mapping, not {type(data).__name__}")
    try:
        return model.model_validate(dict(data))
    except ValidationError as error:
        raise errors_from_validation(error, prefix) from None


def load_definition(path: str | Path) -> dict[str, Any]:
    """Read a definition from a ``.json``, ``.yml`` or ``.yaml`` file (no validation yet)."""
    file = Path(path)
    if not file.is_file():
        raise DefinitionError("file", f"{file} does not exist")
    text = file.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise DefinitionError("file", f"{file} is not valid {file.suffix.lstrip('.').upper()}: {error}") from None
    if not isinstance(data, dict):
        raise DefinitionError("file", f"{file} must hold one mapping (a particle or quasiparticle definition)")
    return data


def find_default_definition(directory: str | Path = ".") -> Path:
    """The first of pcf.json, pcf.yml, pcf.yaml in ``directory``."""
    for name in DEFAULT_DEFINITION_FILES:
        candidate = Path(directory) / name
        if candidate.is_file():
            return candidate
    raise DefinitionError("file", f"no {', '.join(DEFAULT_DEFINITION_FILES)} in {Path(directory).resolve()}")
