"""Dialogs for saved filters and watches, opened from the palette.

Both write filters.toml through gpucm.presets, so what the TUI saves is what
`gpucm offers --preset` and `gpucm watch` read.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static

from gpucm.presets import PresetError, Watch, check_name, save_filter, save_watch

ResultT = TypeVar("ResultT")

_CSS = """
SaveFilterScreen, WatchFormScreen {
    align: center middle;
    background: $background 60%;
    & > Vertical {
        width: 72;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    & .preset-title { text-style: bold; color: $accent; }
    & .preset-query { color: $text-muted; padding-bottom: 1; }
    & .preset-error { color: $error; height: auto; }
    & .preset-hint { color: $text-muted; padding-top: 1; }
    & Horizontal { height: auto; }
    & Horizontal > Label { width: 22; padding: 1 1 0 0; }
    & Horizontal > Input { width: 1fr; }
}
"""


class _PresetDialog(ModalScreen[ResultT]):
    """A dialog about the current filter (its text shown under the title), writing
    filters.toml at `path`; escape dismisses it with None."""

    DEFAULT_CSS = _CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, query_text: str, path: Path | None = None) -> None:
        super().__init__()
        self.query_text = query_text
        self.path = path

    def header(self, title: str) -> ComposeResult:
        yield Static(title, classes="preset-title")
        yield Static(
            Text(self.query_text or "(no filter: every available offer)"),
            classes="preset-query",
        )

    def action_cancel(self) -> None:
        self.dismiss(None)


class SaveFilterScreen(_PresetDialog[str | None]):
    """Name the current filter; dismisses with the name once saved."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield from self.header("Save the current filter")
            with Horizontal():
                yield Label("Name")
                yield Input(placeholder="e.g. cheap-4090", id="preset-name")
            yield Static("", classes="preset-error", id="preset-error")
            yield Static(
                "enter: save   escape: cancel   recall it from the palette (ctrl+p)",
                classes="preset-hint",
            )

    @on(Input.Submitted)
    def _submit(self) -> None:
        name = self.query_one("#preset-name", Input).value.strip()
        try:
            check_name(name)
            save_filter(name, self.query_text, self.path)
        except PresetError as exc:
            self.query_one("#preset-error", Static).update(Text(str(exc)))
            return
        self.dismiss(name)


class WatchFormScreen(_PresetDialog[Watch | None]):
    """A watch on the current filter: a name and at least one condition."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield from self.header("Watch the current filter")
            with Horizontal():
                yield Label("Name")
                yield Input(placeholder="e.g. 4090-under-35c", id="watch-name")
            with Horizontal():
                yield Label("Price at or under $/h")
                yield Input(placeholder="e.g. 0.35", id="watch-price", type="number")
            with Horizontal():
                yield Label("At least N offers")
                yield Input(placeholder="e.g. 10", id="watch-count", type="integer")
            yield Checkbox("A provider that did not offer it before", id="watch-new-provider")
            yield Static("", classes="preset-error", id="watch-error")
            yield Static(
                "enter: save   escape: cancel   alerts ring the bell once per offer",
                classes="preset-hint",
            )

    def _value(self, widget_id: str) -> str:
        return self.query_one(widget_id, Input).value.strip()

    def build(self) -> Watch:
        name = check_name(self._value("#watch-name"))
        price_text, count_text = self._value("#watch-price"), self._value("#watch-count")
        try:
            price = float(price_text) if price_text else None
            count = int(count_text) if count_text else None
        except ValueError:
            raise PresetError("price and count must be numbers") from None
        if (price is not None and price < 0) or (count is not None and count < 1):
            raise PresetError("the price must be >= 0 and the count >= 1")
        watch = Watch(
            name,
            self.query_text,
            price_at_or_under=price,
            min_offers=count,
            new_provider=self.query_one("#watch-new-provider", Checkbox).value,
        )
        if not watch.conditions():
            raise PresetError("set a price, a count or tick 'a provider…'")
        return watch

    @on(Input.Submitted)
    def _submit(self) -> None:
        try:
            watch = self.build()
            save_watch(watch, self.path)
        except PresetError as exc:
            self.query_one("#watch-error", Static).update(Text(str(exc)))
            return
        self.dismiss(watch)
