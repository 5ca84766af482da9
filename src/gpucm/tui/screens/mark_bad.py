"""`b` in the instance manager: remember the machine an instance runs on as a bad host
(domain/hosts.py), with a reason. Its offers are hidden for 7 days and failover skips
it; `gpucm hosts forget` (or the TTL) brings it back."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from gpucm.domain.hosts import DEFAULT_TTL, MAX_REASON, clean_reason
from gpucm.domain.models import Instance
from gpucm.domain.provider_names import display_name
from gpucm.tui.screens.help import MARK_BAD_HELP
from gpucm.tui.screens.prompt import PromptScreen

__all__ = ["MarkBadScreen"]


class MarkBadScreen(PromptScreen[str]):
    """Dismissed with the reason typed (one line), or None if cancelled."""

    HELP_TITLE = "bad host keys"
    KEYS_HELP = MARK_BAD_HELP

    def __init__(self, instance: Instance) -> None:
        super().__init__()
        self.instance = instance

    def compose(self) -> ComposeResult:
        inst = self.instance
        label = inst.name or inst.id
        days = DEFAULT_TTL.days
        with Vertical(id="mark-bad-dialog"):
            yield Static(
                Text(f"Mark the machine of {label} at {display_name(inst.provider)} bad?"),
                classes="dialog-title",
            )
            yield Static(
                Text(
                    f"Its offers are hidden for {days} days (hosts=all in the query shows "
                    "them) and failover skips it. The machine itself keeps running. "
                    "What went wrong?"
                )
            )
            yield Input(
                placeholder="e.g. CUDA error on boot", max_length=MAX_REASON, id="mark-bad-input"
            )
            yield Static("", id="mark-bad-error")
            yield Static("enter: remember it   esc: cancel", classes="dialog-hint", markup=False)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        reason = clean_reason(event.value)
        if reason:
            self.dismiss(reason)
            return
        self.query_one("#mark-bad-error", Static).update(
            Text("Say in a few words what went wrong (it is shown in `gpucm hosts list`).")
        )
