"""The text query, kept in step with the filter builder.

`/` focuses it; enter applies. A bad query keeps the text in view and puts the error
on the lines below it, wrapped, so the whole message (and the list of valid keys)
reads at 80 columns; nothing changes until a query parses. Escape leaves the bar
showing the query the table is showing again, whatever was typed since.
"""

from __future__ import annotations

import shlex
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from gpucm.domain.models import SearchQuery
from gpucm.domain.query import QueryError, format_query, parse_query
from gpucm.providers.values import plain
from gpucm.tui.messages import QueryChanged
from gpucm.tui.widgets.offer_table import OfferTable

__all__ = ["QueryBar", "QueryInput", "repeated_list_keys"]

# the query language's list keys and their spellings (gpucm.domain.query)
_LIST_KEYS: dict[str, str] = {
    "gpu": "gpu",
    "model": "gpu",
    "gpus": "gpu",
    "region": "region",
    "regions": "region",
    "provider": "provider",
    "providers": "provider",
}


def repeated_list_keys(text: str) -> list[str]:
    """List keys given more than once (`gpu=H100 gpu=A100`): the query keeps every
    value, which the bar says, so a second term is never thought to replace the
    first."""
    try:
        words = shlex.split(text)
    except ValueError:
        return []
    seen: dict[str, int] = {}
    for word in words:
        key = word.split("=", 1)[0].strip().lower() if "=" in word else ""
        name = _LIST_KEYS.get(key)
        if name is not None:
            seen[name] = seen.get(name, 0) + 1
    return [name for name, n in seen.items() if n > 1]


class QueryInput(Input):
    """The query's line. A paste is taken whole, as plain text: Textual's Input keeps
    the first line of a paste only, and keeps control characters, so a query copied
    over several lines lost its later terms without a word, and an escape sequence
    pasted with it scrambled the line (ESC drawn as ^[, the cursor off by its width)."""

    def _on_paste(self, event: events.Paste) -> None:
        event.prevent_default()  # not Input's own paste as well
        event.stop()
        text = plain(event.text)
        if not text:
            return
        if self.selection.is_empty:
            self.insert_text_at_cursor(text)
        else:
            self.replace(text, *self.selection)


class QueryBar(Vertical):
    """One line of query; below it, when there is something to say, the error or a
    note about what was typed."""

    DEFAULT_CSS = """
    QueryBar { height: auto; }
    QueryBar > Horizontal { height: 1; }
    QueryBar #query-prompt { width: 2; }
    QueryBar Input, QueryBar Input:focus, QueryBar Input.-invalid,
    QueryBar Input.-invalid:focus {
        /* Input's own -invalid border would grow the bar to three lines, the text
           hidden inside: the error line below says it instead */
        border: none; height: 1; padding: 0; width: 1fr; background: $boost;
    }
    QueryBar > #query-error { display: none; height: auto; padding: 0 1 0 2; }
    QueryBar > #query-error.-shown { display: block; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Back to the table", show=False, id="table.focus"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._query = SearchQuery()
        self._text = ""  # the text of the query the table shows

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static("/", id="query-prompt")
            yield QueryInput(
                placeholder='e.g. gpu="RTX 4090",H100 price<2 region=Europe sort=-performance',
                id="query-input",
                # `/` starts a new query (typing replaces it); arrows edit the current one
                select_on_focus=True,
            )
        yield Static("", id="query-error", markup=False)

    @property
    def input(self) -> Input:
        return self.query_one("#query-input", Input)

    @property
    def error(self) -> str:
        """The error or note on show ("" when none)."""
        widget = self.query_one("#query-error", Static)
        return str(widget.content) if widget.has_class("-shown") else ""

    def show_query(self, query: SearchQuery, text: str | None = None) -> None:
        """Reflect a query chosen elsewhere (builder, keys) without re-announcing it."""
        self._query = query
        self._text = format_query(query) if text is None else text
        if self.input.value != self._text:
            with self.input.prevent(Input.Changed):
                self.input.value = self._text
        self._set_message(None)

    def _set_message(self, message: str | None, *, error: bool = False) -> None:
        widget = self.query_one("#query-error", Static)
        widget.update(Text(message or ""))
        widget.set_class(bool(message), "-shown")
        widget.set_class(error, "-error")
        self.input.set_class(bool(message) and error, "-invalid")

    @on(Input.Submitted, "#query-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        try:
            query = parse_query(text)
        except QueryError as exc:
            self._set_message(str(exc), error=True)
            return
        notes: list[str] = []
        if query.limit is not None or query.offset:
            # the table pages through every match: limit and offset are for the CLI
            notes.append("limit and offset have no effect here: the table shows every match")
            query = query.model_copy(update={"limit": None, "offset": 0})
            text = format_query(query)
            with self.input.prevent(Input.Changed):
                self.input.value = text
        for key in repeated_list_keys(text):
            notes.append(f"{key}= given twice: offers matching any of the values are shown")
        self._query = query
        self._text = text
        self._set_message("; ".join(notes) or None)
        self.post_message(QueryChanged(query, "text", text))
        self._to_table()

    def action_leave(self) -> None:
        """Back to the table, the bar showing the table's query again."""
        if self.input.value.strip() != self._text:
            with self.input.prevent(Input.Changed):
                self.input.value = self._text
            self._set_message(None)
        elif self.query_one("#query-error", Static).has_class("-error"):
            self._set_message(None)
        self._to_table()

    def _to_table(self) -> None:
        tables = self.screen.query(OfferTable)
        if tables:
            tables.first().focus()
