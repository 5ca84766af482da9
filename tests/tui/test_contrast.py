"""Every text on gpucm-tui's screens reads: WCAG AA, 4.5:1, in each of the four
themes, measured on the rendered screen (its SVG export, tests/tui/contrast.py).

The scenarios cover what the issue found unreadable: the compare view (the selected
column, the best values), the DEMO badge, highlights (the table's cursor, a list's
highlight focused and not), placeholders, and the key bar's keys. A modal dialog is
measured alone: the screen behind it is dimmed on purpose.

gpucm-ansi draws with the terminal's own palette, so it is measured twice: on a dark
terminal (the text everywhere) and on a light one (what must read on any terminal:
the keys, the DEMO badge, the cursor row, the placeholders).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from rich.console import Console
from rich.terminal_theme import TerminalTheme
from textual.geometry import Region
from textual.pilot import Pilot
from textual.screen import ModalScreen

from gpucm.tui.app import GpucmApp
from gpucm.tui.screenshots import demo_services, settle
from gpucm.tui.widgets.key_bar import KeyBar
from gpucm.tui.widgets.offer_table import OfferTable
from gpucm.tui.widgets.status_bar import StatusBar
from tests.tui.contrast import Run, below, text_runs

THEMES = ("gpucm-dark", "gpucm-light", "gpucm-high-contrast", "gpucm-ansi")


@dataclass(frozen=True)
class Scene:
    name: str
    keys: tuple[str, ...]
    size: tuple[int, int] = (120, 40)


SCENES = (
    # the table focused: cursor row, DEMO badge, key bar, the query's placeholder, the
    # filter pane's unfocused list highlight, the detail pane and the charts
    Scene("main", ()),
    # the model list focused and moved: its highlight, and the search placeholder
    Scene("model-list", ("f", "f", "down", "down", "down")),
    Scene("compare", ("space", "j", "space", "G", "space", "c", "right")),
    Scene("compare-80x24", ("space", "j", "space", "G", "space", "c", "right"), (80, 24)),
    Scene("launch-form", ("L",)),
    Scene("market", ("m", "j")),
)

# GNOME Terminal's Tango palettes: a common light and dark terminal
_TANGO = [
    (46, 52, 54),
    (204, 0, 0),
    (78, 154, 6),
    (196, 160, 0),
    (52, 101, 164),
    (117, 80, 123),
    (6, 152, 154),
    (211, 215, 207),
]
_TANGO_BRIGHT = [
    (85, 87, 83),
    (239, 41, 41),
    (138, 226, 52),
    (252, 233, 79),
    (114, 159, 207),
    (173, 127, 168),
    (52, 226, 226),
    (238, 238, 236),
]
LIGHT_TERMINAL = TerminalTheme((255, 255, 255), (46, 52, 54), _TANGO, _TANGO_BRIGHT)
DARK_TERMINAL = TerminalTheme((0, 0, 0), (211, 215, 207), _TANGO, _TANGO_BRIGHT)


@contextmanager
def terminal(theme: TerminalTheme) -> Iterator[None]:
    """Screenshots map ANSI colours (and the default ones) through `theme`."""
    original = Console.export_svg
    Console.export_svg = functools.partialmethod(original, theme=theme)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Console.export_svg = original  # type: ignore[method-assign]


@dataclass
class Shot:
    svg: str
    measured: Region | None  # the dialog, on a modal screen; else the whole screen
    keys: Region
    demo: Region | None
    cursor: Region | None
    query: Region | None


async def shoot(theme: str, scene: Scene) -> Shot:
    app = GpucmApp(demo_services, refresh=False, theme=theme, cursor_blink=False)
    async with app.run_test(size=scene.size) as pilot:
        await settle(pilot)
        if scene.keys:
            await pilot.press(*scene.keys)
            await settle(pilot)
        app.clear_notifications()
        await pilot.pause()
        return _shot(app, pilot)


def _shot(app: GpucmApp, pilot: Pilot[None]) -> Shot:
    screen = app.screen
    measured = screen.children[0].region if isinstance(screen, ModalScreen) else None
    keys = screen.query_one(KeyBar).region if screen.query(KeyBar) else Region(0, 0, 0, 0)
    demo = cursor = query = None
    if screen.query(StatusBar):
        demo = screen.query_one(StatusBar).region
    if screen.query(OfferTable):
        table = screen.query_one(OfferTable)
        y = table.region.y + 1 + table.cursor - int(table.scroll_offset.y)
        cursor = Region(table.region.x, y, table.region.width, 1)
    if screen.query("#query-bar"):
        query = screen.query_one("#query-bar").region
    return Shot(app.export_screenshot(), measured, keys, demo, cursor, query)


def inside(run: Run, region: Region | None) -> bool:
    return (
        region is not None
        and region.y <= run.line < region.bottom
        and (region.x <= run.column < region.right)
    )


def _checkbox(run: Run) -> bool:
    # an unticked box in a selection list draws its X in the box's own colour: a
    # graphic saying "not ticked", not text
    return run.text == "X"


def unreadable(shot: Shot) -> list[str]:
    return [
        str(run)
        for run in below(shot.svg)
        if (shot.measured is None or inside(run, shot.measured)) and not _checkbox(run)
    ]


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("scene", SCENES, ids=lambda s: s.name)
async def test_every_text_reads(theme: str, scene: Scene) -> None:
    with terminal(DARK_TERMINAL):
        shot = await shoot(theme, scene)
    runs = text_runs(shot.svg)
    # what the issue measured is on screen, so the check is not vacuous
    if scene.name == "main":
        assert any("DEMO" in r.text and inside(r, shot.demo) for r in runs)
        assert any(inside(r, shot.cursor) for r in runs)
        assert any("gpu=" in r.text and inside(r, shot.query) for r in runs)  # placeholder
    if scene.name.startswith("compare"):
        assert any("★" in r.text for r in runs)
    assert any(inside(r, shot.keys) for r in runs) or shot.measured is not None
    assert unreadable(shot) == []


@pytest.mark.parametrize("scene", SCENES[:2], ids=lambda s: s.name)
async def test_ansi_keys_badge_cursor_and_placeholders_read_on_a_light_terminal(
    scene: Scene,
) -> None:
    """ANSI colours are the terminal's: what must read everywhere is drawn in the
    terminal's default colours (reverse video for keys, badge and cursor)."""
    with terminal(LIGHT_TERMINAL):
        shot = await shoot("gpucm-ansi", scene)
    runs = text_runs(shot.svg)
    checked = [
        r
        for r in runs
        if inside(r, shot.keys)
        or inside(r, shot.cursor)
        or inside(r, shot.query)
        or (inside(r, shot.demo) and "DEMO" in r.text)
    ]
    assert any(inside(r, shot.keys) for r in checked)
    assert any("DEMO" in r.text for r in checked)
    assert [str(r) for r in checked if r.ratio < 4.5] == []


def test_the_contrast_formula_matches_wcag() -> None:
    from tests.tui.contrast import contrast

    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#ffffff", "#f5f6f8") < 1.1  # the compare view's old best values
