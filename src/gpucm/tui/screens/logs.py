"""`l` in the instance manager: a machine's logs, where the provider's API has them."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Log, Static

from gpucm.tui.screens.help import HELP_KEY, LOGS_HELP

__all__ = ["LogsScreen"]


class LogsScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="logs.close"),
        HELP_KEY,
    ]
    HELP_TITLE = "logs keys"
    KEYS_HELP = LOGS_HELP

    def __init__(self, name: str, text: str) -> None:
        super().__init__()
        self.label = name
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="logs-dialog"):
            yield Static(Text(f"Logs of {self.label}"), classes="dialog-title")
            yield Log(id="logs-text", highlight=False)
            yield Static("escape: close", classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        log_widget = self.query_one(Log)
        log_widget.write(self.text or "(no output yet)")
        self.set_focus(log_widget)

    def action_close(self) -> None:
        self.dismiss(None)
