"""The market screen (`m`) follows the refreshes that land while it is open, and says
it is waiting for one before the first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from gpucm.domain.clock import fixed_clock
from gpucm.domain.models import Offer, SearchQuery
from gpucm.engine.refresher import RefreshOutcome
from gpucm.providers.demo import DemoProvider
from gpucm.services import Services, open_services
from gpucm.tui.app import GpucmApp
from gpucm.tui.screens import stats as stats_module
from gpucm.tui.screens.main import MainScreen
from gpucm.tui.screens.stats import WAITING, StatsScreen
from gpucm.tui.screenshots import SCREENSHOT_TIME
from tests.tui.helpers import settle


async def until(pilot: Pilot[None], ready: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for `ready` (the app runs its refresh workers: waiting for every worker
    to finish would wait forever)."""
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.02)


def summary(screen: StatsScreen) -> str:
    content = screen.query_one("#stats-summary", Static).content
    return content.plain if isinstance(content, Text) else str(content)


async def test_market_opened_before_the_first_refresh_waits_then_shows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a fresh start: an empty store, and providers that answer only when the test says
    gate = asyncio.Event()
    fetch = DemoProvider.fetch_offers

    async def slow_fetch(self: DemoProvider) -> list[Offer]:
        await gate.wait()
        return await fetch(self)

    monkeypatch.setattr(DemoProvider, "fetch_offers", slow_fetch)
    services = await open_services(demo=True, clock=fixed_clock(SCREENSHOT_TIME))
    app = GpucmApp(services, refresh=True)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, MainScreen))
            await until(pilot, lambda: app.screen.query_one("#offers").region.height > 0)
            await pilot.press("m")
            screen = app.screen
            assert isinstance(screen, StatsScreen)
            await asyncio.wait_for(screen.loaded.wait(), 5)
            await pilot.pause()
            assert "Waiting for the first refresh" in summary(screen)
            assert "no provider has a matching offer" not in summary(screen)
            assert screen.content["trend"] == WAITING
            # the providers land while the screen is open: it repaints itself
            gate.set()
            await until(pilot, lambda: screen.table.row_count > 0)
            await until(pilot, lambda: "offers available" in summary(screen))
            assert "Waiting" not in summary(screen)
            stats = await services.store.stats()
            await until(pilot, lambda: screen.table.row_count == len(stats.model_stats))
    finally:
        await services.aclose()


async def test_a_refresh_repaints_the_open_market_keeping_its_cursor_and_scroll(
    services: Services,
) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, StatsScreen)
        table = screen.table
        assert table.row_count > table.size.height  # it scrolls
        await pilot.press(*["j"] * (table.size.height + 2))
        await settle(pilot)
        model, offset = table.cursor_key, table.scroll_offset.y
        assert model is not None
        assert offset > 0
        # a provider's refresh drops every offer of the cursor's model
        row = table.rows[table.cursor_row][1]
        before = str(row["available"])
        page = await services.store.search(SearchQuery(available=False, gpu_models=(model,)))
        gone = page.offers[0]
        kept = await services.store.search(SearchQuery(available=False, providers=(gone.provider,)))
        await services.store.replace_offers(
            gone.provider, [o for o in kept.offers if o.id != gone.id]
        )
        await app._landed(RefreshOutcome(gone.provider, ok=True))
        await settle(pilot)
        assert str(table.get_cell(model, "available")) != before
        assert table.cursor_key == model
        assert table.scroll_offset.y == offset


def assert_fitted(screen: StatsScreen) -> None:
    """Every row on screen shows each of its cells whole: no column cut to its header
    width ("$2." for "$2.58"), the columns in the order this width takes."""
    table = screen.table
    assert tuple(c.key for c in table.columns) == screen._columns()
    shown = [c for c in table.columns if c.key in table.shown_columns and not c.fill]
    assert len(shown) >= 4
    for y in range(1, min(table.size.height, table.row_count + 1)):
        line = table.render_line(y).text
        key = table.rows[int(table.scroll_offset.y) + y - 1][0]
        for column in shown:
            cell = str(table.get_cell(key, column.key))
            assert cell in line, (column.key, cell, line)


@pytest.mark.parametrize("pending", [False, True])
async def test_market_refits_its_columns_on_every_live_resize(
    services: Services, pending: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """120x40 -> 80x24 -> 120x40 with the screen settled, or while its refill (after a
    refresh landed) is still reading the store."""
    gate = asyncio.Event()
    gate.set()
    read = stats_module.stats_and_trend_buckets

    async def gated_read(*args: Any, **kwargs: Any) -> Any:
        await gate.wait()
        return await read(*args, **kwargs)

    monkeypatch.setattr(stats_module, "stats_and_trend_buckets", gated_read)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, StatsScreen)
        assert_fitted(screen)
        for size in ((80, 24), (120, 40), (80, 24), (120, 40)):
            if pending:
                gate.clear()
                await app._landed(RefreshOutcome("vast_ai", ok=True))
                await pilot.pause()
                loading = [w for w in app.workers if w.group == "stats" and w.is_running]
                assert loading  # the refill waits at the store
            await pilot.resize_terminal(*size)
            await pilot.pause(0.05)
            assert screen.size.width == size[0]
            assert_fitted(screen)
            gate.set()
            await settle(pilot)
            assert_fitted(screen)
