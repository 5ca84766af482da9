"""Market charts under the offer table: the price distribution, offers per provider,
and the highlighted model's price over time.

Layout: three charts side by side when each can get at least MIN_CHART_WIDTH columns;
below that (the usual case: the pane shares a 120-column screen with the model detail,
or fills an 80-column one) one chart at a time behind a one-line tab strip. Three
20-column charts are unreadable (the y-axis labels alone take a third), while
one chart at full width stays legible down to 40x10.

The charts are drawn by chart_draw (braille lines, block columns and bars).

Charts are described by small immutable specs and drawn at render time for the plot's
actual size, so bins, ticks, titles and the legend's headroom always fit the space they
get; a spec equal to the one on screen is not redrawn.

A chart out of sight (behind another tab, or the whole pane hidden) is neither read nor
redrawn when the search changes: it is left stale and fetched when it comes into view
(in_view.py, as the model detail beside it). A hidden pane's new spec or hint would
still make Textual lay the screen out again, on every keystroke of the filter.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, get_args

from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static, Tab, Tabs

from gpucm import formatting as fmt
from gpucm.domain.models import SearchQuery
from gpucm.domain.provider_names import display_name
from gpucm.engine.market import series_by_provider
from gpucm.tui.widgets.chart_draw import Figure, bar_chart, column_chart, line_chart
from gpucm.tui.widgets.in_view import InView

if TYPE_CHECKING:
    from gpucm.store.history import HistoryPoint

__all__ = [
    "CHARTS",
    "DEBOUNCE_SECONDS",
    "HISTORY_HINT",
    "MIN_CHART_WIDTH",
    "NO_MATCH",
    "NO_MODEL_HISTORY",
    "ChartName",
    "ChartPane",
    "ChartPlot",
    "ChartReaders",
    "HistoryLines",
    "MarketCharts",
    "PriceHistogram",
    "ProviderBars",
    "chart_query",
    "histogram",
    "history_series",
]

ChartName = Literal["prices", "providers", "history"]
CHARTS: tuple[ChartName, ...] = get_args(ChartName)
_TAB_LABELS: dict[ChartName, str] = {
    "prices": "Prices",
    "providers": "Providers",
    "history": "History",
}

DEBOUNCE_SECONDS = 0.1
MIN_CHART_WIDTH = 36
HISTORY_HINT = "not enough history yet — it builds up with every refresh"
NO_MATCH = "No offers match the search."
NO_MODEL_HISTORY = "Highlight an offer to see its model's price over time."
_PLOT_CHROME_ROWS = 4  # title, top and bottom frame, x tick labels


def _short(text: str, width: int) -> str:
    width = max(1, width)
    return text if len(text) <= width else text[: width - 1] + "…"


def _local(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).astimezone()


def _provider(name: str) -> str:
    return display_name(name)


def histogram(values: Sequence[float], bins: int) -> tuple[list[float], list[int]]:
    """Bin centres and counts over [min, max] in `bins` equal bins (one bin when every
    value is the same)."""
    if not values:
        return [], []
    lo, hi = min(values), max(values)
    if hi <= lo:
        return [lo], [len(values)]
    bins = max(1, bins)
    step = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / step))] += 1
    return [lo + (i + 0.5) * step for i in range(bins)], counts


# -- chart specs ------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceHistogram:
    label: str
    values: tuple[float, ...]  # what is drawn (outliers above `cutoff` left out)
    total: int
    cutoff: float | None = None

    def draw(self, width: int, height: int) -> Figure:
        bins = max(4, min(24, (width - 8) // 3))
        _, counts = histogram(self.values, bins)
        title = f"{self.label} $/GPU·h n={self.total:,}"
        if self.cutoff is not None:
            title += f" ({self.total - len(self.values)} >{fmt.price(self.cutoff)})"
        lo, hi = min(self.values), max(self.values)
        # the bins span lo..hi across the canvas: a tick's place is its share of that
        if hi > lo:
            x_ticks = [(0.0, fmt.price(lo)), (1.0, fmt.price(hi))]
            if width >= 50:
                x_ticks.insert(1, (0.5, fmt.price((lo + hi) / 2)))
        else:
            x_ticks = [(0.5, fmt.price(lo))]
        top = max(counts)
        return column_chart(
            width,
            height,
            title=_short(title, width - 2),
            counts=counts,
            x_ticks=x_ticks,
            y_ticks=[(0, "0"), (top, f"{top:,}")],
        )


@dataclass(frozen=True)
class ProviderBars:
    counts: tuple[tuple[str, int], ...]  # (provider, offers), most offers first

    def draw(self, width: int, height: int) -> Figure:
        # the counts are in the labels; an axis would only add noise
        return bar_chart(
            width,
            height,
            title=_short("offers per provider", width - 2),
            bars=[(f"{_provider(p)} {n:,}", n) for p, n in self.counts],
        )


@dataclass(frozen=True)
class HistoryLines:
    model: str
    # per provider: (epoch seconds, value) in time order
    lines: tuple[tuple[str, tuple[tuple[float, float], ...]], ...]
    title: str = "min $/GPU·h over time"
    money: bool = True  # y values are prices (else counts)

    def draw(self, width: int, height: int) -> Figure:
        xs_all = [t for _, pts in self.lines for t, _ in pts]
        ys_all = [y for _, pts in self.lines for _, y in pts]
        lo, hi = min(ys_all), max(ys_all)
        pad = (hi - lo) * 0.1 or max(lo * 0.05, 0.01)
        legend = len(self.lines) > 1
        rows = height - _PLOT_CHROME_ROWS
        top = hi + pad
        if legend:
            # the legend sits over the top-left of the canvas: raise the y-range so
            # the lines stay below it, or drop the legend if no room is left
            free = rows - len(self.lines)
            if free >= 2:
                top = lo - pad + (hi + pad - (lo - pad)) * rows / free
            else:
                legend = False
        y_ticks = [lo, hi] if hi > lo else [lo]
        show = fmt.price if self.money else (lambda y: fmt.number(y, 1).removesuffix(".0"))
        first, last = min(xs_all), max(xs_all)  # at least two times: see _load_history
        span = last - first
        if span < 86_400:
            form = "%H:%M"
        elif width >= 60:
            form = "%m-%d %H:%M"
        else:
            form = "%m-%d"
        title = self.title
        if not legend and len(self.lines) == 1:
            title += f" · {_provider(self.lines[0][0])}"
        return line_chart(
            width,
            height,
            title=_short(title, width - 2),
            lines=[pts for _, pts in self.lines],
            x_range=(first, last),
            y_range=(lo - pad, top),
            x_ticks=[(t, _local(t).strftime(form)) for t in (first, last)],
            y_ticks=[(y, show(y)) for y in y_ticks],
            legend=[_provider(p) for p, _ in self.lines] if legend else (),
        )


ChartSpec = PriceHistogram | ProviderBars | HistoryLines

# series colours in plotting order: the ANSI colours plotext gave them, so the charts
# keep their look and follow the terminal's palette
SERIES_COLOURS = (
    "bright_blue",
    "bright_green",
    "bright_red",
    "bright_cyan",
    "bright_magenta",
    "yellow",
    "bright_black",
    "blue",
    "green",
    "red",
    "cyan",
    "magenta",
)
_SERIES_STYLES = tuple(Style(color=c) for c in SERIES_COLOURS)


def figure_strips(fig: Figure, width: int, base: Style) -> list[Strip]:
    """A drawn figure as one strip per row, `width` cells each: the rest in `base` (the
    widget's colours), each series in its colour over it."""
    styles = [base + s for s in _SERIES_STYLES]
    return [
        Strip(
            [
                Segment(run, base if series is None else styles[series % len(styles)])
                for run, series in row
            ]
        ).adjust_cell_length(width, base)
        for row in fig
    ]


class ChartPlot(Widget):
    """A chart that draws its spec for its current size: the lines of the drawn figure
    go straight to the screen as strips (rich text's wrapping and measuring took ~5x
    as long as drawing the chart, bench stats_screen_10m_history_points)."""

    DEFAULT_CSS = """
    ChartPlot {
        width: 1fr;
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec: ChartSpec | None = None
        # render_line() runs for every line of every refresh of the widget: keep the
        # strips drawn for the spec, size and colours on screen
        self._drawn: tuple[object, list[Strip]] | None = None

    def set_spec(self, spec: ChartSpec) -> bool:
        """Show `spec`; False (and no redraw) when it is what is already shown."""
        if spec == self.spec:
            return False
        self.spec = spec
        self.refresh()
        return True

    def figure(self) -> Figure:
        """The spec drawn at the widget's size (empty before it has both)."""
        width, height = self.size
        if self.spec is None or width <= 0 or height <= 0:
            return []
        return self.spec.draw(width, height)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        key = (self.spec, self.size, base)
        if self._drawn is None or self._drawn[0] != key:
            self._drawn = (key, figure_strips(self.figure(), width, base))
        strips = self._drawn[1]
        return strips[y] if 0 <= y < len(strips) else Strip.blank(width, base)


class ChartPane(Vertical):
    """One chart, or a line of text in its place when there is nothing to plot."""

    DEFAULT_CSS = """
    ChartPane {
        width: 1fr;
        height: 1fr;
        & > Static {
            display: none;
            height: 1fr;
            padding: 1 1;
            color: $text-muted;
        }
        &.-hint > Static { display: block; }
        &.-hint > ChartPlot { display: none; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.plot = ChartPlot()
        self.hint = Static("", markup=False)
        self.hint_text: str | None = None

    def compose(self) -> ComposeResult:
        yield self.plot
        yield self.hint

    def show_spec(self, spec: ChartSpec) -> bool:
        self.hint_text = None
        self.remove_class("-hint")
        return self.plot.set_spec(spec)

    def show_hint(self, text: str) -> None:
        self.hint_text = text
        self.hint.update(text)
        self.add_class("-hint")


@dataclass
class _Requested:
    """The inputs each chart was last fetched for (None = never)."""

    prices: tuple[str | None, SearchQuery] | None = None
    providers: SearchQuery | None = None
    history: tuple[str | None] | None = None


def chart_query(query: SearchQuery) -> SearchQuery:
    """The part of a search the charts depend on: sort order and paging are not."""
    return query.model_copy(
        update={"limit": None, "offset": 0, "sort_by": "price", "sort_order": "asc"}
    )


@dataclass(frozen=True)
class ChartReaders:
    """What the charts read, passed in by the screen (the widget never holds a store):
    GPU-hour prices and offers per provider for a search, a model's price history."""

    gpu_prices: Callable[[SearchQuery], Awaitable[list[float]]]
    provider_counts: Callable[[SearchQuery], Awaitable[dict[str, int]]]
    history: Callable[[list[str]], Awaitable[Sequence[HistoryPoint]]]


class MarketCharts(InView, Widget):
    """Price distribution, offers per provider and price history for the main screen.

    Call `show(model, query)` when the highlighted offer or the search changes (cheap
    when neither did) and `refresh_data()` when a provider refresh has landed.
    """

    DEFAULT_CSS = """
    MarketCharts {
        width: 1fr;
        height: 1fr;
        layout: vertical;
        & > Tabs {
            display: none;
            height: 1;
            & Underline { display: none; }
            & Tab.-active { color: $accent; text-style: bold underline; }
        }
        & > #charts { height: 1fr; }
        & ChartPane { margin: 0 0 0 1; }
        &.-narrow {
            & > Tabs { display: block; }
            & ChartPane { display: none; margin: 0; }
            & ChartPane.-active { display: block; }
        }
    }
    """

    def __init__(self, readers: ChartReaders, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._read = readers
        self._model: str | None = None
        self._query = SearchQuery()
        self._requested = _Requested()
        self._shown_once = False
        self.panes: dict[ChartName, ChartPane] = {
            name: ChartPane(id=f"chart-{name}") for name in CHARTS
        }
        self.active_chart: ChartName = "prices"
        self.panes["prices"].add_class("-active")
        # What was plotted last, for tests and for skipping redraws.
        self.price_series: list[float] | None = None
        self.provider_series: dict[str, int] | None = None
        self.history_series: dict[str, list[tuple[datetime, float]]] | None = None

    def compose(self) -> ComposeResult:
        yield Tabs(*(Tab(_TAB_LABELS[name], id=name) for name in CHARTS), active="prices")
        with Horizontal(id="charts"):
            yield from self.panes.values()

    def on_mount(self) -> None:
        if self._shown_once:
            self._fetch_changed(force=True)

    def on_resize(self, event: events.Resize) -> None:
        was = self.narrow
        self.set_class(event.size.width < MIN_CHART_WIDTH * len(CHARTS), "-narrow")
        if was and not self.narrow:  # the charts behind the tabs come into view
            self._fetch_changed(force=False, delay=0.0)

    def came_into_view(self) -> None:
        self._fetch_changed(force=False, delay=0.0)

    def in_view(self, name: ChartName) -> bool:
        """Whether chart `name` is on screen: the pane is shown, and in the
        one-at-a-time layout, it is the front tab."""
        return self.laid_out and (not self.narrow or name == self.active_chart)

    @property
    def narrow(self) -> bool:
        """True when one chart is shown at a time."""
        return self.has_class("-narrow")

    # -- which chart --------------------------------------------------------------------

    def show_chart(self, name: ChartName) -> None:
        """Bring `name` to the front (in the one-at-a-time layout)."""
        self.active_chart = name
        for chart, pane in self.panes.items():
            pane.set_class(chart == name, "-active")
        if self.is_mounted:
            tabs = self.query_one(Tabs)
            if tabs.active != name:
                tabs.active = name
            if self._shown_once:
                self._fetch_changed(force=False, delay=0.0)  # if it is stale

    def next_chart(self) -> None:
        """Cycle to the next chart: for a key binding on the screen."""
        self.show_chart(CHARTS[(CHARTS.index(self.active_chart) + 1) % len(CHARTS)])

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        event.stop()
        for name in CHARTS:
            if name == event.tab.id and name != self.active_chart:
                self.show_chart(name)

    # -- data ---------------------------------------------------------------------------

    def show(self, gpu_model: str | None, query: SearchQuery) -> None:
        self._model = gpu_model
        self._query = chart_query(query)
        self._shown_once = True
        if self.is_mounted:
            self._fetch_changed(force=False)

    def refresh_data(self) -> None:
        """Fetch every chart again (the store changed)."""
        if self._shown_once and self.is_mounted:
            self._fetch_changed(force=True)

    def _fetch_changed(self, *, force: bool, delay: float | None = None) -> None:
        """Fetch each chart in view whose inputs changed (with `force`: every chart's
        data is stale). A chart out of view keeps what it was last fetched for, and
        is fetched when it comes into view."""
        if not self._shown_once:
            return
        if force:
            self._requested = _Requested()
        if delay is None:
            delay = 0.0 if force else DEBOUNCE_SECONDS
        prices_key = (self._model, self._query)
        if self._requested.prices != prices_key and self.in_view("prices"):
            self._requested.prices = prices_key
            self._load_prices(self._model, self._query, delay)
        if self._requested.providers != self._query and self.in_view("providers"):
            self._requested.providers = self._query
            self._load_providers(self._query, delay)
        if self._requested.history != (self._model,) and self.in_view("history"):
            self._requested.history = (self._model,)
            self._load_history(self._model, delay)

    @work(exclusive=True, group="charts-prices", exit_on_error=False)
    async def _load_prices(self, model: str | None, query: SearchQuery, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        if model is not None:
            query = query.model_copy(update={"gpu_models": (model,)})
        pane = self.panes["prices"]
        try:
            prices = await self._read.gpu_prices(query)
        except Exception as exc:  # a broken store must not take the screen down
            pane.show_hint(f"Could not read prices: {exc}")
            self.price_series = None
            return
        self.price_series = prices
        if not prices:
            pane.show_hint(NO_MATCH)
            return
        values, cutoff = _trim_outliers(prices)
        label = _short(model, 18) if model is not None else "all"
        pane.show_spec(PriceHistogram(label, tuple(values), len(prices), cutoff))

    @work(exclusive=True, group="charts-providers", exit_on_error=False)
    async def _load_providers(self, query: SearchQuery, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        pane = self.panes["providers"]
        try:
            counts = await self._read.provider_counts(query)
        except Exception as exc:
            pane.show_hint(f"Could not read offers: {exc}")
            self.provider_series = None
            return
        self.provider_series = counts
        if not counts:
            pane.show_hint(NO_MATCH)
            return
        ordered = tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        pane.show_spec(ProviderBars(ordered))

    @work(exclusive=True, group="charts-history", exit_on_error=False)
    async def _load_history(self, model: str | None, delay: float) -> None:
        pane = self.panes["history"]
        if model is None:
            self.history_series = None
            pane.show_hint(NO_MODEL_HISTORY)
            return
        if delay:
            await asyncio.sleep(delay)
        try:
            points = await self._read.history([model])
        except Exception as exc:
            pane.show_hint(f"Could not read history: {exc}")
            self.history_series = None
            return
        series = history_series(points)
        self.history_series = series
        times = {t for pts in series.values() for t, _ in pts}
        if len(times) < 2:
            pane.show_hint(f"{model}: {HISTORY_HINT}")
            return
        lines = tuple(
            (provider, tuple((t.timestamp(), y) for t, y in pts))
            for provider, pts in sorted(series.items())
        )
        pane.show_spec(HistoryLines(model, lines))


def history_series(points: Sequence[HistoryPoint]) -> dict[str, list[tuple[datetime, float]]]:
    """Min price per GPU-hour over time, per provider (points with no available offer,
    hence no price, are left out)."""
    return series_by_provider(points, "min_gpu_price")


def _trim_outliers(prices: Sequence[float]) -> tuple[list[float], float | None]:
    """A few absurd listings would squash every other bar into one: with enough offers,
    leave out what lies far above the 95th percentile (the title says how many)."""
    ordered = sorted(prices)
    if len(ordered) < 20:
        return ordered, None
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    if ordered[-1] <= 2 * p95:
        return ordered, None
    return [v for v in ordered if v <= p95], p95
