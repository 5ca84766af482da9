"""WCAG contrast of what a screen shows, read from its SVG export.

Rich's SVG export draws every cell's background as a rect and every run of text as a
`<text>` whose CSS class gives its colour, with dim and reverse already resolved to
colours. So each run of text on screen pairs with exactly one background, and the
pair's contrast ratio is what a reader gets.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

_CLASS = re.compile(r"\.(terminal-[\w-]*?r\d+) \{ fill: (#[0-9a-fA-F]{6})([^}]*)\}")
_RECT = re.compile(
    r'<rect fill="(#[0-9a-fA-F]{6})" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" '
    r'height="([\d.]+)" shape-rendering="crispEdges"/>'
)
_TEXT = re.compile(
    r'<text class="(terminal-[\w-]*?r\d+)" x="([\d.]+)" y="([\d.]+)" textLength="([\d.]+)" '
    r'clip-path="url\(#terminal-[\w-]*?line-(\d+)\)">(.*?)</text>'
)


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of #rrggbb."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(fg: str, bg: str) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def is_text(ch: str) -> bool:
    """A character read as text (letters, digits, punctuation, symbols such as ★ ▲ ●);
    not a space, nor the box, block and braille characters that draw frames, scroll
    bars and charts (graphics, which WCAG asks 3:1 of, not 4.5:1)."""
    if ch.isspace():
        return False
    code = ord(ch)
    if 0x2500 <= code <= 0x259F or 0x2800 <= code <= 0x28FF:
        return False
    return unicodedata.category(ch)[0] in "LNPS"


@dataclass(frozen=True)
class Run:
    """A run of text on screen: line, column, the text, its colours and ratio."""

    line: int
    column: int
    text: str
    fg: str
    bg: str
    bold: bool

    @property
    def ratio(self) -> float:
        return contrast(self.fg, self.bg)

    def __str__(self) -> str:
        return (
            f"line {self.line} col {self.column}: {self.text.strip()!r} "
            f"{self.fg} on {self.bg} = {self.ratio:.2f}:1"
        )


def runs(svg: str) -> list[Run]:
    """Every run of text in an SVG screenshot with its own foreground and background."""
    classes = {name: (fg.lower(), "bold" in rest) for name, fg, rest in _CLASS.findall(svg)}
    rects: dict[tuple[float, float], str] = {}
    cell = 12.2
    for fill, x, y, _w, _h in _RECT.findall(svg):
        rects[(round(float(y), 1), round(float(x), 1))] = fill.lower()

    # Rich draws line n's backgrounds at y = 1.5 + n * 24.4 (20px text, 1.22 lines)
    def line_y(line: int) -> float:
        return round(1.5 + line * 24.4, 1)

    # a run on the terminal's default background gets no rect of its own: the
    # window's background, drawn first, is the terminal's
    window = re.search(r'<rect fill="(#[0-9a-fA-F]{6})" stroke=', svg)
    default_bg = window.group(1).lower() if window else None
    out: list[Run] = []
    for name, x, _y, _length, line, raw in _TEXT.findall(svg):
        text = html.unescape(raw).replace("\xa0", " ")
        fg, bold = classes.get(name, ("#000000", False))
        key = (line_y(int(line)), round(float(x), 1))
        bg = rects.get(key, default_bg)
        if bg is None:
            continue
        out.append(Run(int(line), round(float(x) / cell), text, fg, bg, bold))
    return out


def text_runs(svg: str) -> list[Run]:
    """The runs that hold text (see `is_text`)."""
    return [r for r in runs(svg) if any(is_text(ch) for ch in r.text)]


def below(svg: str, minimum: float = 4.5) -> list[Run]:
    """Runs of text under `minimum` contrast."""
    return [r for r in text_runs(svg) if r.ratio < minimum - 1e-9]
