"""The one way bucketguard prints a table: rich, a terminal's width and colours, else 200 columns of plain
text (a pipe, a file or a CI log keeps one row per line).

Cells are printable text on one line, never console markup: resource names, tags, messages and actors come
from accounts and files, and a `[/x]` in one would otherwise be read as markup (or refused with a
MarkupError), an ESC as the start of a terminal's escape sequence, a line break as a row of its own.
"""

from __future__ import annotations

import io
import sys
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table as RichTable
from rich.text import Text

from bucketguard.printable import one_line

PLAIN_WIDTH = 200


class Table(RichTable):
    def add_row(self, *renderables: RenderableType | None, **options: Any) -> None:
        super().add_row(
            *(Text(one_line(cell)) if isinstance(cell, str) else cell for cell in renderables), **options
        )


def table(*columns: str, title: str | None = None, listing: bool = False) -> Table:
    """A table of these columns, long cells folded (never cut). A listing has no box and plain headers, so
    its rows can be grepped and cut like a command's output."""
    if listing:
        drawn = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    else:
        drawn = Table(title=title, title_justify="left")
    for column in columns:
        drawn.add_column(column, overflow="fold")
    return drawn


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr): a terminal's width, else PLAIN_WIDTH columns."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else PLAIN_WIDTH, highlight=False)


def render(*parts: RenderableType, terminal: bool = False) -> str:
    """Parts drawn one under the other as text, without trailing spaces: colours and the terminal's width
    only for a terminal. A text part is a line (a note, an exemption, naming resources): printable."""
    out = io.StringIO()
    drawing = Console(
        file=out,
        width=None if terminal else PLAIN_WIDTH,
        force_terminal=terminal,
        color_system="auto" if terminal else None,
        highlight=False,
    )
    for part in parts:
        drawing.print(Text(one_line(part)) if isinstance(part, str) else part)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())
