"""The one-line text query, kept in step with the filter builder."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Input, Static

from gpucm.domain.models import SearchQuery
from gpucm.domain.query import QueryError, format_query, parse_query
from gpucm.tui.messages import QueryChanged
from gpucm.tui.widgets.offer_table import OfferTable


class QueryBar(Horizontal):
    """`/` focuses it; enter applies; a bad query shows one line naming the bad token
    and changes nothing."""

    DEFAULT_CSS = """
    QueryBar { height: 1; }
    QueryBar > #query-prompt { width: 2; }
    QueryBar > Input, QueryBar > Input:focus {
        border: none; height: 1; padding: 0; width: 1fr; background: $boost;
    }
    QueryBar > #query-error { width: auto; max-width: 60%; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Back to the table", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._query = SearchQuery()

    def compose(self) -> ComposeResult:
        yield Static("/", id="query-prompt")
        yield Input(
            placeholder='e.g. gpu="RTX 4090",H100 price<2 region=Europe sort=-performance',
            id="query-input",
            # `/` starts a new query (typing replaces it); arrows edit the current one
            select_on_focus=True,
        )
        yield Static("", id="query-error", markup=False)

    @property
    def input(self) -> Input:
        return self.query_one("#query-input", Input)

    def show_query(self, query: SearchQuery) -> None:
        """Reflect a query chosen elsewhere (builder, keys) without re-announcing it."""
        self._query = query
        text = format_query(query)
        if self.input.value != text:
            with self.input.prevent(Input.Changed):
                self.input.value = text
        self._set_error(None)

    def _set_error(self, message: str | None) -> None:
        error = self.query_one("#query-error", Static)
        error.update(message or "")
        error.set_class(bool(message), "-error")
        self.input.set_class(bool(message), "-invalid")

    @on(Input.Submitted, "#query-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            query = parse_query(
                event.value, base=SearchQuery(limit=self._query.limit, offset=self._query.offset)
            )
        except QueryError as exc:
            self._set_error(str(exc))
            return
        self._set_error(None)
        self._query = query
        self.post_message(QueryChanged(query, "text"))
        self.action_leave()

    def action_leave(self) -> None:
        tables = self.screen.query(OfferTable)
        if tables:
            tables.first().focus()
