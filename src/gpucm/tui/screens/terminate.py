"""`t` in the instance manager: type the machine's name to terminate it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from gpucm.domain.models import Instance
from gpucm.domain.provider_names import display_name
from gpucm.tui.screens.help import HELP_KEY, TERMINATE_HELP

__all__ = ["TerminateScreen"]


class TerminateScreen(ModalScreen[bool | None]):
    """Dismissed with True once the typed name matches, None if cancelled. A name that
    does not match says so and stays, so a typo can be corrected."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        HELP_KEY,
    ]
    HELP_TITLE = "terminate keys"
    KEYS_HELP = TERMINATE_HELP

    def __init__(self, instance: Instance) -> None:
        super().__init__()
        self.instance = instance
        self.expected = instance.name or instance.provider_id
        self.misses = 0

    def compose(self) -> ComposeResult:
        inst = self.instance
        with Vertical(id="terminate-dialog"):
            yield Static(
                Text(f"Terminate {self.expected} at {display_name(inst.provider)}?"),
                classes="dialog-title",
            )
            yield Static(
                Text(
                    "This destroys the machine and its disk; it cannot be undone. "
                    "Type its name to confirm:"
                ),
            )
            yield Static(Text(self.expected), id="terminate-name")
            yield Input(placeholder=self.expected, id="terminate-input")
            yield Static("", id="terminate-error")
            yield Static("enter: terminate   esc: cancel", classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        field = self.query_one(Input)
        if not getattr(self.app, "cursor_blink", True):
            field.cursor_blink = False
        self.set_focus(field)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.expected:
            self.dismiss(True)
            return
        self.misses += 1
        self.query_one("#terminate-error", Static).update(
            Text(
                f"{event.value.strip()!r} is not {self.expected!r}: nothing was terminated. "
                "Type the name again, or esc to keep the machine."
            )
        )
        event.input.add_class("-bad")
        event.input.value = ""

    @on(Input.Changed)
    def _edited(self, event: Input.Changed) -> None:
        event.input.remove_class("-bad")

    def action_cancel(self) -> None:
        self.dismiss(None)
