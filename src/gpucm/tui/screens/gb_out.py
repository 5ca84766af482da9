"""`g` in the compare view: how many GB the job sends out per hour, for the all-in
price where a provider bills egress by the GB (domain/pricing.py). 0 by default: egress
is not counted until the user says how much they send."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from gpucm.tui.numbers import NumberError, number_text, parse_number
from gpucm.tui.screens.help import GB_OUT_HELP
from gpucm.tui.screens.prompt import PromptScreen

__all__ = ["EGRESS_NOTE", "GbOutScreen", "gb_out_line", "parse_gb_out"]

EGRESS_NOTE = "Vast.ai bills egress per GB; RunPod, Lambda and Paperspace give no rate"


def parse_gb_out(text: str) -> float:
    """GB out per hour as typed ("" is 0); raises NumberError with a short reason."""
    value = parse_number(text, suffixes=("gb/h", "gb", "g"))
    return value or 0.0


def gb_out_line(gb_out: float) -> str:
    if not gb_out:
        return f"GB out per hour (g): 0, the default: egress not counted. {EGRESS_NOTE}."
    return f"GB out per hour (g): {gb_out:g}, priced where billed per GB. {EGRESS_NOTE}."


class GbOutScreen(PromptScreen[float]):
    """Dismissed with the GB out per hour typed, or None if cancelled."""

    HELP_TITLE = "GB out keys"
    KEYS_HELP = GB_OUT_HELP

    def __init__(self, current: float) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="gb-out-dialog"):
            yield Static("GB out per hour", classes="dialog-title", markup=False)
            yield Static(
                Text(
                    "How much data the job sends out each hour (results, checkpoints, "
                    f"served traffic). 0 leaves egress out. {EGRESS_NOTE}."
                )
            )
            yield Input(number_text(self.current), placeholder="0", id="gb-out-input")
            yield Static("", id="gb-out-error")
            yield Static("enter: use it   esc: cancel", classes="dialog-hint", markup=False)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(parse_gb_out(event.value))
        except NumberError as exc:
            self.query_one("#gb-out-error", Static).update(Text(f"GB out per hour: {exc}"))
