"""The offer table: a line-API virtual table over store queries.

Only the rows on screen exist in memory: rows are fetched from the store a page at a
time as they scroll into view, so 100,000 offers cost what 30 do (Textual's DataTable
measured 14 s to first paint at 100k rows: research/probe-report.md 4.2). The store
filters and sorts; this widget draws, keeps the cursor on the same offer across
refreshes, and marks price moves, new offers and stale data.

Provider text is drawn as plain segments, never parsed as markup, so a `[/]` in a GPU
name is just text.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from gpucm import formatting as fmt
from gpucm.domain.provider_names import display_name

if TYPE_CHECKING:
    # types only: the table is on gpucm-tui's first screen, which must not wait for
    # pydantic to import (see tui/boot.py)
    from gpucm.domain.models import SearchQuery, SortBy

# Columns fetched from the store for each row (OfferRow's fields, in order).
ROW_COLUMNS: tuple[str, ...] = (
    "id",
    "provider",
    "gpu_model",
    "gpu_count",
    "price_per_hour",
    "price_per_gpu_hour",
    "performance",
    "value",
    "gpu_memory_gb",
    "ram_gb",
    "storage_gb",
    "region",
    "reliability",
    "download_mbps",
    "upload_mbps",
    "previous_price_per_hour",
    "is_new",
    "stale",
    "available",
)


@dataclass(frozen=True, slots=True)
class OfferRow:
    id: str
    provider: str
    gpu_model: str
    gpu_count: int
    price_per_hour: float
    price_per_gpu_hour: float
    performance: int | None
    value: float | None
    gpu_memory_gb: float | None
    ram_gb: float | None
    storage_gb: float | None
    region: str
    reliability: float | None
    download_mbps: float | None
    upload_mbps: float | None
    previous_price_per_hour: float | None
    is_new: int
    stale: int
    available: int

    @classmethod
    def from_tuple(cls, values: Sequence[Any]) -> OfferRow:
        return cls(*values)

    @property
    def price_move(self) -> Literal["up", "down"] | None:
        prev = self.previous_price_per_hour
        if prev is None or prev == self.price_per_hour:
            return None
        return "up" if self.price_per_hour > prev else "down"


# `None` is the default view (available offers, cheapest first)
RowFetcher = Callable[["SearchQuery | None", int, int], Awaitable[list[OfferRow]]]
RowCounter = Callable[["SearchQuery | None"], Awaitable[int]]


@dataclass(frozen=True)
class TableColumn:
    key: str
    label: str
    width: int
    align: Literal["<", ">"]
    drop_order: int  # narrow screens drop high numbers first; 0 never drops
    sort_key: SortBy | None = None


def _net(row: OfferRow) -> str:
    if row.download_mbps is None and row.upload_mbps is None:
        return "-"
    return f"{fmt.speed(row.download_mbps)}/{fmt.speed(row.upload_mbps)}"


# A sortable column is at least one cell wider than its label, for the sort arrow.
# PROVIDER, GPU, N and $/H never drop; REGION, REL and network go first.
COLUMNS: tuple[TableColumn, ...] = (
    TableColumn("provider", "PROVIDER", 12, "<", 0),
    TableColumn("gpu_model", "GPU", 16, "<", 0),
    TableColumn("gpu_count", "N", 2, ">", 0, "gpu_count"),
    TableColumn("price_per_hour", "$/H", 9, ">", 0, "price"),
    TableColumn("price_per_gpu_hour", "$/GPU·H", 8, ">", 6, "price_per_gpu"),
    TableColumn("performance", "PERF", 5, ">", 4, "performance"),
    TableColumn("value", "VALUE", 6, ">", 7, "value"),
    TableColumn("gpu_memory_gb", "VRAM", 5, ">", 5, "vram"),
    TableColumn("ram_gb", "RAM", 5, ">", 8, "ram"),
    TableColumn("storage_gb", "DISK", 5, ">", 9, "storage"),
    TableColumn("region", "REGION", 16, "<", 11),
    TableColumn("reliability", "REL", 6, ">", 10, "reliability"),
    TableColumn("network", "NET ↓/↑", 11, ">", 12),
)
GUTTER = 2  # mark and new-offer flags before the first column
NO_MATCH = "  No offers match. Loosen a filter, or show unavailable ones too (all)."
EMPTY_LINES = 4  # an empty table's message, wrapped: what names a 5,000-character term
# is cut on its last line, not drawn down the whole table


def empty_lines(text: str, width: int) -> list[str]:
    """An empty table's message wrapped to `width` under its indent (it names the
    unknown region or GPU, and the region groups: a line longer than the table was
    cut at its edge), at most EMPTY_LINES of them."""
    if len(text) < width:  # "Loading…" on the first screen: no textwrap to import
        return [text]
    import textwrap

    indent = text[: len(text) - len(text.lstrip())]
    lines = textwrap.wrap(
        text.strip(),
        max(width - len(indent) - 1, 10),
        initial_indent=indent,
        subsequent_indent=indent,
        break_on_hyphens=False,
    )
    if len(lines) > EMPTY_LINES:
        lines = lines[:EMPTY_LINES]
        lines[-1] = lines[-1][: max(width - 2, 1)].rstrip() + "…"
    return lines


def cell_text(column: str, row: OfferRow) -> str:
    if column == "provider":
        return display_name(row.provider)
    if column == "gpu_model":
        return row.gpu_model
    if column == "gpu_count":
        return str(row.gpu_count)
    if column == "price_per_hour":
        arrow = {"up": "▲", "down": "▼", None: " "}[row.price_move]
        return f"{fmt.price(row.price_per_hour)}{arrow}"
    if column == "price_per_gpu_hour":
        return fmt.price(row.price_per_gpu_hour)
    if column == "performance":
        return "-" if row.performance is None else str(row.performance)
    if column == "value":
        return fmt.value_per_point(row.value)
    if column == "gpu_memory_gb":
        return fmt.gigabytes(row.gpu_memory_gb)
    if column == "ram_gb":
        return fmt.gigabytes(row.ram_gb)
    if column == "storage_gb":
        return fmt.gigabytes(row.storage_gb)
    if column == "region":
        return row.region or "-"
    if column == "reliability":
        return fmt.percent(row.reliability)
    if column == "network":
        return _net(row)
    raise KeyError(column)


def _runs(pieces: Sequence[tuple[str, Style]]) -> list[Segment]:
    """One segment per run of pieces in one style: a row is 1-5 segments, not ~28. The
    compositor cuts, filters and writes every segment of every line of a frame, so the
    segments were most of the cost of drawing the table (bench tui)."""
    segments: list[Segment] = []
    texts: list[str] = []
    current: Style | None = None
    for text, style in pieces:
        if style is not current and texts:
            segments.append(Segment("".join(texts), current))
            texts = []
        texts.append(text)
        current = style
    if texts:
        segments.append(Segment("".join(texts), current))
    return segments


def fit(text: str, width: int, align: str) -> str:
    if len(text) > width:
        return text[: max(0, width - 1)] + "…"
    return text.rjust(width) if align == ">" else text.ljust(width)


def layout_columns(width: int, sort_key: str | None = None) -> list[TableColumn]:
    """The columns that fit `width`, dropping the least useful first (the column the
    table is sorted by stays, so the sort always shows); REGION and GPU then share
    what is left."""
    chosen = list(COLUMNS)

    def need(cols: list[TableColumn]) -> int:
        return GUTTER + sum(c.width + 1 for c in cols)

    def droppable(c: TableColumn) -> bool:
        return bool(c.drop_order) and (sort_key is None or c.sort_key != sort_key)

    while need(chosen) > width and any(droppable(c) for c in chosen):
        worst = max((c for c in chosen if droppable(c)), key=lambda c: c.drop_order)
        chosen.remove(worst)
    spare = width - need(chosen)
    for key, most in (("region", 12), ("gpu_model", 6)):
        for i, col in enumerate(chosen):
            if col.key == key and spare > 0:
                extra = min(most, spare)
                chosen[i] = replace(col, width=col.width + extra)
                spare -= extra
    if spare < 0:
        # narrower than the pinned columns: GPU and PROVIDER give up what is missing
        for key, least in (("gpu_model", 8), ("provider", 7)):
            for i, col in enumerate(chosen):
                if col.key == key and spare < 0:
                    cut = min(col.width - least, -spare)
                    chosen[i] = replace(col, width=col.width - cut)
                    spare += cut
    return chosen


class OfferTable(ScrollView, can_focus=True):
    """Offers matching `query`, fetched a page at a time as they come into view."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "offer-table--header",
        "offer-table--sorted",
        "offer-table--cursor",
        "offer-table--cursor-blurred",
        "offer-table--marked",
        "offer-table--up",
        "offer-table--down",
        "offer-table--new",
        "offer-table--stale",
        "offer-table--unavailable",
        "offer-table--loading",
    }

    DEFAULT_CSS = """
    OfferTable {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-gutter: stable;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="cursor.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="cursor.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="cursor.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="cursor.page_down"),
        Binding("home,g", "top", "Top", show=False, id="cursor.top"),
        Binding("end,G", "bottom", "Bottom", show=False, id="cursor.bottom"),
        Binding("space", "toggle_mark", "Mark", id="table.mark"),
        Binding("enter", "select", "Detail", id="table.detail"),
    ]

    class Highlighted(Message):
        def __init__(self, row: OfferRow | None) -> None:
            super().__init__()
            self.row = row

    class Selected(Message):
        def __init__(self, row: OfferRow) -> None:
            super().__init__()
            self.row = row

    class MarksChanged(Message):
        def __init__(self, marked: frozenset[str]) -> None:
            super().__init__()
            self.marked = marked

    class Loaded(Message):
        """The first page of a (re)load is on screen."""

        def __init__(self, rows: int, elapsed_ms: float) -> None:
            super().__init__()
            self.rows = rows
            self.elapsed_ms = elapsed_ms

    class Counted(Message):
        def __init__(self, total: int) -> None:
            super().__init__()
            self.total = total

    def __init__(
        self,
        fetch: RowFetcher,
        count: RowCounter,
        *,
        page_size: int = 100,
        max_pages: int = 40,
        empty_text: str = NO_MATCH,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._fetch = fetch
        self._count = count
        self.empty_text = empty_text
        self.page_size = page_size
        self._max_pages = max_pages
        self.search_query: SearchQuery | None = None
        self._pages: OrderedDict[int, list[OfferRow]] = OrderedDict()
        self._pending: set[int] = set()
        self._generation = 0
        self.loaded_generation = 0  # which (re)load's rows are on screen
        self._loaded_once = False
        self.cursor = 0
        self.total: int | None = None
        self._known_rows = 0
        # marked offers in the order they were marked, with the row as it was then: an
        # offer that vanishes in a refresh stays marked, and compare still names it
        self.marked: dict[str, OfferRow] = {}
        self._columns: list[TableColumn] = list(COLUMNS)
        self._was_empty = True
        self._styles: dict[str, Style] = {}
        # drawn rows, so a scroll redraws from here: (id, marked, cursor, width); a row
        # is redrawn when its data (the OfferRow object) changes. Both are emptied
        # together (_forget_strips): rows kept beside no strip made a walk down a
        # large market hold every row it passed
        self._strips: dict[tuple[str, bool, object, int], Strip] = {}
        self._strip_rows: dict[str, OfferRow] = {}
        self._laid_out: tuple[int, str] = (-1, "")
        self._highlighted_id: str | None = None
        self._load_started = 0.0

    # -- data -----------------------------------------------------------------------

    def set_query(self, query: SearchQuery | None) -> None:
        """Show the offers matching `query`, from the top."""
        self.search_query = query
        self._lay_out()
        self.cursor = 0
        self.scroll_to(y=0, animate=False)
        self._reload(keep_id=None)

    def reload(self) -> None:
        """The store changed (a refresh landed): fetch again, keeping the cursor on the
        same offer where it is still in view."""
        self._reload(keep_id=self._highlighted_id)

    @property
    def generation(self) -> int:
        """Bumped by every (re)load; `loaded_generation` catches up when it lands."""
        return self._generation

    def _reload(self, keep_id: str | None) -> None:
        self._generation += 1
        self._load_started = time.perf_counter()
        first_page = self.cursor // self.page_size
        self._load(self._generation, first_page, keep_id)

    @work(exclusive=True, group="offer-table-load", exit_on_error=False)
    async def _load(self, generation: int, page: int, keep_id: str | None) -> None:
        rows = await self._fetch(self.search_query, page * self.page_size, self.page_size)
        if generation != self._generation:
            return
        # swap in the new data only now, so the old rows stay up until the new arrive
        self._pages.clear()
        self._pending.clear()
        self._pages[page] = rows
        if len(rows) < self.page_size:
            self._set_total(page * self.page_size + len(rows))
        else:
            self.total = None
            self._known_rows = max(self._known_rows, (page + 1) * self.page_size + 1)
            # counted once these rows are painted: a count started now read the store
            # on its thread while the frame was drawn, and took the GIL from it
            self.call_after_refresh(self._count_rows, generation)
        if keep_id is not None:
            for i, row in enumerate(rows):
                if row.id == keep_id:
                    self.cursor = page * self.page_size + i
                    break
        self._clamp_cursor()
        self._update_virtual_size()
        self._repaint()
        self._announce_highlight()
        self._loaded_once = True
        self._empty_changed()
        self.loaded_generation = generation
        self.post_message(self.Loaded(len(rows), (time.perf_counter() - self._load_started) * 1000))
        self._paint_now()

    def _paint_now(self) -> None:
        """Draw the new rows at once. Textual paints on its screen's update timer, whose
        ticks keep to a 60 Hz grid and come at least a frame, often two, after the last:
        new rows waited 0-33 ms for their frame, on top of the read (bench tui: the
        p95 of a filter change to its rows drawn). This is the frame that timer would
        draw (Pilot.pause draws the same way); what else is dirty is drawn with it.

        Private API of Textual, which gpucm pins exactly (see tui/driver.py);
        tests/tui/test_offer_table_paint.py fails if these names change."""
        screen = self.screen
        if screen.is_current and self.display:
            screen._dirty_widgets.add(self)
            screen._on_timer_update()

    @work(exclusive=True, group="offer-table-count", exit_on_error=False)
    async def _count_rows(self, generation: int) -> None:
        total = await self._count(self.search_query)
        if generation == self._generation:
            self._set_total(total)
            self._clamp_cursor()
            self._update_virtual_size()
            self._repaint()

    def _set_total(self, total: int) -> None:
        self.total = total
        self._known_rows = total
        self._empty_changed()
        self.post_message(self.Counted(total))

    def _empty_changed(self) -> None:
        empty = self.row_count == 0
        if empty != self._was_empty:
            self._was_empty = empty
            self.refresh_bindings()  # mark and detail grey out on an empty table

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("toggle_mark", "select"):
            return True if self.row_count else None
        return True

    def disabled_reason(self, action: str, parameters: tuple[object, ...]) -> str | None:
        if action in ("toggle_mark", "select") and not self.row_count:
            return "No offer matches the search: loosen a filter, or add `all` to the query."
        return None

    def _row_at(self, index: int) -> OfferRow | None:
        page, offset = divmod(index, self.page_size)
        rows = self._pages.get(page)
        if rows is None:
            self._request_page(page)
            return None
        self._pages.move_to_end(page)
        return rows[offset] if offset < len(rows) else None

    def _request_page(self, page: int) -> None:
        if page in self._pending or page < 0:
            return
        self._pending.add(page)
        self.run_worker(
            self._fetch_page(page, self._generation),
            group="offer-table-pages",
            exit_on_error=False,
        )

    async def _fetch_page(self, page: int, generation: int) -> None:
        try:
            rows = await self._fetch(self.search_query, page * self.page_size, self.page_size)
        finally:
            self._pending.discard(page)
        if generation != self._generation:
            return
        self._pages[page] = rows
        while len(self._pages) > self._max_pages:
            self._pages.popitem(last=False)
        if self.total is None and len(rows) < self.page_size:
            self._set_total(page * self.page_size + len(rows))
            self._update_virtual_size()
        self._repaint()
        if page == self.cursor // self.page_size:
            self._announce_highlight()

    @property
    def row_count(self) -> int:
        """Rows known to exist (the exact total once counted)."""
        return self.total if self.total is not None else self._known_rows

    @property
    def highlighted(self) -> OfferRow | None:
        return self._row_at(self.cursor) if self.row_count else None

    def visible_rows(self) -> list[OfferRow]:
        """The rows currently loaded on screen (for tests and exports)."""
        top = int(self.scroll_offset.y)
        rows = []
        for i in range(top, min(self.row_count, top + self._body_height())):
            row = self._row_at(i)
            if row is not None:
                rows.append(row)
        return rows

    # -- geometry -------------------------------------------------------------------

    def _content_size(self) -> Size:
        """The content area's size, what `size` is, from the widget's own outer size.
        `size` and `scrollable_content_region` go through `region`, which looks the
        widget up in the screen's map of every widget; Textual rebuilds that map (about
        300 widgets, 5-10 ms on this machine) after any widget off screen changed, as
        the filter pane's do on every query, so a filter change paid it up front."""
        width, height = self.outer_size
        gutter = self.styles.gutter
        return Size(max(0, width - gutter.width), max(0, height - gutter.height))

    def _repaint(self) -> None:
        """`refresh()` of the whole table, its region given: without one, Textual reads
        `size` (see _content_size), 5-50 ms after the filter pane changed."""
        width, height = self._content_size()
        self.refresh(Region(0, 0, width, height))

    def _body_height(self) -> int:
        return max(1, self._content_size().height - 1)  # one line of header

    def _update_virtual_size(self) -> None:
        width = max(self._content_size().width, 1)
        self.virtual_size = Size(width, self.row_count + 1)

    def _lay_out(self) -> None:
        sort_key = self.search_query.sort_by if self.search_query else "price"
        width = self._content_size().width
        # what the scrollbar's gutter leaves
        self._columns = layout_columns(width - self.scrollbar_gutter.width, sort_key)
        self._laid_out = (width, sort_key)
        self._forget_strips()  # drawn for the old columns

    def on_resize(self, event: events.Resize) -> None:
        self._lay_out()
        self._update_virtual_size()
        self._scroll_cursor_into_view()

    # -- cursor and marks -------------------------------------------------------------

    def _clamp_cursor(self) -> None:
        self.cursor = max(0, min(self.cursor, max(0, self.row_count - 1)))

    def _scroll_cursor_into_view(self) -> None:
        top = int(self.scroll_offset.y)
        height = self._body_height()
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    def move_cursor(self, to: int) -> None:
        if not self.row_count:
            return
        before, top = self.cursor, int(self.scroll_offset.y)
        self.cursor = max(0, min(to, self.row_count - 1))
        self._scroll_cursor_into_view()
        if int(self.scroll_offset.y) == top:
            # only the two rows the cursor left and entered change: repainting the
            # whole table (and dropping its line cache) on every j was most of a key
            self._refresh_rows(before, self.cursor)
        else:
            self._repaint()
        self._announce_highlight()

    def _refresh_rows(self, *indexes: int) -> None:
        top = int(self.scroll_offset.y)
        width = self._content_size().width
        regions = [
            Region(0, i - top + 1, width, 1) for i in indexes if 0 <= i - top < self._body_height()
        ]
        if regions:
            self.refresh(*regions)

    def _announce_highlight(self) -> None:
        row = self.highlighted
        new_id = row.id if row else None
        if new_id != self._highlighted_id or row is None:
            self._highlighted_id = new_id
            self.post_message(self.Highlighted(row))

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor + direction * self._body_height())

    def action_top(self) -> None:
        self.move_cursor(0)

    def action_bottom(self) -> None:
        self.move_cursor(self.row_count - 1)

    def action_toggle_mark(self) -> None:
        row = self.highlighted
        if row is None:
            return
        if row.id in self.marked:
            del self.marked[row.id]
        else:
            self.marked[row.id] = row
        self._refresh_rows(self.cursor)
        self.post_message(self.MarksChanged(frozenset(self.marked)))

    def clear_marks(self) -> None:
        self.marked.clear()
        self._repaint()
        self.post_message(self.MarksChanged(frozenset()))

    def action_select(self) -> None:
        row = self.highlighted
        if row is not None:
            self.post_message(self.Selected(row))

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.move_cursor(int(self.scroll_offset.y) + event.y - 1)

    # -- drawing --------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        # resolved once per styling: a theme switch or a class change clears them
        # (notify_style_update); resolving them per line was a third of a repaint
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(f"offer-table--{name}")
        return style

    def _base(self) -> Style:
        base = self._styles.get("")
        if base is None:
            base = self._styles[""] = self.rich_style
        return base

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._forget_strips()

    def render_line(self, y: int) -> Strip:
        width = self._content_size().width
        sort_key = self.search_query.sort_by if self.search_query else "price"
        if self._laid_out != (width, sort_key):
            # a new size can be painted before its Resize event arrives
            self._lay_out()
        base = self._base()
        if y == 0:
            return self._header(width)
        index = int(self.scroll_offset.y) + y - 1
        if index >= self.row_count:
            if self.row_count == 0 and self._loaded_once:
                lines = empty_lines(self.empty_text, width)
                if index < len(lines):
                    style = self._style("loading")
                    return Strip([Segment(lines[index], style)]).adjust_cell_length(width, style)
            return Strip.blank(width, base)
        row = self._row_at(index)
        if row is None:
            return Strip([Segment(" …".ljust(width), self._style("loading"))], width)
        return self._row_strip(row, index, width)

    def _header(self, width: int) -> Strip:
        header = self._style("header")
        sorted_style = header + self._style("sorted")
        segments = [Segment(" " * GUTTER, header)]
        query = self.search_query
        sort_by, order = (query.sort_by, query.sort_order) if query else ("price", "asc")
        arrow = "▼" if order == "desc" else "▲"
        all_in = False
        if query is not None and query.fits is not None:
            # a fits= search ranks by all-in $/h (the price plus its disk's storage);
            # imported here: the table must not pull pydantic in before its first paint
            from gpucm.domain.pricing import all_in_disk_gb

            all_in = all_in_disk_gb(query) is not None
        for col in self._columns:
            label = col.label
            is_sorted = col.sort_key == sort_by
            if is_sorted:
                label = (
                    f"{label}{arrow}+disk" if all_in and sort_by == "price" else f"{label}{arrow}"
                )
            segments.append(
                Segment(
                    fit(label, col.width, col.align) + " ", sorted_style if is_sorted else header
                )
            )
        return Strip(segments).adjust_cell_length(width, header)

    def _row_strip(self, row: OfferRow, index: int, width: int) -> Strip:
        marked = row.id in self.marked
        cursor = "focused" if index == self.cursor and self.has_focus else index == self.cursor
        key = (row.id, marked, cursor, width)
        strip = self._strips.get(key)
        if strip is None or self._strip_rows.get(row.id) is not row:
            if len(self._strips) > 4 * self.page_size:
                self._forget_strips()
            strip = self._strips[key] = self._draw_row(row, marked, cursor, width)
            self._strip_rows[row.id] = row
        return strip

    def _forget_strips(self) -> None:
        self._strips.clear()
        self._strip_rows.clear()

    def _draw_row(self, row: OfferRow, marked: bool, cursor: object, width: int) -> Strip:
        base = self._base()
        if not row.available:
            base = base + self._style("unavailable")
        if row.stale:
            base = base + self._style("stale")
        if marked:
            base = base + self._style("marked")
        if cursor == "focused":
            base = base + self._style("cursor")
        elif cursor:
            base = base + self._style("cursor-blurred")
        mark = "✔" if marked else " "
        new = "+" if row.is_new else " "
        flag = base + self._style("new") if row.is_new else base
        pieces = [(mark, base), (new, flag)]
        move = row.price_move
        for col in self._columns:
            style = base
            if col.key == "price_per_hour" and move is not None and not cursor:
                # the arrow says it on the cursor row: a colour there fights the cursor's
                style = base + self._style(move)
            pieces.append((fit(cell_text(col.key, row), col.width, col.align), style))
            pieces.append((" ", base))
        return Strip(_runs(pieces)).adjust_cell_length(width, base)

    def watch_has_focus(self, _focus: bool) -> None:
        self._refresh_rows(self.cursor)
