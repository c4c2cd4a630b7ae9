"""What a person reads: rich consoles on the command's streams (colour only on a terminal, never with
``--no-color`` or ``NO_COLOR``) and tables that print as plain padded columns when piped."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

PLAIN_WIDTH = 10_000
"""Piped output is never wrapped: a line per row, whatever its length."""


def make_console(stream: TextIO, *, color: bool = True, environ: Mapping[str, str] | None = None) -> Console:
    """A console writing to ``stream``: styled when ``stream`` is a terminal, ``color`` is true and ``NO_COLOR`` is
    not set (https://no-color.org); plain text, at any width, otherwise."""
    terminal = stream.isatty() if hasattr(stream, "isatty") else False
    styled = terminal and color and not (environ or {}).get("NO_COLOR")
    return Console(file=stream, color_system="auto" if styled else None, force_terminal=terminal,
                   no_color=not styled, width=None if terminal else PLAIN_WIDTH, highlight=False, markup=False,
                   emoji=False, soft_wrap=not terminal)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    """Columns with a bold header, two spaces apart; cells are text, never markup."""
    grid = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    for title in header:
        grid.add_column(title)
    for row in rows:
        grid.add_row(*(Text(str(cell)) for cell in row))
    return grid


def table_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The table as plain text, columns padded to their widest cell, no trailing blanks."""
    buffer = io.StringIO()
    make_console(buffer).print(table(header, rows))
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def print_table(console: Console, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """The table on ``console``: drawn to the terminal's width there, plain text (``table_text``) when piped."""
    if console.is_terminal:
        console.print(table(header, rows))
    else:
        console.file.write(table_text(header, rows))
