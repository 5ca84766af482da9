"""Charts drawn as terminal cells: lines in braille dots, columns and bars in eighth
blocks, inside a frame with tick labels and a title.

Plain Python with no UI import: a figure is rows of (text, series) runs, where series is
the index of the data series whose colour the run takes (None: the default text colour),
and the widget turns that into styled strips. It replaces plotext, whose pure-Python
figure build took ~30 ms for four 7-day lines at 120 columns (bench
stats_screen_10m_history_points); this draws the same chart in about a millisecond.

Layout, as plotext laid it out before (so the charts read the same):

    title, centred over the plot
    LLLL┌──────────┐
    LLLL┤ canvas   │     y tick labels on the left, a ┤ at each tick's row
    LLLL└┬────────┬┘     a ┬ at each x tick (none for a chart without x ticks)
     x tick labels         centred under their ┬
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Figure",
    "Run",
    "bar_chart",
    "column_chart",
    "figure_text",
    "line_chart",
]

Run = tuple[str, int | None]
Figure = list[list[Run]]

# braille dot bits by (column, row) in a cell of 2x4 dots, top row first
_DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
_BRAILLE = 0x2800
_UP_EIGHTHS = " ▁▂▃▄▅▆▇█"
_RIGHT_EIGHTHS = " ▏▎▍▌▋▊▉█"
LEGEND_MARK = "⢕⢕"


@dataclass(frozen=True)
class _Layout:
    label_width: int  # y tick labels' column, left of the frame
    width: int  # canvas cells across
    rows: int  # canvas cells down


def _layout(width: int, height: int, y_labels: Sequence[str], x_labels: bool) -> _Layout:
    label_width = min(max((len(s) for s in y_labels), default=0), max(0, width // 2))
    # title, top and bottom frame, and the x tick labels' row when there are any
    chrome = 4 if x_labels else 3
    return _Layout(label_width, width - label_width - 2, height - chrome)


def _fit(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def _centred(text: str, centre: int, width: int) -> int:
    """Where `text` starts when centred on column `centre`, kept inside `width`."""
    return max(0, min(width - len(text), centre - len(text) // 2))


def _frame(
    width: int,
    layout: _Layout,
    title: str,
    canvas: list[list[Run]],
    y_ticks: dict[int, str],
    x_ticks: Sequence[tuple[int, str]] | None,
) -> Figure:
    """The canvas in its frame, with the title above and the tick labels around it."""
    lw, cw = layout.label_width, layout.width
    left = lw + 1  # the canvas' first column
    fig: Figure = []
    title = _fit(title, width)
    start = _centred(title, left + cw // 2, width)
    fig.append([(" " * start + title, None)])
    fig.append([(" " * lw + "┌" + "─" * cw + "┐", None)])
    for r, runs in enumerate(canvas):
        label = y_ticks.get(r)
        head = _fit(label, lw).rjust(lw) + "┤" if label is not None else " " * lw + "│"
        fig.append([(head, None), *runs, ("│", None)])
    bottom = ["─"] * cw
    for col, _ in x_ticks or ():
        if 0 <= col < cw:
            bottom[col] = "┬"
    fig.append([(" " * lw + "└" + "".join(bottom) + "┘", None)])
    if x_ticks is not None:
        row = [" "] * width
        end = 0  # a label that would run into the one before is left out
        for col, text in x_ticks:
            text = _fit(text, width)
            at = _centred(text, left + col, width)
            if at < end:
                continue
            row[at : at + len(text)] = text
            end = at + len(text) + 1
        fig.append([("".join(row).rstrip(), None)])
    return fig


def _runs(cells: Sequence[str], colours: Sequence[int | None]) -> list[Run]:
    """One row of cells as runs of one colour each."""
    runs: list[Run] = []
    start = 0
    for i in range(1, len(cells) + 1):
        if i == len(cells) or colours[i] != colours[start]:
            runs.append(("".join(cells[start:i]), colours[start]))
            start = i
    return runs


def _scale(value: float, lo: float, hi: float, steps: int) -> int:
    """`value` in [lo, hi] as a step in 0..steps-1 (clamped)."""
    if hi <= lo or steps <= 1:
        return 0
    return max(0, min(steps - 1, round((value - lo) / (hi - lo) * (steps - 1))))


def _too_small(width: int, title: str, layout: _Layout) -> Figure | None:
    if layout.width >= 1 and layout.rows >= 1:
        return None
    return [[(_fit(title, width), None)]] if width > 0 else []


def line_chart(
    width: int,
    height: int,
    *,
    title: str,
    lines: Sequence[Sequence[tuple[float, float]]],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    x_ticks: Sequence[tuple[float, str]],
    y_ticks: Sequence[tuple[float, str]],
    legend: Sequence[str] = (),
) -> Figure:
    """Each line (x, y points in x order) joined dot to dot in braille, in its series'
    colour; where lines cross a cell, the later line's colour shows. The legend, one
    line per row, sits at the canvas' top left (leave the y-range room above the data)."""
    layout = _layout(width, height, [s for _, s in y_ticks], x_labels=True)
    if (small := _too_small(width, title, layout)) is not None:
        return small
    cw, rows = layout.width, layout.rows
    dots_x, dots_y = cw * 2, rows * 4
    (x0, x1), (y0, y1) = x_range, y_range
    bits = [[0] * cw for _ in range(rows)]
    colour: list[list[int | None]] = [[None] * cw for _ in range(rows)]

    def dot(px: int, py: int, series: int) -> None:
        # py counts from the bottom; cells from the top
        r = rows - 1 - py // 4
        c = px // 2
        bits[r][c] |= _DOT_BITS[px % 2][3 - py % 4]
        colour[r][c] = series

    for series, points in enumerate(lines):
        prev: tuple[int, int] | None = None
        for x, y in points:
            px, py = _scale(x, x0, x1, dots_x), _scale(y, y0, y1, dots_y)
            if prev is None:
                dot(px, py, series)
            else:
                # a straight run of dots from the previous point: a price step shows
                # as a step, not as two floating dashes
                qx, qy = prev
                steps = max(abs(px - qx), abs(py - qy))
                for i in range(1, steps + 1):
                    f = i / steps
                    dot(qx + round((px - qx) * f), qy + round((py - qy) * f), series)
            prev = (px, py)
    canvas: list[list[Run]] = []
    for r in range(rows):
        row_bits = bits[r]
        cells = [chr(_BRAILLE + b) if b else " " for b in row_bits]
        colours = [c if b else None for b, c in zip(row_bits, colour[r], strict=True)]
        canvas.append(_runs(cells, colours))
    for series, label in enumerate(legend[:rows]):
        # over the canvas' first columns, as plotext placed it
        text = _fit(f" {LEGEND_MARK} {label} ", cw)
        mark = text[: len(LEGEND_MARK) + 1]
        rest = text[len(mark) :]
        tail = _cut(canvas[series], len(text))
        canvas[series] = [(mark, series), (rest, None), *tail] if rest else [(mark, series), *tail]
    y_rows = {rows - 1 - _scale(v, y0, y1, dots_y) // 4: s for v, s in y_ticks}
    x_cols = [(_scale(v, x0, x1, dots_x) // 2, s) for v, s in x_ticks]
    return _frame(width, layout, title, canvas, y_rows, x_cols)


def _cut(runs: list[Run], n: int) -> list[Run]:
    """`runs` without their first `n` characters."""
    out: list[Run] = []
    for text, colour in runs:
        if n >= len(text):
            n -= len(text)
            continue
        out.append((text[n:], colour))
        n = 0
    return out


def column_chart(
    width: int,
    height: int,
    *,
    title: str,
    counts: Sequence[int],
    x_ticks: Sequence[tuple[float, str]],
    y_ticks: Sequence[tuple[int, str]],
) -> Figure:
    """Vertical columns side by side across the canvas (a histogram's bins), heights in
    eighths of a cell against the largest count; x ticks are placed by fraction of the
    canvas' width (0 = left edge, 1 = right edge), y ticks by count."""
    layout = _layout(width, height, [s for _, s in y_ticks], x_labels=True)
    if (small := _too_small(width, title, layout)) is not None:
        return small
    cw, rows = layout.width, layout.rows
    top = max(counts, default=0)
    heights = [0] * cw  # in eighths
    n = len(counts)
    if n == 1:
        # one value: a column half the width, centred (under its one tick)
        span = range(cw // 4, max(cw // 4 + 1, cw - cw // 4))
        eighths = rows * 8 if counts[0] else 0
        for c in span:
            heights[c] = eighths
    elif n:
        for i, count in enumerate(counts):
            eighths = 0 if not top or not count else max(1, round(count / top * rows * 8))
            for c in range(i * cw // n, (i + 1) * cw // n):
                heights[c] = eighths
    canvas: list[list[Run]] = []
    for r in range(rows):
        floor = (rows - 1 - r) * 8  # eighths below this row
        cells = [_UP_EIGHTHS[max(0, min(8, h - floor))] for h in heights]
        canvas.append(_runs(cells, [0 if cell != " " else None for cell in cells]))
    y_rows = {rows - 1 - _scale(v, 0, top, rows): s for v, s in y_ticks}
    x_cols = [(_scale(f, 0.0, 1.0, cw), s) for f, s in x_ticks]
    return _frame(width, layout, title, canvas, y_rows, x_cols)


def bar_chart(width: int, height: int, *, title: str, bars: Sequence[tuple[str, float]]) -> Figure:
    """Horizontal bars, the first on top, each labelled on the left; lengths in eighths
    of a cell against the longest. Bars that find no row are left out (the first, the
    ones to show, come first)."""
    layout = _layout(width, height, [label for label, _ in bars], x_labels=False)
    if (small := _too_small(width, title, layout)) is not None:
        return small
    cw, rows = layout.width, layout.rows
    shown = bars[:rows]
    top = max((v for _, v in shown), default=0.0)
    band = rows / len(shown) if shown else rows
    thickness = max(1, round(band / 2))
    canvas: list[list[Run]] = [[(" " * cw, None)] for _ in range(rows)]
    labels: dict[int, str] = {}
    for i, (label, value) in enumerate(shown):
        middle = int((i + 0.5) * band)
        labels[middle] = label
        eighths = 0 if top <= 0 or value <= 0 else max(1, round(value / top * cw * 8))
        full, part = divmod(eighths, 8)
        bar = "█" * full + (_RIGHT_EIGHTHS[part] if part else "")
        row_runs: list[Run] = [(bar, 0), (" " * (cw - len(bar)), None)] if bar else []
        # the bar's rows: `thickness` of them around the middle, inside its own band
        own_top, own_end = int(i * band), max(int(i * band) + 1, int((i + 1) * band))
        first = max(own_top, middle - (thickness - 1) // 2)
        for r in range(first, min(first + thickness, own_end, rows)):
            if row_runs:
                canvas[r] = row_runs
    return _frame(width, layout, title, canvas, labels, None)


def figure_text(fig: Figure) -> str:
    """The figure as plain text, one line per row (for tests and logs)."""
    return "\n".join("".join(text for text, _ in row) for row in fig)
