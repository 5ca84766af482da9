"""Market charts: what each chart plots, when it fetches, and how it lays out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Tabs

from gpucm.domain.clock import Clock
from gpucm.domain.models import SearchQuery
from gpucm.store.store import Store
from gpucm.tui.widgets import market_charts
from gpucm.tui.widgets.market_charts import (
    CHARTS,
    HISTORY_HINT,
    NO_MATCH,
    NO_MODEL_HISTORY,
    ChartPane,
    ChartReaders,
    HistoryLines,
    MarketCharts,
    PriceHistogram,
    ProviderBars,
    histogram,
)
from tests.conftest import FIXED_NOW
from tests.offer_factory import make_offer

EARLIER = FIXED_NOW - timedelta(hours=2)
WEIRD = "Weird [/] GPU"


async def fill(store: Store) -> None:
    """Two refreshes of vast and runpod (history), lambda only in the second."""
    await store.replace_offers(
        "vast_ai",
        [
            make_offer("vast_ai", "a", price_per_hour=0.40, fetched_at=EARLIER),
            make_offer("vast_ai", "h", "H100 PCIe", price_per_hour=2.0, fetched_at=EARLIER),
        ],
        fetched_at=EARLIER,
    )
    await store.replace_offers(
        "runpod",
        [make_offer("runpod", "r", price_per_hour=0.70, fetched_at=EARLIER)],
        fetched_at=EARLIER,
    )
    await store.replace_offers(
        "vast_ai",
        [
            make_offer("vast_ai", "a", price_per_hour=0.35),
            make_offer("vast_ai", "b", price_per_hour=1.20, gpu_count=2),
            make_offer("vast_ai", "c", price_per_hour=0.90),
            make_offer("vast_ai", "off", price_per_hour=0.10, available=False),
            make_offer("vast_ai", "h", "H100 PCIe", price_per_hour=1.90),
            make_offer("vast_ai", "w", WEIRD, price_per_hour=0.50),
        ],
        fetched_at=FIXED_NOW,
    )
    await store.replace_offers(
        "runpod",
        [
            make_offer("runpod", "r", price_per_hour=0.75),
            make_offer("runpod", "h", "H100 PCIe", price_per_hour=4.80, gpu_count=2),
        ],
        fetched_at=FIXED_NOW,
    )
    await store.replace_offers(
        "lambda_labs",
        [make_offer("lambda_labs", "h", "H100 PCIe", price_per_hour=2.20)],
        fetched_at=FIXED_NOW,
    )


@pytest.fixture
async def store(db_path: Path, clock: Clock) -> AsyncIterator[Store]:
    s = await Store.open(db_path, clock=clock)
    await fill(s)
    yield s
    await s.close()


class ChartsApp(App[None]):
    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        yield MarketCharts(
            ChartReaders(self.store.gpu_prices, self.store.provider_counts, self.store.history),
            id="charts-pane",
        )


def count_calls(monkeypatch: pytest.MonkeyPatch, store: Store, name: str) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    real: Callable[..., Awaitable[Any]] = getattr(store, name)

    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return await real(*args, **kwargs)

    monkeypatch.setattr(store, name, wrapped)
    return calls


ANY = SearchQuery()


def active(charts: MarketCharts) -> str:
    return charts.active_chart


async def in_view(charts: MarketCharts) -> None:
    """Until the charts are laid out on screen (they read nothing before)."""
    for _ in range(1000):  # 10 s
        if any(charts.in_view(name) for name in CHARTS):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the charts never came into view")


async def shown(app: App[Any], model: str | None, query: SearchQuery = ANY) -> MarketCharts:
    charts = app.query_one(MarketCharts)
    await in_view(charts)
    charts.show(model, query)
    await app.workers.wait_for_complete()
    await app.workers.wait_for_complete()
    return charts


async def test_all_matches_without_a_model(store: Store) -> None:
    app = ChartsApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        charts = await shown(app, None)
        await pilot.pause()
        # available offers only, per GPU-hour, cheapest first
        assert charts.price_series == [0.35, 0.5, 0.6, 0.75, 0.9, 1.9, 2.2, 2.4]
        spec = charts.panes["prices"].plot.spec
        assert isinstance(spec, PriceHistogram)
        assert spec.label == "all"
        assert spec.total == 8
        assert charts.provider_series == {"vast_ai": 5, "runpod": 2, "lambda_labs": 1}
        bars = charts.panes["providers"].plot.spec
        assert isinstance(bars, ProviderBars)
        assert bars.counts == (("vast_ai", 5), ("runpod", 2), ("lambda_labs", 1))
        assert charts.history_series is None
        assert charts.panes["history"].hint_text == NO_MODEL_HISTORY


async def test_highlighted_model_distribution_and_history(store: Store) -> None:
    app = ChartsApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        charts = await shown(app, "RTX 4090")
        await pilot.pause()
        assert charts.price_series == [0.35, 0.6, 0.75, 0.9]
        # the provider chart follows the search, not the highlighted model
        assert charts.provider_series == {"vast_ai": 5, "runpod": 2, "lambda_labs": 1}
        assert charts.history_series == {
            "runpod": [(EARLIER, 0.70), (FIXED_NOW, 0.75)],
            "vast_ai": [(EARLIER, 0.40), (FIXED_NOW, 0.35)],
        }
        lines = charts.panes["history"].plot.spec
        assert isinstance(lines, HistoryLines)
        assert [provider for provider, _ in lines.lines] == ["runpod", "vast_ai"]
        assert lines.lines[1][1] == ((EARLIER.timestamp(), 0.40), (FIXED_NOW.timestamp(), 0.35))
        assert charts.panes["history"].hint_text is None
        svg = app.export_screenshot().replace("&#160;", " ")
        assert "RTX 4090" in svg
        assert "offers per provider" in svg


async def test_query_filters_the_charts(store: Store) -> None:
    app = ChartsApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        charts = await shown(app, None, SearchQuery(providers=("runpod",)))
        await pilot.pause()
        assert charts.price_series == [0.75, 2.4]
        assert charts.provider_series == {"runpod": 2}
        charts = await shown(app, None, SearchQuery(max_price=0.2))
        await pilot.pause()
        assert charts.price_series == []
        assert charts.panes["prices"].hint_text == NO_MATCH
        assert charts.panes["providers"].hint_text == NO_MATCH


async def test_history_hint_with_fewer_than_two_points(store: Store) -> None:
    app = ChartsApp(store)
    async with app.run_test(size=(60, 14)) as pilot:
        charts = await shown(app, WEIRD)
        await pilot.pause()
        assert charts.price_series == [0.5]
        charts.show_chart("history")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert charts.history_series == {"vast_ai": [(FIXED_NOW, 0.5)]}
        hint = charts.panes["history"].hint_text
        assert hint is not None
        assert HISTORY_HINT in hint
        assert WEIRD in hint
        svg = app.export_screenshot().replace("&#160;", " ")
        assert WEIRD in svg
        charts.show_chart("prices")
        await pilot.pause()
        app.export_screenshot()  # the one-bin histogram of a single offer renders


async def test_fetches_only_what_changed(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    prices = count_calls(monkeypatch, store, "gpu_prices")
    providers = count_calls(monkeypatch, store, "provider_counts")
    history = count_calls(monkeypatch, store, "history")
    app = ChartsApp(store)
    async with app.run_test(size=(120, 40)):
        await shown(app, "RTX 4090")
        await shown(app, "RTX 4090")
        # a new sort order or page of the same search changes no chart
        await shown(app, "RTX 4090", SearchQuery(sort_by="performance", limit=50))
        assert (len(prices), len(providers), len(history)) == (1, 1, 1)
        await shown(app, "H100 PCIe")
        assert (len(prices), len(providers), len(history)) == (2, 1, 2)
        assert history[-1] == (["H100 PCIe"],)
        await shown(app, "H100 PCIe", SearchQuery(providers=("vast_ai",)))
        assert (len(prices), len(providers), len(history)) == (3, 2, 2)


async def test_rapid_moves_fetch_once(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # moves a pilot pause apart are rapid; on a loaded machine a pause can outlast the
    # real 0.1 s debounce, so the test's is long enough that only a bug fetches early
    monkeypatch.setattr(market_charts, "DEBOUNCE_SECONDS", 1.0)
    history = count_calls(monkeypatch, store, "history")
    app = ChartsApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        charts = app.query_one(MarketCharts)
        for model in ("RTX 4090", "H100 PCIe", WEIRD, "H100 PCIe"):
            charts.show(model, SearchQuery())
            await pilot.pause()
        await app.workers.wait_for_complete()
        assert history == [(["H100 PCIe"],)]
        assert charts.history_series is not None
        assert set(charts.history_series) == {"vast_ai", "runpod", "lambda_labs"}


async def test_refresh_data_refetches_and_replots_only_changes(store: Store) -> None:
    app = ChartsApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        charts = await shown(app, "RTX 4090")
        before = {name: pane.plot.spec for name, pane in charts.panes.items()}
        charts.refresh_data()
        await app.workers.wait_for_complete()
        await pilot.pause()
        # same data: the very same spec objects stay, nothing is redrawn
        assert all(charts.panes[n].plot.spec is before[n] for n in before)
        later = FIXED_NOW + timedelta(hours=1)
        await store.replace_offers(
            "runpod", [make_offer("runpod", "r", price_per_hour=0.65)], fetched_at=later
        )
        charts.refresh_data()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert charts.price_series == [0.35, 0.6, 0.65, 0.9]
        assert charts.provider_series == {"vast_ai": 5, "runpod": 1, "lambda_labs": 1}
        assert charts.history_series is not None
        assert charts.history_series["runpod"][-1] == (later, 0.65)
        assert all(charts.panes[n].plot.spec is not before[n] for n in before)


async def test_wide_shows_three_charts_narrow_shows_tabs(store: Store) -> None:
    app = ChartsApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        charts = await shown(app, "RTX 4090")
        await pilot.pause()
        assert not charts.narrow
        assert not app.query_one(Tabs).display
        assert all(pane.region.width >= 36 for pane in charts.panes.values())
    app = ChartsApp(store)
    async with app.run_test(size=(60, 14)) as pilot:
        charts = await shown(app, "RTX 4090")
        await pilot.pause()
        assert charts.narrow
        assert app.query_one(Tabs).display
        visible = [name for name, pane in charts.panes.items() if pane.region.width]
        assert visible == ["prices"]
        charts.next_chart()
        await pilot.pause()
        assert active(charts) == "providers"
        assert app.query_one(Tabs).active == "providers"
        assert [n for n, p in charts.panes.items() if p.region.width] == ["providers"]
        # the tab strip works from the keyboard too
        app.query_one(Tabs).focus()
        await pilot.press("right")
        await pilot.pause()
        assert active(charts) == "history"
        assert [n for n, p in charts.panes.items() if p.region.width] == ["history"]
        svg = app.export_screenshot().replace("&#160;", " ")
        assert "min $/GPU·h" in svg


async def test_renders_at_40_by_10(store: Store) -> None:
    app = ChartsApp(store)
    async with app.run_test(size=(40, 10)) as pilot:
        charts = await shown(app, "H100 PCIe")
        for name in ("prices", "providers", "history"):
            charts.show_chart(name)
            await pilot.pause()
            svg = app.export_screenshot().replace("&#160;", " ")
            assert "Prices" in svg  # the tab strip
        assert "min $/GPU·h" in svg


async def test_outliers_are_left_out_of_the_histogram(db_path: Path, clock: Clock) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        offers = [make_offer("vast_ai", str(i), price_per_hour=0.5 + i / 100) for i in range(29)]
        offers.append(make_offer("vast_ai", "silly", price_per_hour=500.0))
        await store.replace_offers("vast_ai", offers, fetched_at=FIXED_NOW)
        app = ChartsApp(store)
        async with app.run_test(size=(120, 40)):
            charts = await shown(app, "RTX 4090")
            spec = charts.panes["prices"].plot.spec
            assert isinstance(spec, PriceHistogram)
            assert charts.price_series is not None
            assert len(charts.price_series) == 30
            assert spec.total == 30
            assert max(spec.values) < 1.0
            assert spec.cutoff is not None
    finally:
        await store.close()


def test_histogram_bins() -> None:
    assert histogram([], 5) == ([], [])
    assert histogram([2.0, 2.0], 5) == ([2.0], [2])
    xs, counts = histogram([0.0, 0.1, 0.9, 1.0], 2)
    assert xs == [0.25, 0.75]
    assert counts == [2, 2]


def count_draws(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The id of each chart pane given a spec or a hint from now on."""
    drawn: list[str] = []
    for name in ("show_spec", "show_hint"):
        real = getattr(ChartPane, name)

        def spy(pane: ChartPane, arg: Any, _real: Any = real) -> Any:
            drawn.append(str(pane.id))
            return _real(pane, arg)

        monkeypatch.setattr(ChartPane, name, spy)
    return drawn


async def test_a_chart_out_of_view_waits_until_it_is_shown(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a tab (one chart at a time) or with the pane hidden, a chart is neither
    read nor redrawn when the search changes; it is, for the current search, when it
    comes into view."""
    providers = count_calls(monkeypatch, store, "provider_counts")
    history = count_calls(monkeypatch, store, "history")
    drawn = count_draws(monkeypatch)
    app = ChartsApp(store)
    async with app.run_test(size=(60, 14)) as pilot:
        charts = await shown(app, "RTX 4090")
        assert charts.narrow and active(charts) == "prices"
        assert charts.price_series == [0.35, 0.6, 0.75, 0.9]
        charts = await shown(app, "RTX 4090", SearchQuery(providers=("runpod",)))
        charts = await shown(app, "H100 PCIe", SearchQuery(providers=("runpod",)))
        assert charts.price_series == [2.4]
        assert (providers, history) == ([], [])
        assert set(drawn) == {"chart-prices"}
        assert charts.panes["providers"].plot.spec is None

        charts.show_chart("providers")  # shown: read and drawn for the search now
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(providers) == 1 and history == []
        assert charts.provider_series == {"runpod": 2}
        assert charts.panes["providers"].plot.spec == ProviderBars((("runpod", 2),))
        assert "offers per provider" in app.export_screenshot().replace("&#160;", " ")

        # prices now behind its tab: a new search leaves it stale, a refresh too
        drawn.clear()
        charts = await shown(app, "H100 PCIe", SearchQuery(max_price=3.0))
        charts.refresh_data()
        await app.workers.wait_for_complete()
        assert charts.price_series == [2.4] and set(drawn) == {"chart-providers"}
        charts.show_chart("prices")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert charts.price_series == [1.9, 2.2]
        spec = charts.panes["prices"].plot.spec
        assert isinstance(spec, PriceHistogram) and spec.total == 2

        # wide enough for all three: the stale history comes into view and is read
        assert history == []
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not charts.narrow
        assert history == [(["H100 PCIe"],)]
        assert isinstance(charts.panes["history"].plot.spec, HistoryLines)

        # the whole pane hidden: nothing is read until it is shown again
        charts.display = False
        await pilot.pause()
        drawn.clear()
        calls = len(providers)
        charts.show(None, SearchQuery(providers=("vast_ai",)))
        await pilot.pause(market_charts.DEBOUNCE_SECONDS * 2)
        await app.workers.wait_for_complete()
        assert drawn == [] and len(providers) == calls
        charts.display = True
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert charts.provider_series == {"vast_ai": 5}
        assert charts.panes["history"].hint_text == NO_MODEL_HISTORY
