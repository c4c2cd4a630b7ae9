"""Flavor registry: every particle class with a ``flavor`` registers itself when its class is created.

Built-in flavors are imported lazily the first time they are asked for, so ``import pcf`` stays cheap.
"""

from __future__ import annotations

import difflib
import importlib
import threading
from typing import Any

from pcf.core.pcf_exceptions import UnknownFlavorError

BUILTIN_FLAVOR_MODULES: dict[str, str] = {
    "ec2_instance": "pcf.particle.aws.ec2.ec2_instance",
    "ebs_volume": "pcf.particle.aws.ec2.ebs_volume",
    "quasiparticle": "pcf.core.quasiparticle",
    "distributed_master_worker": "pcf.quasiparticle.aws.distributed_master_worker",
}

_registry: dict[str, type[Any]] = {}
_lock = threading.RLock()


def register_flavor(cls: type[Any]) -> None:
    """Record ``cls`` under its lower-cased ``flavor`` (a later class with the same flavor wins)."""
    flavor = getattr(cls, "flavor", None)
    if isinstance(flavor, str) and flavor:
        with _lock:
            _registry[flavor.lower()] = cls


def get_particle_flavor(flavor: str, field: str = "flavor") -> type[Any]:
    """The class registered for ``flavor``; ``UnknownFlavorError`` suggests the closest known name."""
    key = flavor.lower()
    with _lock:
        cls = _registry.get(key)
    if cls is None and key in BUILTIN_FLAVOR_MODULES:
        importlib.import_module(BUILTIN_FLAVOR_MODULES[key])
        with _lock:
            cls = _registry.get(key)
    if cls is None:
        known = known_flavors()
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known flavors: {', '.join(known)}"
        raise UnknownFlavorError(field, f"unknown flavor {flavor!r}{hint}")
    return cls


def known_flavors() -> list[str]:
    """Every flavor that can be asked for: the registered ones and the built-ins."""
    with _lock:
        return sorted(set(_registry) | set(BUILTIN_FLAVOR_MODULES))


def load_builtin_flavors() -> dict[str, type[Any]]:
    """Import every built-in flavor and return the whole registry."""
    for flavor in BUILTIN_FLAVOR_MODULES:
        get_particle_flavor(flavor)
    with _lock:
        return dict(_registry)
