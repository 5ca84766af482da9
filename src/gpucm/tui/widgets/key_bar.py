"""The footer: the keys of the screen in front, most important first.

Textual's Footer is a row of widgets rebuilt (a recompose: a widget per key, each
styled and laid out) on every bindings change; on the main screen that was every
cursor move, most of a frame's budget. This bar is one line drawn from
`Screen.active_bindings` whenever they change, with no child widgets.

What it adds for a narrow terminal: keys are shown in the order the screen ranks
them (`KEY_ORDER`, binding ids or actions; the rest after, as bound), and when they do
not all fit the last slot says `? more` (help lists every key of the screen). A key
that cannot act now is drawn dim, and pressing it says why (GpucmApp.on_key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import RenderResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

__all__ = ["KeyBar", "KeyEntry", "fit_keys"]

HELP_ACTIONS = ("help", "app.help")  # the help key goes last, or in the `more` slot
GAP = 1  # cells between two entries


@dataclass(frozen=True)
class KeyEntry:
    key: str  # the key as Textual names it ("question_mark"), for a click
    display: str  # as shown ("?")
    description: str
    enabled: bool

    @property
    def width(self) -> int:
        # " key " then "description"
        return cell_len(self.display) + 2 + cell_len(self.description)


def fit_keys(
    entries: list[KeyEntry], width: int, more: KeyEntry | None, palette: KeyEntry | None
) -> tuple[list[KeyEntry], KeyEntry | None]:
    """The entries that fit `width` in order, and what goes at the right edge: the
    palette key when everything fits with room to spare, else `more` (help) when
    some keys had to go."""
    total = sum(e.width + GAP for e in entries)
    if total <= width:
        if palette is not None and total + palette.width + GAP <= width:
            return entries, palette
        return entries, None
    room = width - (more.width + GAP if more is not None else 0)
    shown: list[KeyEntry] = []
    used = 0
    for entry in entries:
        if used + entry.width + GAP > room:
            break
        shown.append(entry)
        used += entry.width + GAP
    return shown, more


class KeyBar(Widget):
    """One line: ` key ` description, for each key of the screen that shows."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "key-bar--key",
        "key-bar--description",
        "key-bar--disabled-key",
        "key-bar--disabled",
    }

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-description-foreground;
        & > .key-bar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .key-bar--description { color: $footer-description-foreground; }
        & > .key-bar--disabled-key { color: $text-disabled; text-style: none; }
        & > .key-bar--disabled { color: $text-disabled; text-style: none; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._spans: list[tuple[int, int, str]] = []  # x from, x to, key

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if screen is self.screen:
            self.refresh()

    # -- what to show ---------------------------------------------------------------

    def entries(self) -> tuple[list[KeyEntry], KeyEntry | None, KeyEntry | None]:
        """The screen's keys in rank order, the help key, and the palette key."""
        app = self.app
        screen = self.screen
        ranked: list[tuple[int, int, KeyEntry]] = []
        help_entry: KeyEntry | None = None
        palette: KeyEntry | None = None
        seen: set[str] = set()
        order: tuple[str, ...] = getattr(screen, "KEY_ORDER", ())
        for position, (key, active) in enumerate(screen.active_bindings.items()):
            binding: Binding = active.binding
            # by action, not key: a user keymap may move either (tui/keymap.py)
            if binding.action.endswith("command_palette"):
                display = app.get_key_display(binding)
                palette = KeyEntry(key, display, binding.description or "palette", True)
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            entry = KeyEntry(key, app.get_key_display(binding), binding.description, active.enabled)
            if binding.action in HELP_ACTIONS:
                help_entry = entry
                continue
            rank = len(order)
            for name in (binding.id, binding.action):
                if name is not None and name in order:
                    rank = order.index(name)
                    break
            ranked.append((rank, position, entry))
        entries = [entry for _, _, entry in sorted(ranked, key=lambda r: (r[0], r[1]))]
        return entries, help_entry, palette

    # -- drawing --------------------------------------------------------------------

    def _styles(self) -> dict[str, Style]:
        return {
            name: self.get_component_rich_style(f"key-bar--{name}", partial=True)
            for name in ("key", "description", "disabled-key", "disabled")
        }

    def render(self) -> RenderResult:
        entries, help_entry, palette = self.entries()
        width = self.content_size.width or self.size.width
        more = None
        if help_entry is not None:
            more = KeyEntry(help_entry.key, help_entry.display, "more", True)
            entries = [*entries, help_entry]
        shown, right = fit_keys(entries, width, more, palette)
        styles = self._styles()
        text = Text(no_wrap=True, overflow="crop", end="")
        self._spans = []
        for entry in shown:
            self._append(text, entry, styles)
        if right is not None:
            pad = width - text.cell_len - right.width
            if right is palette and pad > 0:
                text.append(" " * pad)
            self._append(text, right, styles)
        return text

    def _append(self, text: Text, entry: KeyEntry, styles: dict[str, Style]) -> None:
        start = text.cell_len
        key_style = styles["key"] if entry.enabled else styles["disabled-key"]
        description_style = styles["description"] if entry.enabled else styles["disabled"]
        text.append(f" {entry.display} ", key_style)
        text.append(entry.description, description_style)
        text.append(" " * GAP)
        self._spans.append((start, text.cell_len, entry.key))

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                event.stop()
                self.app.simulate_key(key)
                return
