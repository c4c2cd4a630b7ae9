"""Option types whose messages name the reason in a few words (``-1 must not be negative``, ``invalid choice: …``)."""

from __future__ import annotations

from typing import Any

import click


class Number(click.ParamType):
    """A number (``float``, or ``int`` when ``whole``) no smaller than ``minimum``."""

    def __init__(self, *, whole: bool = False, minimum: int = 0) -> None:
        self.whole, self.minimum = whole, minimum
        self.name = "integer" if whole else "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = int(value) if self.whole else float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a {'whole ' if self.whole else ''}number", param, ctx)
        if number < self.minimum:
            self.fail(f"{value} must not be negative" if self.minimum == 0 else f"{value} must be at least "
                      f"{self.minimum}", param, ctx)
        return number


class Choice(click.Choice):
    """One of ``choices``; anything else is ``invalid choice: 'x' (choose from 'a', 'b')``."""

    def get_invalid_choice_message(self, value: Any, ctx: click.Context | None) -> str:
        return f"invalid choice: {value!r} (choose from {', '.join(map(repr, self.choices))})"


NON_NEGATIVE = Number()
WHOLE = Number(whole=True)
POSITIVE = Number(whole=True, minimum=1)
