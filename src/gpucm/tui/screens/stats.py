"""`m`: the market by GPU model, over the current filter: availability, price
percentiles, the cheapest price's trend, and charts for the highlighted model.

Everything is read from the store: percentiles from the live offers, trends and the
time charts from the price history's rollups (hourly or daily), so the screen costs
the same after a month of refreshes as after one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Literal, get_args

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Header, Static

from gpucm import formatting as fmt
from gpucm.domain.models import MarketStats, ModelStats, SearchQuery
from gpucm.domain.provider_names import display_name
from gpucm.domain.query import format_query
from gpucm.engine.market import (
    WINDOWS,
    ModelTrend,
    model_history,
    model_trends,
    series_by_provider,
    stats_and_trend_buckets,
)
from gpucm.tui.messages import RefreshLanded
from gpucm.tui.screens.help import MARKET_HELP
from gpucm.tui.widgets.key_bar import KeyBar
from gpucm.tui.widgets.line_table import Cell, LineTable, ListCell, TableColumn
from gpucm.tui.widgets.market_charts import (
    ChartPane,
    ChartSpec,
    HistoryLines,
    PriceHistogram,
    ProviderBars,
    chart_query,
)

if TYPE_CHECKING:
    from gpucm.services import Services

StatsChart = Literal["trend", "availability", "distribution", "providers"]
STATS_CHARTS: tuple[StatsChart, ...] = get_args(StatsChart)
_CHART_LABELS: dict[StatsChart, str] = {
    "trend": "Price trend",
    "availability": "Availability",
    "distribution": "Distribution",
    "providers": "Providers",
}
SORTS = ("available", "median", "trend", "model")
NO_HISTORY = "not enough history in this window yet — it builds up with every refresh"
WAITING = "Waiting for the first refresh from the providers…"
DEBOUNCE_SECONDS = 0.1
WIDE = 100
_PRICE_KEYS = ("min", "p10", "median", "p90", "max", "avg")
_COLUMN_LABELS = {
    "model": "Model",
    "available": "Avail",
    "min": "Min",
    "p10": "P10",
    "median": "Median",
    "p90": "P90",
    "max": "Max",
    "avg": "Avg",
    "trend": "Trend",
    "providers": "Providers",
}
_WIDE_COLUMNS = ("model", "available", *_PRICE_KEYS, "trend", "providers")
_NARROW_COLUMNS = (
    "model",
    "available",
    "min",
    "median",
    "trend",
    "p10",
    "p90",
    "max",
    "avg",
    "providers",
)


@dataclass(frozen=True)
class Figures:
    """One table row's prices in the chosen unit."""

    min: float | None
    p10: float | None
    median: float | None
    p90: float | None
    max: float | None
    avg: float | None


def figures(stats: ModelStats, per_gpu: bool) -> Figures:
    if per_gpu:
        return Figures(
            stats.min_price_per_gpu,
            stats.p10_price_per_gpu,
            stats.median_price_per_gpu,
            stats.p90_price_per_gpu,
            stats.max_price_per_gpu,
            stats.avg_price_per_gpu,
        )
    if not stats.available_count:
        return Figures(None, None, None, None, None, None)
    return Figures(
        stats.min_price,
        stats.p10_price,
        stats.median_price,
        stats.p90_price,
        stats.max_price,
        stats.avg_price,
    )


_DIM = Style(dim=True)


# a trend needs the history of at least two refreshes in its window; one refresh and
# the live prices differ by what is available now, not by how the market moved
MIN_TREND_BUCKETS = 2


def trend_text(
    trend: ModelTrend | None,
    buckets: int = MIN_TREND_BUCKETS,
    *,
    cheaper: Style | None = None,
    dearer: Style | None = None,
) -> Cell:
    """The trend cell: a sparkline and the change, coloured by the theme (`cheaper`,
    `dearer`); "-" without enough history."""
    if trend is None or trend.change is None or buckets < MIN_TREND_BUCKETS:
        return Cell(("-", _DIM), right=True)
    spark = trend.sparkline(8)
    pct = trend.change * 100
    # cheaper is good news for a renter
    style = (cheaper or Style()) if pct < -0.05 else (dearer or Style()) if pct > 0.05 else Style()
    return Cell((spark.ljust(8), _DIM), " ", (f"{pct:+.1f}%".rjust(7), style), right=True)


class StatsScreen(Screen[None]):
    HELP_TITLE = "market keys"
    KEYS_HELP = MARKET_HELP
    COMPONENT_CLASSES: ClassVar[set[str]] = {"stats--cheaper", "stats--dearer"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,m", "close", "Back", id="market.back"),
        Binding("w", "cycle_window", "Window", id="market.window"),
        Binding("u", "toggle_unit", "$/h ⇄ $/GPU-h", id="market.unit"),
        Binding("t", "next_chart", "Chart", id="market.chart"),
        Binding("s", "cycle_sort", "Sort", id="market.sort"),
        Binding("enter", "best", "Best per provider", key_display="⏎", id="market.best"),
    ]
    KEY_ORDER: ClassVar[tuple[str, ...]] = (
        "market.best",
        "market.sort",
        "market.unit",
        "market.window",
        "market.chart",
        "market.back",
    )

    DEFAULT_CSS = """
    StatsScreen {
        layout: vertical;
        & > #stats-summary { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
        & > #stats-table { height: 1fr; min-height: 5; }
        & > #stats-charts { height: 45%; min-height: 8; border-top: tall $panel; }
        & #stats-tabs { height: 1; padding: 0 1; }
        & > .stats--cheaper { color: $text-success; }
        & > .stats--dearer { color: $text-error; }
    }
    """

    def __init__(self, services: Services, query: SearchQuery | None = None) -> None:
        super().__init__()
        self.services = services
        self.query_filter = chart_query(query or SearchQuery())
        self.window = "7d"
        self.per_gpu = True
        self.sort = SORTS[0]
        self.active_chart: StatsChart = "trend"
        self.stats: MarketStats | None = None
        self.trends: dict[str, ModelTrend] = {}
        self.trend_buckets: dict[str, int] = {}
        # no provider has refreshed yet: an empty market means "not yet", not "none"
        self.waiting = False
        self.model: str | None = None
        # one pane shows the active chart's content: a spec to draw, or a line of text
        self.pane = ChartPane(id="stats-chart")
        self.content: dict[StatsChart, ChartSpec | str] = {}
        # what each chart plotted last, for tests
        self.plotted: dict[StatsChart, object] = {}
        self.loaded = asyncio.Event()
        # which (model, window, load) the charts were read for; a load is one _load
        self._charted: tuple[str | None, str, int] | None = None
        self._generation = 0

    def compose(self) -> ComposeResult:
        yield Header(icon="▦")
        yield Static("Reading the market...", id="stats-summary", markup=False)
        yield LineTable(id="stats-table")
        with Vertical(id="stats-charts"):
            yield Static(self._tabs(), id="stats-tabs")
            yield self.pane
        yield KeyBar()

    @property
    def table(self) -> LineTable:
        return self.query_one("#stats-table", LineTable)

    def on_mount(self) -> None:
        self.title = "gpucm · market"
        self.sub_title = "DEMO market (simulated)" if self.services.demo else "live markets"
        self.table.focus()
        self._load()

    # -- actions --------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss(None)

    def action_best(self) -> None:
        """The best offer at each provider, for the model under the cursor."""
        self.table.action_select()

    def action_cycle_window(self) -> None:
        names = list(WINDOWS)
        self.window = names[(names.index(self.window) + 1) % len(names)]
        self._load()

    def action_toggle_unit(self) -> None:
        self.per_gpu = not self.per_gpu
        self.query_one("#stats-tabs", Static).update(self._tabs())
        self._fill_table()

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        # a new order starts at its top: keeping the old row in view would scroll the
        # rows the sort put first out of sight
        self._fill_table(top=True)

    def action_next_chart(self) -> None:
        nxt = STATS_CHARTS[(STATS_CHARTS.index(self.active_chart) + 1) % len(STATS_CHARTS)]
        self.show_chart(nxt)

    def show_chart(self, name: StatsChart) -> None:
        self.active_chart = name
        self.query_one("#stats-tabs", Static).update(self._tabs())
        self._show_content()

    def _tabs(self) -> Text:
        text = Text()
        for name in STATS_CHARTS:
            if text:
                text.append("   ")
            active = name == self.active_chart
            text.append(_CHART_LABELS[name], style="bold underline" if active else "")
        if not self.per_gpu:
            # the history is kept per GPU-hour: the charts cannot follow the unit
            text.append("   (charts stay in $/GPU·h)")
        return text

    def _set(self, chart: StatsChart, content: ChartSpec | str) -> None:
        self.content[chart] = content
        if chart == self.active_chart:
            self._show_content()

    def _show_content(self) -> None:
        content = self.content.get(self.active_chart)
        if isinstance(content, str):
            self.pane.show_hint(content)
        elif content is not None:
            self.pane.show_spec(content)

    # -- data -----------------------------------------------------------------------

    @work(exclusive=True, group="stats", exit_on_error=False)
    async def _load(self) -> None:
        self._generation += 1
        store = self.services.store
        summary = self.query_one("#stats-summary", Static)
        try:
            stats, trend = await stats_and_trend_buckets(
                store, self.query_filter, WINDOWS[self.window], self.services.clock()
            )
            if not stats.total_instances:
                health = await store.health()
                self.waiting = not any(h.last_success_at for h in health.values())
            else:
                self.waiting = False
        except Exception as exc:  # a broken store must not take the screen down
            summary.update(f"Could not read the market: {exc}")
            return
        live = {m: s.min_price_per_gpu for m, s in stats.model_stats.items()}
        trends = model_trends(trend, live)
        self.stats, self.trends = stats, trends
        self.trend_buckets = {m: len(b) for m, b in trend.items()}
        # Read the charts of the row the cursor will land on before filling the table,
        # so one frame paints table and chart: the chart's reads would otherwise wait
        # behind the table's first paint, then take a paint of their own.
        model = self._cursor_model(stats)
        self.model = model
        self._charted = (model, self.window, self._generation)
        await self._chart(model, self.window)
        summary.update(self._summary(stats))
        self._fill_table()
        self.loaded.set()

    def _summary(self, stats: MarketStats) -> Text:
        if self.waiting:
            return Text(f"{WAITING}\nthe market shows here as soon as one lands")
        providers = "  ".join(
            f"{display_name(p)} {n:,}" for p, n in sorted(stats.provider_stats.items())
        )
        text = format_query(self.query_filter) or "all offers"
        unit = "$/GPU-h" if self.per_gpu else "$/h per offer"
        first = (
            f"{stats.available_instances:,}/{stats.total_instances:,} offers available"
            f" · {text} · trend {self.window} · {unit}"
        )
        return Text(f"{first}\n{providers or 'no provider has a matching offer'}")

    def _sorted_models(self, stats: MarketStats | None = None) -> list[ModelStats]:
        stats = stats or self.stats
        assert stats is not None
        rows = list(stats.model_stats.values())
        if self.sort == "model":
            return sorted(rows, key=lambda s: s.model.name.lower())
        if self.sort == "median":
            return sorted(
                rows,
                key=lambda s: (
                    figures(s, self.per_gpu).median is None,
                    figures(s, self.per_gpu).median or 0.0,
                ),
            )
        if self.sort == "trend":

            def change(s: ModelStats) -> tuple[bool, float]:
                t = self.trends.get(s.model.name)
                return (t is None or t.change is None, t.change if t and t.change else 0.0)

            return sorted(rows, key=change)
        return sorted(rows, key=lambda s: (-s.available_count, s.model.name.lower()))

    def _sort_column(self) -> tuple[str, bool]:
        """The column the table is sorted by, and whether it reads high to low."""
        return {
            "available": ("available", True),
            "median": ("median", False),
            "trend": ("trend", False),
            "model": ("model", False),
        }[self.sort]

    def _fill_table(self, *, top: bool = False) -> None:
        if self.stats is None:
            return
        self.query_one("#stats-summary", Static).update(self._summary(self.stats))
        table = self.table
        cheaper = self.get_component_rich_style("stats--cheaper", partial=True)
        dearer = self.get_component_rich_style("stats--dearer", partial=True)
        columns = [
            TableColumn(
                key,
                f"{_COLUMN_LABELS[key]} {self.window}" if key == "trend" else _COLUMN_LABELS[key],
                right=key not in ("model", "providers"),
                fill=key == "providers",
                minimum=18,
            )
            for key in self._columns()
        ]
        rows: list[tuple[str, dict[str, Cell]]] = []
        ordered = self._sorted_models()
        for stats in ordered:
            f = figures(stats, self.per_gpu)
            name = stats.model.name
            cells: dict[str, Cell] = {
                "model": Cell(name),
                "available": Cell(f"{stats.available_count:,}/{stats.offer_count:,}", right=True),
                "trend": trend_text(
                    self.trends.get(name),
                    self.trend_buckets.get(name, 0),
                    cheaper=cheaper,
                    dearer=dearer,
                ),
                "providers": ListCell([display_name(p) for p in stats.providers]),
            }
            for key, value in zip(
                _PRICE_KEYS, (f.min, f.p10, f.median, f.p90, f.max, f.avg), strict=True
            ):
                cells[key] = Cell(fmt.price(value) if value is not None else "-", right=True)
            rows.append((name, cells))
        names = [s.model.name for s in ordered]
        keep = None if top or self.model not in names else self.model
        sorted_by, descending = self._sort_column()
        table.set_data(columns, rows, cursor=keep, sorted_by=sorted_by, descending=descending)
        if not names:
            self.model = None
            self._show_model(None)
            return
        self._show_model(keep or names[0])

    def _cursor_model(self, stats: MarketStats) -> str | None:
        """The model the table's cursor lands on (the one it was on, else the first)."""
        names = [s.model.name for s in self._sorted_models(stats)]
        if not names:
            return None
        return self.model if self.model in names else names[0]

    def _columns(self) -> tuple[str, ...]:
        # on a narrow screen the trend moves next to the median, so it shows unscrolled
        return _NARROW_COLUMNS if self.size.width < WIDE else _WIDE_COLUMNS

    def on_resize(self) -> None:
        if self.stats is not None and self.table.columns:
            shown = tuple(c.key for c in self.table.columns)
            if shown != self._columns():
                self._fill_table()

    @on(LineTable.RowSelected, "#stats-table")
    def _selected(self, event: LineTable.RowSelected) -> None:
        from gpucm.tui.screens.best_offers import BestOffersScreen

        self.app.push_screen(BestOffersScreen(self.services, event.key, self.query_filter))

    @on(LineTable.RowHighlighted, "#stats-table")
    def _highlighted(self, event: LineTable.RowHighlighted) -> None:
        if event.key != self.model:
            self._show_model(event.key, debounce=True)

    def _show_model(self, model: str | None, *, debounce: bool = False) -> None:
        self.model = model
        wanted = (model, self.window, self._generation)
        if wanted == self._charted:
            return  # read (or being read) for this model, window and load already
        self._charted = wanted
        # holding j/k fetches only where the cursor stops
        self._load_model(model, self.window, DEBOUNCE_SECONDS if debounce else 0.0)

    @work(exclusive=True, group="stats-model", exit_on_error=False)
    async def _load_model(self, model: str | None, window: str, delay: float) -> None:
        if delay and model is not None:
            await asyncio.sleep(delay)
        await self._chart(model, window)

    async def _chart(self, model: str | None, window: str) -> None:
        """Read the model's history, prices and offers, and give each chart its content."""
        if model is None:
            for chart in STATS_CHARTS:
                self._set(chart, WAITING if self.waiting else "No offers match the filter.")
            return
        store = self.services.store
        query = self.query_filter.model_copy(update={"gpu_models": (model,)})
        try:
            points, prices, counts = await asyncio.gather(
                model_history(store, model, WINDOWS[window], self.services.clock()),
                store.gpu_prices(query),
                store.provider_counts(query),
            )
        except Exception as exc:
            if model == self.model:
                for chart in STATS_CHARTS:
                    self._set(chart, f"Could not read {model}: {exc}")
            return
        if model != self.model:
            return  # the cursor moved on while this was read
        self._plot_lines(
            "trend",
            model,
            series_by_provider(points, "min_gpu_price"),
            f"{model}: cheapest $/GPU·h, {window}",
            money=True,
        )
        self._plot_lines(
            "availability",
            model,
            series_by_provider(points, "available"),
            f"{model}: offers available, {window}",
            money=False,
        )
        self.plotted["distribution"] = prices
        if prices:
            ordered = tuple(sorted(prices))
            self._set("distribution", PriceHistogram(model[:18], ordered, len(prices)))
        else:
            self._set("distribution", f"{model}: no available offer right now")
        self.plotted["providers"] = counts
        if counts:
            bars = tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
            self._set("providers", ProviderBars(bars))
        else:
            self._set("providers", f"{model}: no available offer right now")

    def _plot_lines(
        self,
        chart: StatsChart,
        model: str,
        series: dict[str, list[tuple[datetime, float]]],
        title: str,
        *,
        money: bool,
    ) -> None:
        self.plotted[chart] = series
        times = {t for pts in series.values() for t, _ in pts}
        if len(times) < 2:
            self._set(chart, f"{model}: {NO_HISTORY}")
            return
        lines = tuple(
            (provider, tuple((t.timestamp(), y) for t, y in pts))
            for provider, pts in sorted(series.items())
        )
        self._set(chart, HistoryLines(model, lines, title=title, money=money))

    @on(RefreshLanded)
    def _refresh_landed(self, event: RefreshLanded) -> None:
        """A provider's refresh landed while the screen is open: read the market again
        (the cursor stays on its model, the table where it was scrolled). A failed one
        changed nothing, unless the screen is waiting: then it says why it still is."""
        if event.outcome.ok or self.waiting:
            self._load()
