"""Text that is safe to store as a name and to echo to a terminal.

Names (``pcf_name``, instance and volume names, tags) become AWS tags, DynamoDB keys, execution names and
terminal output: a control character (ESC, BEL, NUL, newline), an invisible format character (the
right-to-left override) or a lone surrogate in one is refused at validation, and anything echoed is escaped.
"""

from __future__ import annotations

import unicodedata

_REFUSED_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def unprintable(value: str, *, allow_space: bool = True) -> str | None:
    """The first character of ``value`` that may not appear in a name, escaped (``'\\x1b'``), or ``None``."""
    for char in value:
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES or (not allow_space and category == "Zs"):
            return ascii(char)[1:-1] if char != " " else "a space"
    return None


def unprintable_reason(value: str, *, allow_space: bool = True) -> str | None:
    """Why ``value`` cannot be a name (it holds a control, format or separator character), or ``None``."""
    found = unprintable(value, allow_space=allow_space)
    return None if found is None else f"must not contain {found} (control, format or separator characters)"


def escape_unprintable(text: str) -> str:
    """``text`` with every control, format or separator character (newlines included) written as an escape."""
    return "".join(
        ascii(char)[1:-1] if unicodedata.category(char) in _REFUSED_CATEGORIES else char for char in text
    )
