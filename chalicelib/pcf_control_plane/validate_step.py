"""The ``validate`` step: check a definition without acting and report its plan, or the field at fault."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from pcf.core.apply_engine import plan_levels
from pcf.core.builder import build
from pcf.core.pcf_exceptions import DefinitionError
from pcf.core.quasiparticle import Quasiparticle


class ValidateInput(BaseModel):
    """The event: a definition, and the state to plan for (the definition's own when omitted)."""

    definition: dict[str, Any]
    desired_state: str | None = Field(default=None, pattern="^(running|stopped|terminated)$")


class ValidateOutput(BaseModel):
    """Valid with the planned levels, or invalid with the field and the reason."""

    valid: bool
    pcf_id: str | None = None
    particles: int = 0
    levels: list[list[str]] = Field(default_factory=list)
    field: str | None = None
    reason: str | None = None
    error_type: str | None = None


def validate_definition(event: Mapping[str, Any]) -> ValidateOutput:
    """Validate ``event['definition']`` and plan it; never touches AWS."""
    try:
        request = ValidateInput.model_validate(dict(event))
        particle = build(request.definition)
        if request.desired_state:
            particle.set_desired_state(request.desired_state)
        members = particle.members() if isinstance(particle, Quasiparticle) else [particle]
        levels = plan_levels(members) if all(p.desired_state for p in members) else []
    except DefinitionError as error:
        return ValidateOutput(valid=False, field=error.field, reason=error.reason, error_type=type(error).__name__)
    except ValueError as error:  # pydantic's ValidationError of the event itself
        return ValidateOutput(valid=False, field="event", reason=str(error).splitlines()[0],
                              error_type=type(error).__name__)
    return ValidateOutput(
        valid=True, pcf_id=particle.pcf_id, particles=len(members), levels=[lv.pcf_ids for lv in levels]
    )
