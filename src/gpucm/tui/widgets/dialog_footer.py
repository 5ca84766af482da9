"""The docked bottom of a scrolling dialog (its error line, buttons and hint), and
keeping the focused field in view above it.

Textual scrolls a focused widget into view only when it is off screen, and a field
under a docked footer counts as on screen: at 80x24 Tab moved the focus to fields the
user could not see. A longer error message grows the footer over the field, so the
field is brought into view again once the footer has its new size."""

from __future__ import annotations

import sys
from typing import Any

from textual.containers import ScrollableContainer, Vertical
from textual.message import Message
from textual.screen import Screen


class DialogFooter(Vertical):
    """Says when its height changes, and comes last in the Tab order."""

    class Resized(Message):
        pass

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    @property
    def _focus_sort_key(self) -> tuple[int, int]:
        # Textual orders Tab by each widget's place in its container, and a footer
        # docked to a scrolling body sits at the viewport's bottom: fields scrolled
        # below it came after its buttons (Tab went from "GB out" to Review, skipping
        # Rental and the bid at 80x24). Textual is pinned exactly (pyproject.toml, tui/driver.py).
        return sys.maxsize, 0


def keep_focus_in_view(screen: Screen[Any], body: ScrollableContainer) -> None:
    """Scroll `body` so the screen's focused widget shows above the footer."""
    if screen.focused is not None:
        body.scroll_to_widget(screen.focused, animate=False, immediate=True)
