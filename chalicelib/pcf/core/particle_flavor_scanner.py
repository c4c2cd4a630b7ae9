"""The original PCF's flavor lookup: ``get_particle_flavor(name)`` and ``get_particle_flavor_registry()``.

Built-in flavors are loaded on first use (not at import, as the original's scan of every module did); a user's
flavor is found once its class is defined.
"""

from __future__ import annotations

from typing import Any

from pcf.core.pcf_exceptions import UnknownFlavorError
from pcf.core.registry import get_particle_flavor as _lookup
from pcf.core.registry import load_builtin_flavors


class ParticleFlavorNotFoundError(UnknownFlavorError):
    """No particle class is registered for the flavor."""


class InvalidInputException(UnknownFlavorError):
    """The flavor asked for is empty or not a string."""


def get_particle_flavor(flavor: Any) -> type[Any]:
    """The particle class registered for ``flavor`` (case-insensitive)."""
    if not isinstance(flavor, str) or not flavor:
        raise InvalidInputException("flavor", f"particle flavor names cannot be empty or null, got {flavor!r}")
    try:
        return _lookup(flavor)
    except UnknownFlavorError as error:
        raise ParticleFlavorNotFoundError(error.field, error.reason) from None


def get_particle_flavor_registry() -> dict[str, type[Any]]:
    """Every flavor, built-in and user-defined, by its lower-cased name."""
    return load_builtin_flavors()
