"""The model detail pane: the highlighted offer's GPU from the catalog, and who offers
it now at what prices.

The pane is laid out for its current width (one to three columns of facts; the price
table drops its widest column first), so it reads at 40 columns as well as at 120.
Everything here that came from a provider (the GPU name above all) is drawn as plain
text, never parsed as markup.

While the pane is out of view (the main screen's `d` hid it) it reads nothing: it keeps
the model it was asked for and reads its prices once when it comes into view
(in_view.py, as the market charts beside it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from rich.text import Text
from textual import work
from textual.app import ComposeResult, RenderResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.widget import Widget
from textual.worker import Worker

from gpucm import formatting as fmt
from gpucm.domain.catalog import Catalog
from gpucm.domain.models import GpuModel
from gpucm.domain.provider_names import display_name
from gpucm.tui.widgets.in_view import InView

__all__ = [
    "DEBOUNCE_SECONDS",
    "HINT",
    "DetailView",
    "ModelDetail",
    "PriceReader",
    "ProviderPrices",
    "detail_lines",
    "spec_facts",
]

# Long enough that holding a cursor key down fetches only where the cursor stops.
DEBOUNCE_SECONDS = 0.1
HINT = "Highlight an offer to see its GPU."

_VENDORS = {"nvidia": "NVIDIA", "amd": "AMD", "intel": "Intel"}

# A line is a run of (text, style) pieces; the style is a component-class suffix of
# DetailBody ("" = plain), resolved to a theme colour only when drawn.
Piece = tuple[str, str]
Line = list[Piece]


class ProviderPrices(Protocol):
    """One provider's available offers of a model, as the store sums them up."""

    @property
    def provider(self) -> str: ...
    @property
    def offers(self) -> int: ...
    @property
    def min_price(self) -> float: ...
    @property
    def max_price(self) -> float: ...
    @property
    def min_gpu_price(self) -> float: ...
    @property
    def avg_gpu_price(self) -> float: ...
    @property
    def max_gpu_price(self) -> float: ...


# the model's prices per provider (the screen passes the store's reader in)
PriceReader = Callable[[str], Awaitable[Sequence[ProviderPrices]]]


@dataclass(frozen=True)
class DetailView:
    """What the pane shows. `prices` None means still loading."""

    model: str | None
    info: GpuModel | None = None
    prices: tuple[ProviderPrices, ...] | None = None
    error: str | None = None


def _num(value: float, unit: str) -> str:
    digits = 0 if float(value).is_integer() else 1
    return f"{fmt.number(value, digits)} {unit}"


def spec_facts(info: GpuModel, *, short: bool = False) -> list[tuple[str, str]]:
    """The catalog facts worth showing, most useful first (narrow panes show the top
    ones without scrolling); `short` labels and units fit two columns into 40 cells."""
    tflops = "TF" if short else "TFLOPS"
    facts: list[tuple[str, str]] = [
        ("Mem" if short else "Memory", _num(info.memory_gb, "GB")),
        ("Perf", f"{info.performance_score} /150"),
        ("Arch", info.architecture),
    ]
    if info.fp16_tflops is not None:
        facts.append(("FP16" if short else "FP16/BF16", _num(info.fp16_tflops, tflops)))
    if info.fp32_tflops is not None:
        facts.append(("FP32", _num(info.fp32_tflops, tflops)))
    if info.memory_bandwidth_gbps is not None:
        facts.append(("BW" if short else "Mem BW", _num(info.memory_bandwidth_gbps, "GB/s")))
    if info.tdp_watts is not None:
        facts.append(("TDP", f"{info.tdp_watts} W"))
    if info.form_factor:
        facts.append(("Form", info.form_factor))
    if info.compute_capability is not None:
        facts.append(("CC" if short else "Compute", f"{info.compute_capability:.1f}"))
    return facts


def _fit(text: str, width: int, align: str = "<") -> str:
    if width <= 0:
        return ""
    if len(text) > width:
        return text[: width - 1] + "…"
    return text.rjust(width) if align == ">" else text.ljust(width)


def _title_lines(view: DetailView, info: GpuModel | None, width: int) -> list[Line]:
    name = view.model or ""
    if info is None or info.is_unknown:
        return [
            [(_fit(name, width).rstrip(), "title")],
            [(_fit("Not in the GPU catalog: no specs known.", width).rstrip(), "warning")],
        ]
    meta = f"{info.category} · {_VENDORS.get(info.vendor, info.vendor)}"
    if len(name) + 2 + len(meta) <= width:
        return [[(name, "title"), ("  ", ""), (meta, "muted")]]
    return [[(_fit(name, width).rstrip(), "title")], [(_fit(meta, width).rstrip(), "muted")]]


def _fact_lines(info: GpuModel, width: int) -> list[Line]:
    gap = 3
    for short in (False, True):
        facts = spec_facts(info, short=short)
        label_w = max(len(label) for label, _ in facts) + 1
        value_w = max(len(value) for _, value in facts)
        columns = max(1, min(3, (width + gap) // (label_w + value_w + gap)))
        if columns > 1:
            break
    rows = -(-len(facts) // columns)
    lines: list[Line] = []
    # column-major, so each column reads top to bottom in importance order
    for r in range(rows):
        line: Line = []
        for c in range(columns):
            i = c * rows + r
            if i >= len(facts):
                break
            label, value = facts[i]
            if line:
                line.append((" " * gap, ""))
            line.append((label.ljust(label_w), "label"))
            line.append((value.ljust(value_w) if c < columns - 1 else value, ""))
        lines.append(_clip(line, width))
    return lines


def _clip(line: Line, width: int) -> Line:
    """Cut a line to `width` cells (the last piece gets an ellipsis)."""
    out: Line = []
    used = 0
    for text, style in line:
        room = width - used
        if room <= 0:
            break
        if len(text) > room:
            out.append((_fit(text, room), style))
            break
        out.append((text, style))
        used += len(text)
    return out


@dataclass(frozen=True)
class _Column:
    header: str
    align: str
    drop_order: int  # dropped highest first when the pane is narrow; 0 never
    cells: tuple[str, ...]

    @property
    def width(self) -> int:
        return max(len(self.header), *(len(c) for c in self.cells))


def _price_range(low: float, high: float) -> str:
    if fmt.price(low) == fmt.price(high):
        return fmt.price(low)
    return f"{fmt.price(low)}–{fmt.price(high)}"


def _price_lines(prices: Sequence[ProviderPrices], width: int) -> list[Line]:
    if not prices:
        return [[(_fit("No provider lists it as available right now.", width).rstrip(), "muted")]]
    columns = [
        _Column("PROVIDER", "<", 0, tuple(display_name(p.provider) for p in prices)),
        _Column("N", ">", 4, tuple(f"{p.offers:,}" for p in prices)),
        _Column("MIN", ">", 0, tuple(fmt.price(p.min_gpu_price) for p in prices)),
        _Column("AVG", ">", 2, tuple(fmt.price(p.avg_gpu_price) for p in prices)),
        _Column("MAX", ">", 3, tuple(fmt.price(p.max_gpu_price) for p in prices)),
        _Column("OFFER $/H", ">", 5, tuple(_price_range(p.min_price, p.max_price) for p in prices)),
    ]

    def need(cols: list[_Column]) -> int:
        return sum(c.width for c in cols) + 2 * (len(cols) - 1)

    while need(columns) > width and any(c.drop_order for c in columns):
        columns.remove(max(columns, key=lambda c: c.drop_order))
    # Still too wide: the provider column gives up what is missing.
    widths = [c.width for c in columns]
    widths[0] = max(4, widths[0] - max(0, need(columns) - width))

    def row(cells: list[str], style: str) -> Line:
        parts = [
            _fit(text, w, col.align) for text, w, col in zip(cells, widths, columns, strict=True)
        ]
        return _clip([("  ".join(parts).rstrip(), style)], width)

    caption = "Available now · per GPU-hour"
    lines: list[Line] = [
        [(_fit(caption, width).rstrip(), "muted")],
        row([c.header for c in columns], "header"),
    ]
    for i in range(len(prices)):
        lines.append(row([c.cells[i] for c in columns], ""))
    return lines


def detail_lines(view: DetailView, catalog_info: GpuModel | None, width: int) -> list[Line]:
    """The pane's lines for `width` cells (pure: the widget only adds colours)."""
    width = max(width, 10)
    if view.model is None:
        return [[(_fit(HINT, width).rstrip(), "muted")]]
    info = catalog_info
    lines = _title_lines(view, info, width)
    if info is not None and not info.is_unknown:
        lines.extend(_fact_lines(info, width))
    lines.append([])
    if view.error is not None:
        lines.append([(_fit(f"Could not read prices: {view.error}", width).rstrip(), "warning")])
    elif view.prices is None:
        lines.append([("Loading prices…", "muted")])
    else:
        lines.extend(_price_lines(view.prices, width))
    return lines


class DetailBody(Widget):
    """Draws a DetailView at whatever width it is given; height follows the content."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "detail--title",
        "detail--muted",
        "detail--label",
        "detail--header",
        "detail--warning",
    }

    DEFAULT_CSS = """
    DetailBody {
        height: auto;
        & > .detail--title { color: $accent; text-style: bold; }
        & > .detail--muted { color: $text-muted; }
        & > .detail--label { color: $text-muted; }
        & > .detail--header { color: $text-muted; text-style: bold; }
        & > .detail--warning { color: $warning; }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.view = DetailView(None)

    def set_view(self, view: DetailView) -> None:
        self.view = view
        self.refresh(layout=True)

    def lines(self, width: int) -> list[Line]:
        return detail_lines(self.view, self.view.info, width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines(width))

    def render(self) -> RenderResult:
        text = Text(no_wrap=True, overflow="crop", end="")
        styles = {
            name: self.get_component_rich_style(f"detail--{name}")
            for name in ("title", "muted", "label", "header", "warning")
        }
        for i, line in enumerate(self.lines(self.content_size.width)):
            if i:
                text.append("\n")
            for piece, style in line:
                text.append(piece, styles[style] if style else None)
        return text


# what the pane showed or is reading when it must read again (a refresh landed, or a
# read was dropped as the pane hid)
_STALE = object()


class ModelDetail(InView, VerticalScroll):
    """The highlighted offer's GPU: catalog facts and the providers' current prices.

    Call `show(model)` whenever the highlighted offer changes (cheap when the model is
    the same) and `refresh_data()` when a provider refresh has landed; out of view,
    both only note what to read when the pane comes into view.
    """

    DEFAULT_CSS = """
    ModelDetail {
        height: 1fr;
        padding: 0 1;
        scrollbar-size-vertical: 1;
        &:focus { background: $boost; }
    }
    """
    # reached with tab: the table's keys scroll it, and the focus shows
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,j", "scroll_down", "Scroll down", show=False, id="cursor.down"),
        Binding("up,k", "scroll_up", "Scroll up", show=False, id="cursor.up"),
    ]

    def __init__(
        self, prices: PriceReader, catalog: Callable[[], Catalog], *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self._prices = prices
        self._catalog = catalog
        self._body = DetailBody()
        self._model: str | None = None
        # the model on screen or being read for it (None: the hint), else _STALE
        self._read_for: str | object | None = None
        self._reading: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield self._body

    @property
    def model(self) -> str | None:
        """The model asked for last (its data may still be loading)."""
        return self._model

    @property
    def view(self) -> DetailView:
        """What is on screen now."""
        return self._body.view

    @property
    def plain_text(self) -> str:
        """The pane's text at its current width, without colours."""
        width = self._body.content_size.width or self.size.width or 60
        return "\n".join("".join(t for t, _ in line) for line in self._body.lines(width))

    @property
    def settled(self) -> bool:
        """Out of view (it reads nothing then), or showing the model it was asked for.
        On screen counts before its Show is handled: drawn, not yet told, it shows the
        hint where its model will be (a screenshot taken then had the hint)."""
        in_view = self.laid_out or self.is_on_screen
        return not in_view or self._body.view.model == self._model

    def show(self, gpu_model: str | None) -> None:
        if gpu_model == self._model:
            return
        self._model = gpu_model
        if self.laid_out:
            self._follow(DEBOUNCE_SECONDS)

    def refresh_data(self) -> None:
        """Fetch the current model's prices again (the store changed)."""
        self._read_for = _STALE
        if self.laid_out:
            self._follow(0.0)

    def came_into_view(self) -> None:
        if self._read_for != self._model:
            self._follow(0.0)

    def went_out_of_view(self) -> None:
        reading = self._reading
        if reading is not None and not reading.is_finished:
            reading.cancel()
            self._read_for = _STALE

    def _follow(self, delay: float) -> None:
        """Show the model asked for last: its prices read after `delay`."""
        model = self._read_for = self._model
        if model is None:
            self.workers.cancel_group(self, "model-detail")
            self._reading = None
            self._body.set_view(DetailView(None))
        else:
            self._reading = self._fetch(model, delay)

    @work(exclusive=True, group="model-detail", exit_on_error=False)
    async def _fetch(self, gpu_model: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        info = self._catalog().get(gpu_model) or GpuModel.unknown(gpu_model)
        try:
            prices = await self._prices(gpu_model)
        except Exception as exc:  # a broken store must not take the screen down
            view = DetailView(gpu_model, info, (), error=str(exc) or type(exc).__name__)
        else:
            view = DetailView(gpu_model, info, tuple(prices))
        if gpu_model != self._model:
            return
        new_model = self._body.view.model != gpu_model
        self._body.set_view(view)
        if new_model:
            self.scroll_home(animate=False)
