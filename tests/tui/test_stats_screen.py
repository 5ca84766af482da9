"""The stats screen shows what the store holds: percentiles of the live offers, trends
and charts from the price history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from textual.app import App

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
from gpucm.tui.screens.stats import StatsScreen
from gpucm.tui.screenshots import SCREENSHOT_TIME
from gpucm.tui.widgets.line_table import LineTable
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


def cell(table: LineTable, model: str, column: str) -> str:
    return str(table.get_cell(model, column))


async def test_rows_are_the_store_percentiles_in_either_unit(history_services: Services) -> None:
    app = Host(history_services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app)
        stats = await history_services.store.stats()
        table = app.stats_screen.query_one(LineTable)
        assert table.row_count == len(stats.model_stats)
        for model, s in stats.model_stats.items():
            assert cell(table, model, "available") == f"{s.available_count}/{s.offer_count:,}"
            assert cell(table, model, "median") == fmt.price(s.median_price_per_gpu)
            assert cell(table, model, "p90") == fmt.price(s.p90_price_per_gpu)
        # most available first
        counts = [stats.model_stats[k].available_count for k in table.row_keys]
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
        table = screen.query_one(LineTable)
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
        assert screen.query_one(LineTable).row_count == 0
        assert screen.pane.hint_text == "No offers match the filter."


async def test_a_single_refresh_shows_a_hint_not_a_chart(services: Services) -> None:
    app = Host(services)
    async with app.run_test(size=(80, 24)):
        await settle(app)
        hint = app.stats_screen.pane.hint_text
        assert hint is not None and "builds up with every refresh" in hint


async def test_the_sorted_column_shows_an_arrow_and_a_new_sort_starts_at_the_top(
    history_services: Services,
) -> None:
    app = Host(history_services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app)
        screen = app.stats_screen
        table = screen.query_one(LineTable)
        assert "Avail▼" in table.render_line(0).text
        await pilot.press("j", "j", "j", "j", "j")
        await pilot.pause()
        assert table.cursor_row == 5
        await pilot.press("s")  # by median, cheapest first
        await settle(app)
        header = table.render_line(0).text
        assert "Median▲" in header and "Avail▼" not in header
        assert table.cursor_row == 0 and table.scroll_offset.y == 0
        assert screen.model == table.row_keys[0]


async def test_every_provider_shows_or_is_counted(history_services: Services) -> None:
    """A narrow Providers column never drops a name silently: what does not fit is
    counted ("+2")."""
    app = Host(history_services)
    async with app.run_test(size=(120, 40)):
        await settle(app)
        screen = app.stats_screen
        table = screen.query_one(LineTable)
        stats = screen.stats
        assert stats is not None
        row = next(
            i for i, k in enumerate(table.row_keys) if len(stats.model_stats[k].providers) == 4
        )
        line = table.render_line(1 + row - int(table.scroll_offset.y)).text
        assert "providers" in table.shown_columns
        names = ["Vast.ai", "RunPod", "Lambda Cloud", "Paperspace"]
        shown = [n for n in names if n in line]
        missing = len(names) - len(shown)
        assert missing == 0 or f"+{missing}" in line, line


async def test_a_trend_needs_two_refreshes_of_history(services: Services) -> None:
    app = Host(services)  # one refresh: live prices and one bucket, no trend yet
    async with app.run_test(size=(120, 40)):
        await settle(app)
        table = app.stats_screen.query_one(LineTable)
        assert table.row_keys
        assert {cell(table, k, "trend") for k in table.row_keys} == {"-"}
