"""Plain-text tables that fit the terminal (80 columns, or COLUMNS, when not a terminal)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    header: str
    align: str = "<"  # "<" left, ">" right
    min_width: int = 3
    max_width: int = 40
    flex: bool = False  # may be truncated to fit
    keep: int = 0  # among flex columns, lower values are shortened first


def output_width() -> int:
    # a pipe has no width: 80 unless COLUMNS says otherwise (shutil honours it)
    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit():
        return max(40, shutil.get_terminal_size((80, 24)).columns)
    return 80


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def render_table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None = None
) -> str:
    width = width or output_width()
    widths = [
        min(c.max_width, max([len(c.header), *(len(r[i]) for r in rows)]))
        for i, c in enumerate(columns)
    ]
    gap = 2
    total = sum(widths) + gap * (len(columns) - 1)
    while total > width:
        candidates = [
            i for i, c in enumerate(columns) if c.flex and widths[i] > max(c.min_width, 1)
        ]
        if not candidates:
            break
        widest = min(candidates, key=lambda i: (columns[i].keep, -widths[i]))
        widths[widest] -= 1
        total -= 1
    lines = []
    for cells in ([c.header for c in columns], *rows):
        parts = []
        for i, (col, cell) in enumerate(zip(columns, cells, strict=True)):
            text = _fit(cell, widths[i])
            last = i == len(columns) - 1
            if col.align == ">":
                parts.append(text.rjust(widths[i]))
            else:
                parts.append(text if last else text.ljust(widths[i]))
        lines.append((" " * gap).join(parts).rstrip())
    return "\n".join(lines)
