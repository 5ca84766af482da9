"""A small keyed table drawn line by line (Textual's line API): the market screen's.

Textual's DataTable renders each cell through Rich (padding, wrapping, measuring:
about 0.1 ms a cell, 30-40 ms for a first paint of 200 cells). These cells are one
line of styled runs of known width, so a row is drawn as segments directly, from
public API only (`ScrollView.render_line`, `Strip`). Columns are sized from their
content on every layout, so a resize always re-fits them; the first column stays put
while ←/→ page through the others whole (a value is never cut at the edge). A column
marked `fill` takes what is left and its cells fit themselves to it ("a b +2").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

__all__ = ["Cell", "LineTable", "ListCell", "TableColumn"]

_PLAIN = Style.null()
GAP = 2  # cells between columns


class Cell:
    """One line of a table cell: runs of styled text, aligned left or right."""

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

    def fitted(self, width: int) -> Cell:
        """The cell cut to `width` (an ellipsis marks the cut)."""
        if self.width <= width:
            return self
        return Cell(self.plain[: max(0, width - 1)] + "…", right=self.right)


class ListCell(Cell):
    """Names in a row ("Vast.ai RunPod Paperspace") that, in a narrower column, show
    as many as fit and say how many more there are ("Vast.ai RunPod +1")."""

    __slots__ = ("items",)

    def __init__(self, items: Sequence[str], *, empty: str = "-") -> None:
        super().__init__(" ".join(items) or empty)
        self.items = tuple(items)

    def fitted(self, width: int) -> Cell:
        if self.width <= width or not self.items:
            return super().fitted(width)
        for shown in range(len(self.items) - 1, 0, -1):
            text = " ".join(self.items[:shown]) + f" +{len(self.items) - shown}"
            if cell_len(text) <= width:
                return Cell(text)
        return Cell(f"{len(self.items)} providers").fitted(width)


@dataclass(frozen=True)
class TableColumn:
    key: str
    label: str
    right: bool = False
    fill: bool = False  # takes the width left over (at least `minimum`)
    minimum: int = 8


class LineTable(ScrollView, can_focus=True):
    """Rows of Cells under a header; a row cursor; the sorted column's header marked."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "line-table--header",
        "line-table--sorted",
        "line-table--cursor",
        "line-table--even",
    }

    DEFAULT_CSS = """
    LineTable {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-gutter: stable;
        scrollbar-size-vertical: 1;
        & > .line-table--header { background: $panel; color: $text; text-style: bold; }
        & > .line-table--sorted { color: $text-accent; }
        & > .line-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .line-table--even { background: $surface; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "cursor(-1_000_000)", "Top", show=False),
        Binding("end,G", "cursor(1_000_000)", "Bottom", show=False),
        # arrows only: screens give h and l their own meanings (l: logs)
        Binding("left", "columns(-1)", "Columns left", show=False),
        Binding("right", "columns(1)", "Columns right", show=False),
    ]

    class _Row(Message):
        def __init__(self, table: LineTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> LineTable:
            return self.table

    class RowHighlighted(_Row):
        """The cursor moved to the row keyed `key`."""

    class RowSelected(_Row):
        """Enter (or a click on the cursor's row) chose the row keyed `key`."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns: list[TableColumn] = []
        self.rows: list[tuple[str, dict[str, Cell]]] = []
        self._index: dict[str, int] = {}
        self.cursor_row = 0
        self.first_column = 1  # the first of the scrolling columns on screen
        self.sorted_by: str | None = None
        self.descending = False
        self._widths: list[int] = []
        self._shown: list[int] = []  # column indexes on screen
        self._announced: str | None = None

    # -- data -----------------------------------------------------------------------

    def set_data(
        self,
        columns: Sequence[TableColumn],
        rows: Sequence[tuple[str, dict[str, Cell]]],
        *,
        cursor: str | None = None,
        sorted_by: str | None = None,
        descending: bool = False,
    ) -> None:
        """Replace every row; the cursor goes to the row keyed `cursor` (else the top)."""
        self.columns = list(columns)
        self.rows = list(rows)
        self._index = {key: i for i, (key, _) in enumerate(self.rows)}
        self.sorted_by, self.descending = sorted_by, descending
        self.cursor_row = self._index.get(cursor, 0) if cursor is not None else 0
        self.first_column = min(self.first_column, max(1, len(self.columns) - 1))
        self._lay_out()
        self.virtual_size = Size(self.size.width, len(self.rows) + 1)
        self._scroll_to_cursor(top=cursor is None)
        self.refresh()
        self._announce()

    def update_cells(self, changes: Mapping[str, Mapping[str, Cell]]) -> int:
        """Change some cells in place (row key -> column key -> cell) and repaint only
        their lines, unless a cell no longer fits its column: then the table is laid
        out again. Cells equal to what is shown are skipped; returns how many changed."""
        changed_rows: list[int] = []
        relayout = False
        for key, cells in changes.items():
            index = self._index.get(key)
            if index is None:
                continue
            row = self.rows[index][1]
            touched = False
            for column, cell in cells.items():
                old = row.get(column)
                if old is not None and old.plain == cell.plain and old.parts == cell.parts:
                    continue
                row[column] = cell
                touched = True
                position = self._column_index.get(column)
                if position is not None and position < len(self._widths):
                    relayout |= cell.width > self._widths[position]
            if touched:
                changed_rows.append(index)
        if relayout:
            self._lay_out()
            self.refresh()
        else:
            for index in changed_rows:
                self.refresh_line(index + 1)  # line 0 is the header
        return len(changed_rows)

    @property
    def _column_index(self) -> dict[str, int]:
        return {column.key: i for i, column in enumerate(self.columns)}

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def row_keys(self) -> list[str]:
        return [key for key, _ in self.rows]

    @property
    def cursor_key(self) -> str | None:
        return self.rows[self.cursor_row][0] if self.rows else None

    def get_cell(self, row_key: str, column_key: str) -> Cell:
        return self.rows[self._index[row_key]][1][column_key]

    def get_row(self, row_key: str) -> list[Cell]:
        """A row's cells in column order."""
        row = self.rows[self._index[row_key]][1]
        return [row.get(column.key, Cell("")) for column in self.columns]

    @property
    def shown_columns(self) -> list[str]:
        """The keys of the columns on screen now, in order."""
        return [self.columns[i].key for i in self._shown]

    # -- layout ---------------------------------------------------------------------

    def _lay_out(self) -> None:
        width = self.scrollable_content_region.width  # the scrollbar's gutter off
        widths: list[int] = []
        for column in self.columns:
            label = cell_len(column.label) + (1 if column.key == self.sorted_by else 0)
            cells = (row[column.key].width for _, row in self.rows if column.key in row)
            widths.append(max(label, *cells) if self.rows else label)
        shown: list[int] = [0] if self.columns else []
        used = 1 + (widths[0] if widths else 0)
        start = max(1, self.first_column)
        for i in range(start, len(self.columns)):
            need = widths[i] if not self.columns[i].fill else self.columns[i].minimum
            if used + GAP + need > width and len(shown) > 1:
                break
            shown.append(i)
            used += GAP + (widths[i] if not self.columns[i].fill else need)
        for i in shown:
            if self.columns[i].fill:
                spare = width - used
                widths[i] = min(widths[i], self.columns[i].minimum + max(0, spare))
        self._widths, self._shown = widths, shown

    def on_resize(self, event: events.Resize) -> None:
        self._lay_out()
        self.virtual_size = Size(event.size.width, len(self.rows) + 1)
        self._scroll_to_cursor()

    # -- cursor ---------------------------------------------------------------------

    def _body_height(self) -> int:
        return max(1, self.size.height - 1)

    def _scroll_to_cursor(self, *, top: bool = False) -> None:
        if top:
            self.scroll_to(y=0, animate=False)
            return
        first = int(self.scroll_offset.y)
        if self.cursor_row < first:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= first + self._body_height():
            self.scroll_to(y=self.cursor_row - self._body_height() + 1, animate=False)

    def move_cursor(self, row: int) -> None:
        if not self.rows:
            return
        self.cursor_row = max(0, min(row, len(self.rows) - 1))
        self._scroll_to_cursor()
        self.refresh()
        self._announce()

    def _announce(self) -> None:
        key = self.cursor_key
        if key is not None and key != self._announced:
            self._announced = key
            self.post_message(self.RowHighlighted(self, key))

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step * self._body_height())

    def action_columns(self, step: int) -> None:
        last = max(1, len(self.columns) - 1)
        if step > 0 and self._shown and self._shown[-1] >= len(self.columns) - 1:
            return  # the last column is on screen already
        self.first_column = max(1, min(last, self.first_column + step))
        self._lay_out()
        self.refresh()

    def action_select(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            row = int(self.scroll_offset.y) + event.y - 1
            if row == self.cursor_row:
                self.action_select()
            else:
                self.move_cursor(row)

    def watch_has_focus(self, _focus: bool) -> None:
        self.refresh()

    # -- drawing --------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"line-table--{name}")

    def _line(
        self, cells: list[tuple[Cell, int]], base: Style, width: int, *, plain: bool = False
    ) -> Strip:
        """One row; `plain` drops the cells' own colours (on the cursor row they would
        fight the cursor's, and lose contrast)."""
        segments: list[Segment] = [Segment(" ", base)]
        for n, (cell, size) in enumerate(cells):
            if n:
                segments.append(Segment(" " * GAP, base))
            fitted = cell.fitted(size)
            pad = size - fitted.width
            if pad > 0 and fitted.right:
                segments.append(Segment(" " * pad, base))
            for text, style in fitted.parts:
                if plain:
                    # no colour, no dim: the cursor's own colours must read
                    style = Style(bold=style.bold, italic=style.italic)
                segments.append(Segment(text, base + style if style else base))
            if pad > 0 and not fitted.right:
                segments.append(Segment(" " * pad, base))
        return Strip(segments).adjust_cell_length(width, base)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            header = base + self._style("header")
            cells: list[tuple[Cell, int]] = []
            for i in self._shown:
                column = self.columns[i]
                label = column.label
                if column.key == self.sorted_by:
                    label += "▼" if self.descending else "▲"
                style = header + self._style("sorted") if column.key == self.sorted_by else _PLAIN
                cells.append((Cell((label, style), right=column.right), self._widths[i]))
            more = self._shown and self._shown[-1] < len(self.columns) - 1
            strip = self._line(cells, header, width)
            if more or self.first_column > 1:
                arrows = ("◀" if self.first_column > 1 else " ") + ("▶" if more else " ")
                strip = strip.crop(0, max(0, width - 3)).adjust_cell_length(width - 3, header)
                strip = Strip.join([strip, Strip([Segment(arrows + " ", header)], 3)])
            return strip
        index = int(self.scroll_offset.y) + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, base)
        style = base
        if index % 2:
            style = style + self._style("even")
        on_cursor = index == self.cursor_row
        if on_cursor:
            style = style + self._style("cursor")
        row = self.rows[index][1]
        cells = []
        for i in self._shown:
            column = self.columns[i]
            cells.append((row.get(column.key, Cell("")), self._widths[i]))
        return self._line(cells, style, width, plain=on_cursor)
