"""Dialogs for saved filters and watches, opened from the palette.

Both write filters.toml through gpucm.presets, so what the TUI saves is what
`gpucm offers --preset` and `gpucm watch` read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, TypeVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static

from gpucm.domain.pricing import BID_MARGIN
from gpucm.domain.provider_names import PROVIDERS, display_name
from gpucm.domain.query import QueryError, parse_query
from gpucm.engine.capabilities import capabilities, capability_caveats, capability_notes
from gpucm.launch_template import MAX_COUNT, LaunchTemplate, TemplateError, parse_template
from gpucm.presets import PresetError, Watch, check_name, save_filter, save_watch
from gpucm.tui.numbers import BID_UNITS, NumberError, parse_number
from gpucm.tui.screens.help import HELP_KEY, SAVE_FILTER_HELP, WATCH_FORM_HELP
from gpucm.tui.widgets.dialog_footer import DialogFooter, keep_focus_in_view

ResultT = TypeVar("ResultT")


class _PresetDialog(ModalScreen[ResultT]):
    """A dialog about the current filter (its text shown under the title), writing
    filters.toml at `path`; escape dismisses it with None."""

    # styled in screens/main.tcss with the other dialogs: a screen's DEFAULT_CSS is
    # scoped to it, so rules naming its subclasses never matched (the dialogs drew
    # full screen, unframed)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        HELP_KEY,
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

    HELP_TITLE = "save filter keys"
    KEYS_HELP = SAVE_FILTER_HELP

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


class _Setting(NamedTuple):
    """One launch-template setting as the watch dialog asks for it: its filters.toml
    key (what a TemplateError names), the field and its label."""

    key: str
    field: str
    label: str
    placeholder: str = ""


# In the dialog's order. The values are checked by parse_template, as filters.toml's
# are: the dialog only turns the typed text into the file's values.
_MAX = _Setting("max_price_per_hour", "watch-max", "Max $/h all-in", "required to launch")
_TEXT_SETTINGS = (
    _MAX,
    _Setting("count", "watch-machines", "Machines", f"1 to {MAX_COUNT} (1)"),
    _Setting("image", "watch-image", "Image", "the provider's default"),
    _Setting("disk_gb", "watch-disk", "Disk GB", "the provider's default"),
    _Setting("env", "watch-env", "Env names", "e.g. HF_TOKEN (values from the environment)"),
    _Setting("ports", "watch-ports", "Ports", "e.g. 8888/tcp, 6006/http"),
    _Setting("ssh_key", "watch-ssh-key", "SSH key", "name of a key saved at the provider"),
)
_SPOT = _Setting("interruptible", "watch-spot", "Rental")
_BID = _Setting(
    "bid_per_gpu", "watch-bid", "Bid $/GPU·h", f"the offer's minimum + {BID_MARGIN:.0%}"
)
_SETTINGS = {s.key: s for s in (*_TEXT_SETTINGS, _SPOT, _BID)}


def _number(
    text: str, *, prefix: str = "", suffixes: tuple[str, ...] = (), integer: bool = False
) -> float:
    # the typed form only ("$0.40/h", "50gb"): parse_template holds the bounds
    value = parse_number(text, prefix=prefix, suffixes=suffixes, integer=integer, minimum=-math.inf)
    assert value is not None  # blank fields are left out before this
    return value


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[,\s]+", text) if w]


# From a field's text to the value filters.toml would hold for its key
_READERS: dict[str, Callable[[str], Any]] = {
    "max_price_per_hour": lambda t: _number(t, prefix="$", suffixes=("/h",)),
    "count": lambda t: int(_number(t, integer=True)),
    "disk_gb": lambda t: _number(t, suffixes=("gb",)),
    "env": _words,
    "ports": _words,
    "bid_per_gpu": lambda t: _number(t, prefix="$", suffixes=BID_UNITS),
}


def _rents_spot(query_text: str) -> tuple[bool, str]:
    """Whether the filter's providers rent interruptible (spot) machines, and the
    line saying where: an interruptible snipe launches only an offer that has a spot
    price, so a filter on providers without spot could never fire."""
    try:
        named = parse_query(query_text).providers
    except QueryError:
        named = ()
    providers = named or PROVIDERS
    spot = [p for p in providers if capabilities(p).spot]
    if not spot:
        return False, "; ".join(capability_notes(p)["interruptible"] for p in providers) + "."
    caveat = capability_caveats(spot[0]).get("interruptible", "")
    where = ", ".join(display_name(p) for p in spot)
    return True, f"Interruptible: only offers with a spot price ({where}); {caveat}."


class _FieldError(PresetError):
    """Bad input in one field: its line is shown and the field focused."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class WatchFormScreen(_PresetDialog[Watch | None]):
    """A watch on the current filter: a name and at least one condition, or a launch
    action (a snipe) with its launch template. Arming a launch takes a second enter
    after the dialog has said the whole template (the max $/h all-in, the machines,
    interruptible and its bid, the image, the disk) and that it launches without
    asking: that is its confirmation."""

    HELP_TITLE = "watch keys"
    KEYS_HELP = WATCH_FORM_HELP

    def __init__(self, query_text: str, path: Path | None = None) -> None:
        super().__init__(query_text, path)
        self._confirmed: Watch | None = None  # the snipe the user was shown, once
        self._spot_offered, self._spot_note = _rents_spot(query_text)

    def compose(self) -> ComposeResult:
        # the body scrolls at 80x24, the error and the hint stay on screen; not
        # focusable itself: Tab goes from field to field, never to the frame
        with VerticalScroll(classes="preset-dialog", can_focus=False):
            yield from self.header("Watch the current filter")
            with Horizontal(classes="preset-row"):
                yield Label("Name", classes="preset-label")
                yield Input(placeholder="e.g. 4090-under-35c", id="watch-name", compact=True)
            yield Static("Alert when any of these holds:", classes="preset-note")
            with Horizontal(classes="preset-row"):
                yield Label("Price ≤ $/h", classes="preset-label")
                # valid_empty: an optional condition left empty is not drawn as invalid
                yield Input(
                    placeholder="e.g. 0.35",
                    id="watch-price",
                    type="number",
                    valid_empty=True,
                    compact=True,
                )
            with Horizontal(classes="preset-row"):
                yield Label("Offers ≥", classes="preset-label")
                yield Input(
                    placeholder="e.g. 10",
                    id="watch-count",
                    type="integer",
                    valid_empty=True,
                    compact=True,
                )
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
            # shown once 'launch' is ticked: a watch that only alerts stays compact
            with Vertical(id="watch-launch-fields"):
                for setting in _TEXT_SETTINGS:
                    with Horizontal(classes="preset-row"):
                        yield Label(setting.label, classes="preset-label")
                        yield Input(
                            value="1" if setting.key == "count" else "",
                            placeholder=setting.placeholder,
                            id=setting.field,
                            compact=True,
                        )
                yield Static(Text(self._spot_note), classes="preset-aside", id="watch-spot-note")
                with Horizontal(classes="preset-row"):
                    yield Label(_SPOT.label, classes="preset-label")
                    yield Checkbox("interruptible (spot), with a bid", id=_SPOT.field, compact=True)
                with Horizontal(classes="preset-row"):
                    yield Label(_BID.label, classes="preset-label")
                    yield Input(placeholder=_BID.placeholder, id=_BID.field, compact=True)
            with DialogFooter(classes="dialog-bottom"):
                yield Static("", classes="preset-error", id="watch-error")
                yield Static(
                    "enter: save  tab: next  esc: cancel  alerts ring once per offer",
                    classes="dialog-hint",
                )

    def on_mount(self) -> None:
        super().on_mount()
        self._sync_fields()

    @on(events.DescendantFocus)
    @on(DialogFooter.Resized)
    def _keep_focus_in_view(self) -> None:
        keep_focus_in_view(self, self.query_one(".preset-dialog", VerticalScroll))

    @on(Checkbox.Changed)
    def _sync_fields(self) -> None:
        """The launch template's fields show only for a snipe, the bid takes input only
        for an interruptible one (as on the launch form); what was typed stays."""
        launch = self.query_one("#watch-launch", Checkbox).value
        self.query_one("#watch-launch-fields").display = launch
        spot = self.query_one(f"#{_SPOT.field}", Checkbox)
        spot.disabled = not (launch and self._spot_offered)
        self.query_one(f"#{_BID.field}", Input).disabled = not self._interruptible

    @property
    def _interruptible(self) -> bool:
        spot = self.query_one(f"#{_SPOT.field}", Checkbox)
        return spot.value and not spot.disabled

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
        """The launch template the fields say, checked by the parser filters.toml goes
        through (gpucm.launch_template.parse_template): one set of rules for the file,
        the CLI and this dialog."""
        if not self.query_one("#watch-launch", Checkbox).value:
            return None
        settings = list(_TEXT_SETTINGS)
        raw: dict[str, Any] = {}
        if self._interruptible:
            raw[_SPOT.key] = True
            settings.append(_BID)
        for setting in settings:
            text = self._value(f"#{setting.field}")
            if not text:
                continue
            read = _READERS.get(setting.key, str)
            try:
                raw[setting.key] = read(text)
            except NumberError as exc:
                raise _FieldError(setting.field, f"{setting.label}: {exc}") from None
        try:
            return parse_template(raw)
        except TemplateError as exc:
            setting = _SETTINGS.get(exc.setting or "", _MAX)
            raise _FieldError(setting.field, f"{setting.label}: {exc.reason}") from None

    def _confirmation(self, launch: LaunchTemplate) -> Text:
        """The whole template, said before it is armed."""
        return Text(
            f"This LAUNCHES WITHOUT ASKING when it matches: {launch.describe()}."
            " Enter again to arm it.",
            style="bold",
        )

    @on(Input.Submitted)
    def _submit(self) -> None:
        error = self.query_one("#watch-error", Static)
        try:
            watch = self.build()
            if watch.launch is not None:
                if watch != self._confirmed:
                    # the confirmation: the template, and that it will not ask again
                    self._confirmed = watch
                    error.update(self._confirmation(watch.launch))
                    return
                stamp = datetime.now(UTC).isoformat(timespec="microseconds")
                watch = replace(watch, launch=replace(watch.launch, armed=stamp))
            save_watch(watch, self.path)
        except PresetError as exc:
            self._confirmed = None
            error.update(Text(str(exc)))
            if isinstance(exc, _FieldError):
                self.set_focus(self.query_one(f"#{exc.field}"))
            return
        self.dismiss(watch)
