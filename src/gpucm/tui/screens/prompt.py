"""A small modal that asks for one line (a reason, a number): its one Input has the
focus at once, without a blinking cursor where the app turns blinking off, and escape
dismisses it with None."""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Input

from gpucm.tui.screens.help import HELP_KEY, PROMPT_HELP

T = TypeVar("T")

__all__ = ["PromptScreen"]


class PromptScreen(ModalScreen[T | None], Generic[T]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        HELP_KEY,
    ]
    HELP_TITLE = "keys"
    KEYS_HELP = PROMPT_HELP

    def on_mount(self) -> None:
        field = self.query_one(Input)
        if not getattr(self.app, "cursor_blink", True):
            field.cursor_blink = False
        self.set_focus(field)

    def action_cancel(self) -> None:
        self.dismiss(None)
