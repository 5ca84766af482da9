"""The first screen: the default view's first page, read straight from the database,
while the full app loads behind it (see tui/boot.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Header, Static

from gpucm.store.first_page import read_first_page
from gpucm.tui.boot import BootView
from gpucm.tui.messages import BootPainted
from gpucm.tui.widgets.key_bar import KeyBar
from gpucm.tui.widgets.offer_table import ROW_COLUMNS, OfferRow, OfferTable

if TYPE_CHECKING:
    from gpucm.domain.models import SearchQuery

FIRST_PAGE = 100


class BootScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "app.quit", "Quit", id="app.quit")]

    def __init__(self, view: BootView) -> None:
        super().__init__()
        self.view = view
        # read before the screen is even composed, so the first layout has its rows
        rows = read_first_page(view.db, ROW_COLUMNS, FIRST_PAGE)
        self._rows = [OfferRow.from_tuple(r) for r in rows or ()]

    def compose(self) -> ComposeResult:
        yield Header(icon="▦")
        yield OfferTable(
            self._fetch, self._count, page_size=FIRST_PAGE, empty_text="  Loading…", id="offers"
        )
        yield Static(" loading…", id="boot-status", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.title = "gpucm"
        self.sub_title = "DEMO market (simulated)" if self.view.demo else "live markets"
        self.query_one(OfferTable).set_query(None)

    async def _fetch(self, query: SearchQuery | None, offset: int, limit: int) -> list[OfferRow]:
        if offset:  # only the first page is shown here
            return []
        if not self._rows:
            # nothing to show quickly (a new or older database): load at once
            self.app.post_message(BootPainted())
        return self._rows

    async def _count(self, query: SearchQuery | None) -> int:
        return len(self._rows)

    def on_offer_table_loaded(self, event: OfferTable.Loaded) -> None:
        if event.rows:
            self.call_after_refresh(self.app.post_message, BootPainted())
