"""Replace class (or module) attributes and put back exactly what was there before."""

from __future__ import annotations

from types import ModuleType

_MISSING = object()


def defining_class(cls: type, name: str) -> type:
    """The class in ``cls``'s MRO whose own namespace holds ``name`` (where a patch must go)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    raise AttributeError(f"{cls.__qualname__} has no attribute {name!r}")


class PatchSet:
    """A stack of class-attribute replacements, undone in reverse order.

    The raw namespace entry is saved (a function, ``property`` or nothing at all), so restoring gives
    back the identical object, or removes an attribute the class did not have.
    """

    def __init__(self) -> None:
        self._saved: list[tuple[type | ModuleType, str, object]] = []

    def replace(self, owner: type | ModuleType, name: str, value: object) -> None:
        """Set ``owner.name = value``, remembering what ``owner`` itself held under ``name``."""
        self._saved.append((owner, name, vars(owner).get(name, _MISSING)))
        setattr(owner, name, value)

    def restore(self) -> None:
        """Undo every replacement, newest first."""
        while self._saved:
            owner, name, original = self._saved.pop()
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)

    @property
    def targets(self) -> list[str]:
        """Dotted names of the patched attributes, in the order they were patched."""
        return [_dotted(owner, name) for owner, name, _ in self._saved]

    def __len__(self) -> int:
        return len(self._saved)


def _dotted(owner: type | ModuleType, name: str) -> str:
    if isinstance(owner, ModuleType):
        return f"{owner.__name__}.{name}"
    return f"{owner.__module__}.{owner.__qualname__}.{name}"
