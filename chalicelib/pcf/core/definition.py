"""Definitions as pydantic models, and loading them from JSON or YAML files.

A definition is what users write: ``pcf_name``, ``flavor``, ``aws_resource`` (with ``custom_config``),
``parents``/``children``, ``multiplier``, ``base_particle_config``, ``persist_on_termination`` (or the
original docs' ``persist_on_terminate``), ``persist_on_update``, ``callbacks``, ``desired_state``.
Quasiparticles add ``particles`` and a top-level ``custom_config``. Both take ``heal`` and ``drift`` (the
control plane's policies). Unknown keys are refused, naming the closest known one.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
)

from pcf.core.definition_file import DEFAULT_LIMITS, DefinitionLimits
from pcf.core.definition_file import load_definition as read_definition_file
from pcf.core.pcf_exceptions import DefinitionError, DefinitionErrors
from pcf.core.printable import unprintable_reason

StateName = Literal["running", "stopped", "terminated"]
TransitionName = Literal["start", "stop", "terminate", "update"]
DriftPolicy = Literal["revert", "report"]
MAX_NAME_LENGTH = 128
MAX_PARTICLES = 10_000
"""Particles one definition file may describe in all, multipliers expanded (docs/definitions.md)."""
PROVIDER_RESOURCE_SUFFIX = "_resource"
DEFAULT_DEFINITION_FILES = ("pcf.json", "pcf.yml", "pcf.yaml")
ModelT = TypeVar("ModelT", bound=BaseModel)


class CallbackSpec(BaseModel):
    """A function to call after a transition: a callable, or in files the name of a function the deployment
    registered (``pcf.util.callbacks``); ``pcf.core.validation`` refuses any other name, without importing it."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    function: Any = Field(description="callable, or a registered 'module:attribute' name")
    kwargs: dict[str, Any] = Field(default_factory=dict)


class AwsResourceSpec(BaseModel):
    """The AWS API parameters of a particle, with PCF's own settings under ``custom_config``."""

    model_config = ConfigDict(extra="allow")

    custom_config: dict[str, Any] = Field(default_factory=dict)
    region_name: str | None = Field(default=None, description="region of the resource; the client's when unset")


class ParticleDefinitionModel(BaseModel):
    """One particle's definition. Unknown keys are refused (with the closest known one suggested), except
    ``<something>_resource`` mappings, which flavors of other providers read (``gcp_resource``); a user flavor
    with keys of its own declares them as fields of its ``definition_model`` (a subclass of this one), or sets
    ``strict_keys = False`` there to accept any."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    strict_keys: ClassVar[bool] = True

    pcf_name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, description="unique within its flavor")
    flavor: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=r"^[A-Za-z0-9_]+$")
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
    heal: StrictBool | None = Field(default=None, description="heal drift seen in events (default true)")
    drift: DriftPolicy | None = Field(default=None, description="on configuration drift: revert (default) or report")

    @field_validator("pcf_name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        return _check_name(value)


class QuasiparticleDefinitionModel(BaseModel):
    """A group of particles with dependencies (unknown keys refused, as for a particle)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    strict_keys: ClassVar[bool] = True

    pcf_name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    flavor: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=r"^[A-Za-z0-9_]+$")
    particles: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_PARTICLES)
    parents: list[str] = Field(default_factory=list, description="member pcf_ids every other member depends on")
    custom_config: dict[str, Any] = Field(default_factory=dict)
    persist_on_termination: bool = Field(
        default=False, validation_alias=AliasChoices("persist_on_termination", "persist_on_terminate")
    )
    persist_on_update: bool = False
    desired_state: StateName | None = None
    heal: StrictBool | None = Field(default=None, description="the members' default healing policy")
    drift: DriftPolicy | None = Field(default=None, description="the members' default drift policy")

    @field_validator("pcf_name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        return _check_name(value)


def _check_name(value: str) -> str:
    """A ``pcf_name``: no ``:`` or ``$`` (they delimit pcf_ids and references), no space, no control character."""
    reason = unprintable_reason(value, allow_space=False)
    if reason is None and (":" in value or "$" in value):
        reason = "must not contain ':' or '$' (they separate a pcf_id's parts and reference parts)"
    if reason is not None:
        raise ValueError(reason)
    return value


def _aliases(field_info: Any) -> list[str]:
    alias = field_info.validation_alias
    return [c for c in getattr(alias, "choices", []) if isinstance(c, str)]


def known_keys(model: type[BaseModel]) -> list[str]:
    """The keys ``model`` accepts: its field names and their aliases."""
    return sorted(set(model.model_fields) | {a for f in model.model_fields.values() for a in _aliases(f)})


def check_unknown_keys(spec: BaseModel, prefix: str = "", hint: str = "") -> None:
    """Refuse keys ``spec``'s model does not know (``strict_keys``), suggesting the closest known key (and adding
    ``hint``); ``<provider>_resource`` keys pass."""
    if not getattr(type(spec), "strict_keys", False) or not spec.model_extra:
        return
    known = known_keys(type(spec))
    for key in spec.model_extra:
        if key.endswith(PROVIDER_RESOURCE_SUFFIX):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        closest = f"; did you mean {close[0]!r}?" if close else f"; known settings: {', '.join(known)}"
        raise DefinitionError(f"{prefix}.{key}" if prefix else key, f"is not a known setting{closest}{hint}")


def definition_json_schema() -> dict[str, Any]:
    """The JSON Schema of a definition file: a particle or a quasiparticle."""
    particle = ParticleDefinitionModel.model_json_schema(mode="validation")
    quasi = QuasiparticleDefinitionModel.model_json_schema(mode="validation")
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
        elif item["type"] == "value_error":
            reason = reason.removeprefix("Value error, ")
        elif item["type"] in ("bool_type", "bool_parsing"):
            reason = f"must be true or false, not {_shown(item['input'])}"
        elif item["type"] in ("int_type", "int_parsing", "int_from_float", "string_type", "list_type", "dict_type"):
            reason = f"{reason[0].lower()}{reason[1:]}, not {_shown(item['input'])}"
        found.append(DefinitionError(field, reason))
    return DefinitionErrors(found)


def _shown(value: Any) -> str:
    """A short rendering of a refused value for a one-line message."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def parse_model(model: type[ModelT], data: Any, prefix: str = "", unknown_key_hint: str = "") -> ModelT:
    """Validate ``data`` against ``model``, raising ``DefinitionErrors`` that name the fields (an unknown key's
    reason ends with ``unknown_key_hint``)."""
    if not isinstance(data, Mapping):
        raise DefinitionError(prefix or "definition", f"must be a mapping, not {type(data).__name__}")
    try:
        spec = model.model_validate(dict(data))
    except ValidationError as error:
        raise errors_from_validation(error, prefix) from None
    check_unknown_keys(spec, prefix, unknown_key_hint)
    return spec


def load_definition(path: str | Path, limits: DefinitionLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Read a definition from a ``.json``, ``.yml`` or ``.yaml`` file (no validation yet), within ``limits``."""
    return read_definition_file(path, limits)


def find_default_definition(directory: str | Path = ".") -> Path:
    """The first of pcf.json, pcf.yml, pcf.yaml in ``directory``."""
    for name in DEFAULT_DEFINITION_FILES:
        candidate = Path(directory) / name
        if candidate.is_file():
            return candidate
    raise DefinitionError("file", f"no {', '.join(DEFAULT_DEFINITION_FILES)} in {Path(directory).resolve()}")
