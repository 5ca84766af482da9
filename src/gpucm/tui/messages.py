"""Messages that cross widgets on the main screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # types only: messages are imported by the first screen
    from gpucm.domain.models import SearchQuery
    from gpucm.engine.refresher import RefreshOutcome


class QueryChanged(Message):
    """A new search, from the filter builder (origin "builder"), the text query
    ("text", with `text` as typed), or a key such as sort ("keys")."""

    def __init__(self, query: SearchQuery, origin: str, text: str | None = None) -> None:
        super().__init__()
        self.query = query
        self.origin = origin
        self.text = text


class RefreshLanded(Message):
    """A provider refresh finished (well or not): the store may have changed. The app
    posts it to every screen in its stack; the ones that show the market repaint."""

    bubble = False  # one per screen: it must not reach the app once more from each

    def __init__(self, outcome: RefreshOutcome) -> None:
        super().__init__()
        self.outcome = outcome


class FirstPaint(Message):
    """The offer table's first rows are on screen: start the work that can wait."""


class BootPainted(Message):
    """The first screen's rows are up (or there were none): load the full app."""
