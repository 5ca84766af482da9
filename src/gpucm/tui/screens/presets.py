"""Dialogs for saved filters and watches, opened from the palette.

Both write filters.toml through gpucm.presets, so what the TUI saves is what
`gpucm offers --preset` and `gpucm watch` read.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static

from gpucm.launch_template import LaunchTemplate, TemplateError, check_env_name
from gpucm.presets import PresetError, Watch, check_name, save_filter, save_watch

ResultT = TypeVar("ResultT")


class _PresetDialog(ModalScreen[ResultT]):
    """A dialog about the current filter (its text shown under the title), writing
    filters.toml at `path`; escape dismisses it with None."""

    # styled in screens/main.tcss with the other dialogs: a screen's DEFAULT_CSS is
    # scoped to it, so rules naming its subclasses never matched (the dialogs drew
    # full screen, unframed)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel")
    ]

    def __init__(self, query_text: str, path: Path | None = None) -> None:
        super().__init__()
        self.query_text = query_text
        self.path = path

    def header(self, title: str) -> ComposeResult:
        yield Static(title, classes="dialog-title")
        yield Static(
            Text(self.query_text or "(no filter: every available offer)"),
            classes="preset-query",
        )

    def on_mount(self) -> None:
        field = self.query(Input).first()
        if not getattr(self.app, "cursor_blink", True):
            for box in self.query(Input):
                box.cursor_blink = False
        self.set_focus(field)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SaveFilterScreen(_PresetDialog[str | None]):
    """Name the current filter; dismisses with the name once saved."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="preset-dialog"):
            yield from self.header("Save the current filter")
            with Horizontal(classes="preset-row"):
                yield Label("Name", classes="preset-label")
                yield Input(placeholder="e.g. cheap-4090", id="preset-name", compact=True)
            yield Static("", classes="preset-error", id="preset-error")
            yield Static(
                "enter: save   escape: cancel   recall it from the palette (ctrl+p)",
                classes="dialog-hint",
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
    """A watch on the current filter: a name and at least one condition, or a launch
    action (a snipe). Arming a launch takes a second enter after the dialog has said
    the max $/h and that it launches without asking: that is its confirmation."""

    def __init__(self, query_text: str, path: Path | None = None) -> None:
        super().__init__(query_text, path)
        self._confirmed: Watch | None = None  # the snipe the user was shown, once

    def compose(self) -> ComposeResult:
        with Vertical(classes="preset-dialog"):
            yield from self.header("Watch the current filter")
            with Horizontal(classes="preset-row"):
                yield Label("Name", classes="preset-label")
                yield Input(placeholder="e.g. 4090-under-35c", id="watch-name", compact=True)
            yield Static("Alert when any of these holds:", classes="preset-note")
            with Horizontal(classes="preset-row"):
                yield Label("Price ≤ $/h", classes="preset-label")
                yield Input(placeholder="e.g. 0.35", id="watch-price", type="number", compact=True)
            with Horizontal(classes="preset-row"):
                yield Label("Offers ≥", classes="preset-label")
                yield Input(placeholder="e.g. 10", id="watch-count", type="integer", compact=True)
            with Horizontal(classes="preset-row"):
                yield Label("", classes="preset-label")
                yield Checkbox(
                    "a provider that did not offer it before",
                    id="watch-new-provider",
                    compact=True,
                )
            with Horizontal(classes="preset-row"):
                yield Label("Or a snipe", classes="preset-label")
                yield Checkbox(
                    "launch the best match, once, without asking",
                    id="watch-launch",
                    compact=True,
                )
            with Horizontal(classes="preset-row"):
                yield Label("Max $/h all-in", classes="preset-label")
                yield Input(
                    placeholder="required to launch", id="watch-max", type="number", compact=True
                )
            with Horizontal(classes="preset-row"):
                yield Label("Image", classes="preset-label")
                yield Input(placeholder="the provider's default", id="watch-image", compact=True)
            with Horizontal(classes="preset-row"):
                yield Label("Env names", classes="preset-label")
                yield Input(
                    placeholder="e.g. HF_TOKEN (values from the environment)",
                    id="watch-env",
                    compact=True,
                )
            yield Static("", classes="preset-error", id="watch-error")
            yield Static(
                "enter: save   escape: cancel   alerts ring the bell once per offer",
                classes="dialog-hint",
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
            launch=self._template(),
        )
        if not watch.conditions() and watch.launch is None:
            raise PresetError("set a price, a count, tick 'a provider…' or 'launch…'")
        return watch

    def _template(self) -> LaunchTemplate | None:
        if not self.query_one("#watch-launch", Checkbox).value:
            return None
        max_text = self._value("#watch-max")
        try:
            ceiling = float(max_text) if max_text else None
        except ValueError:
            raise PresetError("the max $/h must be a number") from None
        if ceiling is None or not ceiling > 0:
            raise PresetError("a launch needs a max $/h all-in, more than 0")
        names = [n for n in self._value("#watch-env").replace(",", " ").split() if n]
        try:
            env = tuple(dict.fromkeys(check_env_name(n) for n in names))
        except TemplateError as exc:
            raise PresetError(str(exc)) from None
        return LaunchTemplate(
            max_price_per_hour=ceiling, image=self._value("#watch-image") or None, env=env
        )

    @on(Input.Submitted)
    def _submit(self) -> None:
        error = self.query_one("#watch-error", Static)
        try:
            watch = self.build()
            if watch.launch is not None:
                if watch != self._confirmed:
                    # the confirmation: the price, and that it will not ask again
                    self._confirmed = watch
                    error.update(
                        Text(
                            f"This LAUNCHES WITHOUT ASKING when it matches: "
                            f"{watch.launch.describe()}. Enter again to arm it.",
                            style="bold",
                        )
                    )
                    return
                stamp = datetime.now(UTC).isoformat(timespec="microseconds")
                watch = replace(watch, launch=replace(watch.launch, armed=stamp))
            save_watch(watch, self.path)
        except PresetError as exc:
            error.update(Text(str(exc)))
            return
        self.dismiss(watch)
