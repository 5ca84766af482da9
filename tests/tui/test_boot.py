"""The staged start: the first page straight from the database, then the full app."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.css.stylesheet import Stylesheet
from textual.filter import ANSIToTruecolor
from textual.widget import Widget
from textual.widgets._select import SelectCurrent

from gpucm import paths
from gpucm.domain.catalog import Catalog
from gpucm.domain.models import SearchQuery
from gpucm.services import Services
from gpucm.store.first_page import read_first_page
from gpucm.store.schema import LATEST_VERSION
from gpucm.store.search_sql import build_filter, order_by
from gpucm.store.sql import DEFAULT_ORDER, DEFAULT_WHERE
from gpucm.tui.app import GpucmApp
from gpucm.tui.boot import boot_view
from gpucm.tui.screens.boot import BootScreen
from gpucm.tui.screens.main import MainScreen
from gpucm.tui.screenshots import demo_services, workers_done
from gpucm.tui.theme_files import quick_theme
from gpucm.tui.widgets.offer_table import ROW_COLUMNS, OfferTable


def test_first_page_sql_is_the_default_search() -> None:
    query = SearchQuery()
    assert build_filter(query, Catalog.builtin()).where == DEFAULT_WHERE
    assert order_by(query) == DEFAULT_ORDER


async def test_first_page_equals_the_stores_first_page(services: Services) -> None:
    rows = read_first_page(Path(services.store.path), ROW_COLUMNS, 50)
    expected = await services.store.search_rows(SearchQuery(), ROW_COLUMNS, limit=50)
    assert rows == expected
    assert len(rows or []) == 50


def test_first_page_declines_what_it_cannot_read(tmp_path: Path) -> None:
    assert read_first_page(tmp_path / "missing.db", ROW_COLUMNS, 10) is None
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not sqlite" * 200)
    assert read_first_page(garbage, ROW_COLUMNS, 10) is None
    import sqlite3

    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    assert read_first_page(old, ROW_COLUMNS, 10) is None


def test_boot_view_picks_the_database_open_services_will() -> None:
    view = boot_view(db=None, demo=None, env={})
    assert view is not None
    assert view.demo
    assert view.db == paths.default_db_path(demo=True)
    real = boot_view(db=None, demo=None, env={"RUNPOD_API_KEY": "rp-123"})
    assert real is not None
    assert not real.demo
    assert real.db == paths.default_db_path(demo=False)
    cfg = paths.config_file()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('theme = "gpucm-light"\n[providers.lambda]\napi_key = "k"\nenabled = false\n')
    off = boot_view(db=None, demo=None, env={})
    assert off is not None
    assert off.demo  # a disabled key does not count
    assert off.theme == "gpucm-light"
    cfg.write_text("not = = toml")
    assert boot_view(db=None, demo=None, env={}) is None  # the full app will say why


async def test_the_first_screen_shows_rows_then_the_main_screen_takes_over(
    services: Services,
) -> None:
    expected = await services.store.search_rows(SearchQuery(limit=1), ["id"], limit=1)
    await services.aclose()  # the app opens its own, as gpucm-tui does
    view = boot_view(db=None, demo=True, env={})
    assert view is not None
    app = GpucmApp(demo_services_no_refresh, boot=view, refresh=False)
    seen_boot_rows: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        if isinstance(app.screen, BootScreen):
            seen_boot_rows = [r.id for r in app.screen.query_one(OfferTable).visible_rows()]
        main_rows = []
        for _ in range(40):
            await workers_done(app)
            await pilot.pause(0.05)
            screen = app.screen
            if isinstance(screen, MainScreen) and screen.query(OfferTable):
                main_rows = screen.query_one(OfferTable).visible_rows()
                if main_rows:
                    break
        assert isinstance(app.screen, MainScreen)
        assert main_rows[0].id == expected[0][0]
    if seen_boot_rows:
        assert seen_boot_rows[0] == expected[0][0]


async def test_quitting_on_the_first_screen_while_the_services_open_closes_them() -> None:
    """q on the first screen while the services behind it are still opening: the open
    was cancelled with the start, its store's connections were never closed, and their
    threads posted to a closed event loop at exit ("Event loop is closed")."""
    opened: list[Services] = []
    go_on = asyncio.Event()

    async def opening() -> Services:
        services = await demo_services(refreshes=0)
        opened.append(services)
        await go_on.wait()  # the quit lands here: the store's connections are open
        return services

    view = boot_view(db=None, demo=True, env={})
    assert view is not None
    app = GpucmApp(opening, boot=view, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        async with asyncio.timeout(20):
            while not opened:  # noqa: ASYNC110 (the factory's own progress)
                await asyncio.sleep(0.01)
        assert isinstance(app.screen, BootScreen)
        await pilot.press("q")
        go_on.set()
    assert not app.is_running
    for conn in (opened[0].store.db.writer,):
        with pytest.raises(ValueError, match="no active connection"):
            await conn.execute("SELECT 1")


async def test_quitting_while_the_filter_pane_mounts_leaves_cleanly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ctrl+q (a priority key, so the busy main screen does not hold it back) lands
    while the filter pane's selects are mounting their parts, as on a loaded machine:
    here those parts mount only once the quit has taken the screen out of the app, which
    refuses them. A select then mounts without its parts; it must not look for
    them (Textual's own Select did: NoMatches '#label', a traceback and exit code 1)."""
    parts_waiting = asyncio.Event()
    mount_parts = SelectCurrent.mount_composed_widgets

    async def after_the_quit(self: SelectCurrent, widgets: list[Widget]) -> None:
        parts_waiting.set()
        async with asyncio.timeout(10):
            while self.is_attached:  # noqa: ASYNC110 (Textual's state: no event to await)
                await asyncio.sleep(0)
        await mount_parts(self, widgets)

    monkeypatch.setattr(SelectCurrent, "mount_composed_widgets", after_the_quit)
    view = boot_view(db=None, demo=True, env={})
    assert view is not None
    app = GpucmApp(demo_services_no_refresh, boot=view, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        async with asyncio.timeout(20):
            await parts_waiting.wait()  # the filter pane is mounting behind the table
        assert isinstance(app.screen, MainScreen)
        await pilot.press("ctrl+q")
    assert app.return_code == 0


async def demo_services_no_refresh() -> Services:
    return await demo_services(refreshes=0)


def test_the_first_screen_imports_no_pydantic_or_store() -> None:
    code = (
        "import sys, gpucm.cli.main, gpucm.tui.app, gpucm.tui.screens.boot; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'httpx', "
        "'aiosqlite') or m in ('gpucm.store.store', 'gpucm.services', 'gpucm.domain.models', "
        "'gpucm.store.db', 'gpucm.tui.commands', 'importlib.resources')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


class _SetTheme(App[None]):
    """A theme set the ordinary way, once the app runs (as gpucm-tui once did)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name

    def on_mount(self) -> None:
        theme = quick_theme(self._name, paths.user_themes_dir())
        assert theme is not None
        self.register_theme(theme)
        self.theme = theme.name


def _look(app: App[Any]) -> tuple[object, ...]:
    ansi = next(f for f in app._filters if isinstance(f, ANSIToTruecolor))
    classes = sorted(c for c in app.classes if c.startswith(("-theme-", "-dark", "-light")))
    return app.theme, classes, app.get_css_variables(), ansi._terminal_theme, ansi.enabled


@pytest.mark.parametrize("name", ["gpucm-dark", "gpucm-light", "gpucm-ansi"])
async def test_the_first_screen_starts_in_the_theme_as_setting_it_would(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reparsed: list[str] = []
    original = Stylesheet.reparse

    def reparse(self: Stylesheet) -> None:
        reparsed.append("again")
        original(self)

    ordinary = _SetTheme(name)
    async with ordinary.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        expected = _look(ordinary)

    monkeypatch.setattr(Stylesheet, "reparse", reparse)
    view = boot_view(db=None, demo=True, env={})
    assert view is not None
    app = GpucmApp(demo_services_no_refresh, boot=view, refresh=False, theme=name)
    async with app.run_test(size=(120, 40)):
        assert isinstance(app.screen, BootScreen)
        assert _look(app) == expected
        # styled once: the stylesheet was parsed with the theme's colours from the start
        assert reparsed == []
