"""The stats screen shows what the store holds: percentiles of the live offers, trends
and charts from the price history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from gpucm import formatting as fmt
from gpucm.domain.models import SearchQuery
from gpucm.engine.market import (
    WINDOWS,
    model_trends,
    series_by_provider,
    stats_and_trend_buckets,
)
from gpucm.services import Services, open_services
from gpucm.store.history import resolution_for
from gpucm.tui.screens.stats import Cell, StatsScreen, StatsTable
from gpucm.tui.screenshots import SCREENSHOT_TIME
from gpucm.tui.widgets.market_charts import HistoryLines


@pytest.fixture
async def history_services() -> AsyncIterator[Services]:
    """The demo market refreshed every 90 minutes over the last 30 hours."""
    now = {"t": SCREENSHOT_TIME - timedelta(hours=30)}
    services = await open_services(demo=True, clock=lambda: now["t"])
    while now["t"] < SCREENSHOT_TIME:
        await services.refresh()
        now["t"] += timedelta(minutes=90)
    now["t"] = SCREENSHOT_TIME
    await services.refresh()
    yield services
    await services.aclose()


class Host(App[None]):
    def __init__(self, services: Services, query: SearchQuery | None = None) -> None:
        super().__init__()
        self.stats_screen = StatsScreen(services, query)

    def on_mount(self) -> None:
        self.push_screen(self.stats_screen)


async def settle(app: Host) -> None:
    await app.stats_screen.loaded.wait()
    for _ in range(3):
        await app.workers.wait_for_complete()


def cell(table: DataTable[object], model: str, column: str) -> str:
    return str(table.get_cell(model, column))


async def test_rows_are_the_store_percentiles_in_either_unit(history_services: Services) -> None:
    app = Host(history_services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app)
        stats = await history_services.store.stats()
        table = app.stats_screen.query_one(DataTable)
        assert table.row_count == len(stats.model_stats)
        for model, s in stats.model_stats.items():
            assert cell(table, model, "available") == f"{s.available_count}/{s.offer_count:,}"
            assert cell(table, model, "median") == fmt.price(s.median_price_per_gpu)
            assert cell(table, model, "p90") == fmt.price(s.p90_price_per_gpu)
        # most available first
        counts = [stats.model_stats[str(k.value)].available_count for k in table.rows]
        assert counts == sorted(counts, reverse=True)
        await pilot.press("u")
        for model, s in stats.model_stats.items():
            if s.available_count:
                assert cell(table, model, "median") == fmt.price(s.median_price)
                assert cell(table, model, "p10") == fmt.price(s.p10_price)


async def test_trend_column_and_window_follow_the_history(history_services: Services) -> None:
    app = Host(history_services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app)
        screen = app.stats_screen
        stats, buckets = await stats_and_trend_buckets(
            history_services.store, None, WINDOWS["7d"], SCREENSHOT_TIME
        )
        live = {m: s.min_price_per_gpu for m, s in stats.model_stats.items()}
        expected = model_trends(buckets, live)
        assert screen.trends == expected
        changed = [m for m, t in expected.items() if t.change]
        assert changed, "30 hours of demo refreshes move some prices"
        table = screen.query_one(DataTable)
        model = changed[0]
        assert f"{expected[model].change * 100:+.1f}%" in cell(table, model, "trend")
        screen.loaded.clear()
        await pilot.press("w")  # 7d -> 30d
        await settle(app)
        assert screen.window == "30d"
        assert "trend 30d" in str(screen.query_one("#stats-summary").render())


async def test_charts_plot_the_highlighted_models_history(history_services: Services) -> None:
    app = Host(history_services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app)
        screen = app.stats_screen
        first = screen.model
        assert first is not None
        points = await history_services.store.history(
            [first],
            since=SCREENSHOT_TIME - WINDOWS["7d"],
            resolution=resolution_for(WINDOWS["7d"]),
        )
        assert screen.plotted["trend"] == series_by_provider(points, "min_gpu_price")
        assert screen.plotted["availability"] == series_by_provider(points, "available")
        assert isinstance(screen.content["trend"], HistoryLines)  # not "no history yet"
        assert screen.pane.hint_text is None
        prices = await history_services.store.gpu_prices(SearchQuery(gpu_models=(first,)))
        assert screen.plotted["distribution"] == prices
        await pilot.press("t", "t")
        assert screen.active_chart == "distribution"
        assert screen.pane.plot.spec == screen.content["distribution"]
        await pilot.press("j")
        await settle(app)
        assert screen.model != first
        assert screen.plotted["distribution"] == await history_services.store.gpu_prices(
            SearchQuery(gpu_models=(screen.model,))
        )


async def test_a_filter_with_no_offers_says_so(services: Services) -> None:
    app = Host(services, SearchQuery(gpu_models=("no such gpu",)))
    async with app.run_test(size=(80, 24)):
        await settle(app)
        screen = app.stats_screen
        assert screen.query_one(DataTable).row_count == 0
        assert screen.pane.hint_text == "No offers match the filter."


async def test_a_single_refresh_shows_a_hint_not_a_chart(services: Services) -> None:
    app = Host(services)
    async with app.run_test(size=(80, 24)):
        await settle(app)
        hint = app.stats_screen.pane.hint_text
        assert hint is not None and "builds up with every refresh" in hint


async def test_table_cells_draw_as_the_texts_they_replace(history_services: Services) -> None:
    """StatsTable draws its Cells itself, skipping Rich's layout: every cell, on the
    cursor row or not, must come out as DataTable draws the equivalent Text."""
    app = Host(history_services)
    async with app.run_test(size=(120, 40)):
        await settle(app)
        table = app.stats_screen.query_one(StatsTable)
        base = table.rich_style
        checked = 0
        for row in range(table.row_count):
            row_key = table.coordinate_to_cell_key(Coordinate(row, 0)).row_key
            for col, column in enumerate(table.ordered_columns):
                cell = table._data[row_key][column.key]
                assert isinstance(cell, Cell)
                text = Text.assemble(*cell.parts, justify="right" if cell.right else None)
                width = column.get_render_width(table)
                for cursor in (False, True):
                    table._cell_render_cache.clear()
                    fast = table._render_cell(row, col, base, width, cursor=cursor)
                    table._data[row_key][column.key] = text  # type: ignore[assignment]
                    table._cell_render_cache.clear()
                    table._row_renderable_cache.clear()
                    rich = DataTable._render_cell(table, row, col, base, width, cursor=cursor)
                    table._data[row_key][column.key] = cell
                    table._row_renderable_cache.clear()
                    assert drawn(fast) == drawn(rich), (row, column.key, cursor)
                    checked += 1
        assert checked >= 2 * 10 * 40


def drawn(lines: list[list[Segment]]) -> list[list[tuple[str, Style | None]]]:
    """Characters and their styles, however they are split into segments."""
    return [[(ch, seg.style) for seg in line for ch in seg.text] for line in lines]
