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

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.widgets._footer import FooterKey

from gpucm import formatting as fmt
from gpucm.domain.models import MarketStats, ModelStats, SearchQuery
from gpucm.domain.provider_names import SHORT_NAMES
from gpucm.domain.query import format_query
from gpucm.engine.market import (
    WINDOWS,
    ModelTrend,
    model_history,
    model_trends,
    series_by_provider,
    stats_and_trend_buckets,
)
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


_PLAIN = Style.null()
_DIM = Style(dim=True)
_GREEN = Style(color="green")
_RED = Style(color="red")


class Cell:
    """One line of a table cell: runs of styled text, aligned left or right.

    It renders as the same Text would, so the table looks the same, but StatsTable
    draws it without Rich's wrap-and-pad machinery: a tenth of the cost per cell."""

    __slots__ = ("parts", "plain", "right", "width")

    def __init__(self, *parts: str | tuple[str, Style], right: bool = False) -> None:
        self.parts = tuple((p, _PLAIN) if isinstance(p, str) else p for p in parts)
        self.plain = "".join(text for text, _ in self.parts)
        self.right = right
        self.width = cell_len(self.plain)

    def __str__(self) -> str:
        return self.plain

    def __repr__(self) -> str:
        return f"Cell({self.plain!r})"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        space = options.max_width - self.width
        if space > 0 and self.right:
            yield Segment(" " * space, _PLAIN)
        for text, style in self.parts:
            yield Segment(text, style)
        if space > 0 and not self.right:
            yield Segment(" " * space, _PLAIN)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)


class StatsTable(DataTable[Cell]):
    """A DataTable that draws its one-line Cells directly.

    DataTable renders every cell through Rich (Styled(Padding(Text)) into lines): about
    0.1 ms a cell, so 30-40 ms for the 200 cells of a first paint. A Cell is drawn here
    as the same segments with the same styles (base, component and meta before the
    cell's own, the post style after); anything else goes to DataTable."""

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        if row_index < 0 or column_index < 0 or self.fixed_rows or self.fixed_columns:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cache_key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._cell_render_cache.get(cache_key)
        if cached is not None:
            return cached
        pad = self.cell_padding
        space = width - 2 * pad
        cell = self._data[row_key].get(column_key)
        row = self.rows.get(row_key)
        if not isinstance(cell, Cell) or row is None or row.height != 1 or cell.width > space:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        space -= cell.width
        base_style += Style.from_meta({"row": row_index, "column": column_index})
        component, post = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre = base_style + component
        blank = pre + post if pre else post
        line: list[Segment] = []
        if pad:
            line.append(Segment(" " * pad, blank))
        if space > 0 and cell.right:
            line.append(Segment(" " * space, blank))
        for text, style in cell.parts:
            styled = pre + style
            line.append(Segment(text, styled + post if styled else post))
        if space > 0 and not cell.right:
            line.append(Segment(" " * space, blank))
        if pad:
            line.append(Segment(" " * pad, blank))
        lines = [line]
        self._cell_render_cache[cache_key] = lines
        return lines


def trend_text(trend: ModelTrend | None) -> Cell:
    if trend is None or trend.change is None:
        return Cell(("-", _DIM))
    spark = trend.sparkline(8)
    pct = trend.change * 100
    # cheaper is good news for a renter
    style = _GREEN if pct < -0.05 else _RED if pct > 0.05 else _PLAIN
    return Cell((spark.ljust(8), _DIM), " ", (f"{pct:+.1f}%".rjust(7), style))


class KeyFooter(Footer):
    """Footer that recomposes only when the keys it shows change. Textual's schedules a
    recompose (a widget per key, each styled) on every bindings-updated signal: three
    while this screen opens, all for the same keys. (It leans on Footer's internals,
    `_bindings_ready` and FooterKey: constraints.txt pins the Textual it was read from.)"""

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[object, ...] | None = None
        self._pending = False

    def _keys(self) -> tuple[object, ...]:
        palette = self.app.COMMAND_PALETTE_BINDING
        return tuple(
            (key, b.action, b.description, b.key_display, enabled, tooltip)
            for key, (_, b, enabled, tooltip) in self.screen.active_bindings.items()
            if b.show or key == palette
        )

    def compose(self) -> ComposeResult:
        self._pending = False
        if self._bindings_ready:
            self._shown = self._keys()
        for widget in super().compose():
            if isinstance(widget, FooterKey) and not widget.has_class("-command-palette"):
                # a key starts compact, then its binding to Footer.compact (the palette
                # key has none) makes it not: two restylings a key; start it as bound
                widget.set_reactive(FooterKey.compact, self.compact)
            yield widget

    def bindings_changed(self, screen: Screen[object]) -> None:
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            # a recompose already scheduled reads the keys when it runs
            if self._pending or self._keys() == self._shown:
                return
            self._pending = True
        super().bindings_changed(screen)


class StatsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,m", "close", "Back"),
        Binding("w", "cycle_window", "Window"),
        Binding("u", "toggle_unit", "$/h ⇄ $/GPU-h"),
        Binding("t", "next_chart", "Chart"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("enter", "noop", "Best per provider", key_display="⏎"),
        # the vim keys of the offer table
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
        Binding("g", "move(-1_000_000)", "Top", show=False),
        Binding("G", "move(1_000_000)", "Bottom", show=False),
    ]

    DEFAULT_CSS = """
    StatsScreen {
        layout: vertical;
        & > #stats-summary { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
        & > #stats-table { height: 1fr; min-height: 5; }
        & > #stats-charts { height: 45%; min-height: 8; border-top: tall $panel; }
        & #stats-tabs { height: 1; padding: 0 1; }
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
        self._shown_columns: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        yield Static("Reading the market...", id="stats-summary", markup=False)
        yield StatsTable(id="stats-table", cursor_type="row", zebra_stripes=True)
        with Vertical(id="stats-charts"):
            yield Static(self._tabs(), id="stats-tabs")
            yield self.pane
        yield KeyFooter()

    def on_mount(self) -> None:
        self._load()

    # -- actions --------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss(None)

    def action_noop(self) -> None:
        """`enter` is the table's (row selected); the binding puts it in the footer."""

    def action_move(self, rows: int) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + rows)))

    def action_cycle_window(self) -> None:
        names = list(WINDOWS)
        self.window = names[(names.index(self.window) + 1) % len(names)]
        self._load()

    def action_toggle_unit(self) -> None:
        self.per_gpu = not self.per_gpu
        self._fill_table()

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._fill_table()

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
            text.append(_CHART_LABELS[name], style="bold underline" if active else "dim")
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
        except Exception as exc:  # a broken store must not take the screen down
            summary.update(f"Could not read the market: {exc}")
            return
        live = {m: s.min_price_per_gpu for m, s in stats.model_stats.items()}
        trends = model_trends(trend, live)
        self.stats, self.trends = stats, trends
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
        providers = "  ".join(
            f"{SHORT_NAMES.get(p, p)} {n:,}" for p, n in sorted(stats.provider_stats.items())
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

    def _fill_table(self) -> None:
        if self.stats is None:
            return
        self.query_one("#stats-summary", Static).update(self._summary(self.stats))
        table = self.query_one(DataTable)
        keep = self.model
        table.clear(columns=True)
        self._shown_columns = self._columns()
        columns = self._columns()
        for key in columns:
            label = _COLUMN_LABELS[key]
            if key == "trend":
                table.add_column(f"{label} {self.window}", key=key)
            elif key in ("model", "providers"):
                table.add_column(label, key=key)
            else:
                table.add_column(Text(label, justify="right"), key=key)
        for stats in self._sorted_models():
            f = figures(stats, self.per_gpu)
            cells: dict[str, Cell] = {
                "model": Cell(stats.model.name),
                "available": Cell(f"{stats.available_count:,}/{stats.offer_count:,}", right=True),
                "trend": trend_text(self.trends.get(stats.model.name)),
                "providers": Cell(" ".join(SHORT_NAMES.get(p, p) for p in stats.providers) or "-"),
            }
            for key, value in zip(
                _PRICE_KEYS, (f.min, f.p10, f.median, f.p90, f.max, f.avg), strict=True
            ):
                cells[key] = Cell(fmt.price(value) if value is not None else "-", right=True)
            table.add_row(*(cells[k] for k in columns), key=stats.model.name)
        if not self.stats.model_stats:
            self.model = None
            self._show_model(None)
            return
        names = [s.model.name for s in self._sorted_models()]
        row = names.index(keep) if keep in names else 0
        table.move_cursor(row=row)
        self._show_model(names[row])

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
        if self.stats is not None and self._shown_columns != self._columns():
            self._fill_table()

    @on(DataTable.RowSelected, "#stats-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            from gpucm.tui.screens.best_offers import BestOffersScreen

            self.app.push_screen(
                BestOffersScreen(self.services, event.row_key.value, self.query_filter)
            )

    @on(DataTable.RowHighlighted, "#stats-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value and event.row_key.value != self.model:
            self._show_model(event.row_key.value, debounce=True)

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
                self._set(chart, "No offers match the filter.")
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

    def refresh_data(self) -> None:
        """A refresh landed: read the market again."""
        self._load()
