"""The `?` overlay: the keys of the screen it was opened on, grouped, and on the main
screen a short guide to the text query.

The content is data (`KEY_HELP` for the main screen, `INSTANCES_HELP`, `MARKET_HELP`,
`COMPARE_HELP`; a screen names its own in a `HELP` class attribute) so new keys are one
line each; the overlay lays the groups out two to a row, which keeps it inside 80x24
and scrolls when it grows past that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import ClassVar, Final

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.keys import format_key
from textual.screen import ModalScreen
from textual.widgets import Static

from gpucm.tui.keymap import keys_for

__all__ = [
    "BEST_OFFERS_HELP",
    "COMPARE_HELP",
    "CONFIRM_LAUNCH_HELP",
    "DISARM_HELP",
    "GB_OUT_HELP",
    "HELP_KEY",
    "INSTANCES_HELP",
    "INSTANCE_DETAIL_HELP",
    "KEY_HELP",
    "LAUNCH_FORM_HELP",
    "LOGS_HELP",
    "MARKET_HELP",
    "MARK_BAD_HELP",
    "OFFER_DETAIL_HELP",
    "PROMPT_HELP",
    "QUERY_HELP",
    "SAVE_FILTER_HELP",
    "TERMINATE_HELP",
    "WATCH_FORM_HELP",
    "HelpScreen",
    "KeyHelp",
    "key_text",
]

# (group title, [(keys, what they do)]). Keys are a template: `{id}` is a binding id
# (tui/keymap.py), drawn as the keys it answers to now, the user's [keymap] or the
# defaults ("{table.sort} / {table.reverse_sort}" -> "s / S"); other text is as is
# (tab and shift+tab are Textual's own focus keys).
KeyHelp = list[tuple[str, list[tuple[str, str]]]]

# Textual's own quit key, bound above every screen: the help names it where the
# screen gives gpucm's quit key to something else (q is "back" on the instance manager)
TEXTUAL_QUIT = "ctrl+q"


_APP_KEYS: list[tuple[str, str]] = [
    ("{app.palette}", "palette: filters, watch"),
    ("{app.help}", "this help"),
    ("{app.quit}", "quit"),
]

# the main screen's
KEY_HELP: KeyHelp = [
    (
        "Navigate",
        [
            ("{cursor.up} {cursor.down}", "move the cursor"),
            ("{cursor.top}", "first row"),
            ("{cursor.bottom}", "last row"),
            ("{cursor.page_up} {cursor.page_down}", "page up / down"),
            ("tab", "next pane"),
            ("shift+tab", "previous pane"),
            ("{table.focus}", "back to the table"),
        ],
    ),
    (
        "Search",
        [
            ("{table.query}", "text query (below)"),
            ("{table.filters}", "filter pane"),
            ("{table.charts}", "model detail, charts (cycles)"),
            ("{table.sort} / {table.reverse_sort}", "cycle the sort / reverse it"),
            ("{table.detail}", "offer details"),
        ],
    ),
    (
        "Act",
        [
            ("{table.mark}", "mark / unmark offer"),
            ("{table.unmark_all}", "unmark all"),
            ("{table.compare}", "compare marked offers"),
            ("{table.launch}", "launch the offer"),
            ("{table.instances}", "your instances"),
            ("{table.market}", "market stats, trends"),
            ("{table.refresh}", "refresh now"),
        ],
    ),
    ("App", _APP_KEYS),
]

INSTANCES_HELP: KeyHelp = [
    (
        "Navigate",
        [
            ("{cursor.up} {cursor.down}", "move the cursor"),
            ("{instances.detail}", "all about the machine"),
            ("{instances.all}", "show terminated too"),
            ("{instances.sync}", "sync now"),
            ("{instances.back}", "back to the offers"),
        ],
    ),
    (
        "Act",
        [
            ("{instances.ssh}", "ssh into it"),
            ("{instances.copy_ssh}", "copy the ssh command"),
            ("{instances.stop} / {instances.start}", "stop / start"),
            ("{instances.restart}", "restart"),
            ("{instances.terminate}", "terminate (type name)"),
            ("{instances.logs}", "logs, where there are"),
            ("{instances.mark_bad}", "bad host: hide its offers"),
        ],
    ),
    ("App", _APP_KEYS),
]

MARKET_HELP: KeyHelp = [
    (
        "Navigate",
        [
            ("{cursor.up} {cursor.down}", "move the cursor"),
            ("{cursor.top}", "first model"),
            ("{cursor.bottom}", "last model"),
            ("{columns.left} {columns.right}", "more columns"),
            ("{market.best}", "best offer per provider"),
            ("{market.back}", "back to the offers"),
        ],
    ),
    (
        "View",
        [
            ("{market.sort}", "sort: avail, median…"),
            ("{market.unit}", "$/GPU-h or $/h"),
            ("{market.window}", "trend: 24h, 7d, 30d"),
            ("{market.chart}", "next chart"),
        ],
    ),
    ("App", _APP_KEYS),
]

# A dialog (a modal screen) hides the app's bindings: of the app's keys only its own
# `?` (HELP_KEY) and Textual's ctrl+q, bound above every screen, answer there.
_DIALOG_APP_KEYS: list[tuple[str, str]] = [
    ("{app.help}", "this help"),
    (TEXTUAL_QUIT, "quit"),
]


_FIELD_KEYS: list[tuple[str, str]] = [
    ("tab", "next field"),
    ("shift+tab", "previous field"),
]


def _dialog(title: str, rows: list[tuple[str, str]]) -> KeyHelp:
    """A dialog's help: its own keys, then the app's few that answer there."""
    return [(title, rows), ("App", _DIALOG_APP_KEYS)]


COMPARE_HELP: KeyHelp = _dialog(
    "Compare",
    [
        ("{compare.previous} {compare.next}", "choose an offer"),
        ("{cursor.up} {cursor.down}", "scroll the rows"),
        ("{compare.launch}", "launch the offer chosen"),
        ("{compare.gb_out}", "GB out per hour (egress)"),
        ("{compare.close}", "close"),
    ],
)

OFFER_DETAIL_HELP: KeyHelp = _dialog(
    "Offer",
    [
        ("↑↓ pgup/dn", "scroll"),
        ("{detail.launch}", "launch this offer"),
        ("{detail.close}", "close"),
    ],
)

BEST_OFFERS_HELP: KeyHelp = _dialog(
    "Best offers",
    [
        ("{cursor.up} {cursor.down}", "choose an offer"),
        ("{best.more_hours} / {best.fewer_hours}", "more / fewer hours"),
        ("{best.launch}", "launch the offer chosen"),
        ("{best.close}", "close"),
    ],
)

# in a text field, letters (q among them) type: esc is the way out there
LAUNCH_FORM_HELP: KeyHelp = _dialog(
    "Launch form",
    [
        *_FIELD_KEYS,
        ("{launch.add_env}", "add an env variable"),
        ("{launch.review}", "review the price"),
        ("{launch.cancel}", "cancel (q: not in a field)"),
    ],
)

CONFIRM_LAUNCH_HELP: KeyHelp = _dialog(
    "Confirm launch",
    [
        ("tab shift+tab", "choose a button"),
        ("⏎", "press it: Launch spends"),
        ("{confirm.next_option}", "next option"),
        ("{confirm.back}", "back to the form"),
    ],
)

DISARM_HELP: KeyHelp = _dialog(
    "Disarm",
    [
        ("{disarm.confirm}", "disarm the watch"),
        ("tab shift+tab", "choose a button"),
        ("{confirm.back}", "back: nothing changes"),
    ],
)

SAVE_FILTER_HELP: KeyHelp = _dialog(
    "Save filter", [("⏎", "save it by that name"), ("{dialog.cancel}", "cancel")]
)

WATCH_FORM_HELP: KeyHelp = _dialog(
    "Watch",
    [
        *_FIELD_KEYS,
        ("space", "tick / untick a box"),
        ("⏎", "save the watch"),
        ("{dialog.cancel}", "cancel"),
    ],
)

PROMPT_HELP: KeyHelp = _dialog("Prompt", [("⏎", "use it"), ("{dialog.cancel}", "cancel")])

GB_OUT_HELP: KeyHelp = _dialog(
    "GB out per hour", [("⏎", "use it (0: not counted)"), ("{dialog.cancel}", "cancel")]
)

MARK_BAD_HELP: KeyHelp = _dialog(
    "Bad host", [("⏎", "remember it, with why"), ("{dialog.cancel}", "cancel")]
)

TERMINATE_HELP: KeyHelp = _dialog(
    "Terminate", [("⏎", "terminate, if the name matches"), ("{dialog.cancel}", "keep the machine")]
)

LOGS_HELP: KeyHelp = _dialog("Logs", [("↑↓ pgup/dn", "scroll"), ("{logs.close}", "close")])

INSTANCE_DETAIL_HELP: KeyHelp = _dialog(
    "Instance", [("↑↓ pgup/dn", "scroll"), ("{instance.close}", "close")]
)

# `?` on a dialog: a modal screen hides the app's own bindings from its keys, so each
# dialog binds the app's help action itself, under the app's id (a [keymap] moves both).
# f1 as well: in a text field `?` is a character and types, f1 is never taken.
HELP_KEY: Final = Binding("question_mark,f1", "app.help", "Help", show=False, id="app.help")

_PLACEHOLDER = re.compile(r"\{([a-z_.]+)\}")


def show_key(key: str) -> str:
    """One key for the help: the key bar's symbols (esc, ↑, ⏎, ?) with modifiers
    spelled out (ctrl+p, where the key bar has ^p)."""
    modifiers, plus, base = key.rpartition("+")
    return f"{modifiers}{plus}{format_key(base)}"


def key_text(
    template: str,
    keymap: Mapping[str, str],
    display: Callable[[str], str],
    taken: Mapping[str, str] | None = None,
    shadowed: Collection[str] = (),
) -> str:
    """A help row's keys as they are bound now: each `{id}` becomes its keys, shown
    as `display` shows one key and joined by "/" (`{cursor.up}` -> "↑/k"). `taken`:
    keys the keymap gave to another id of the same screen, which an unmapped id has
    lost (Textual gives the key to the mapped one); an id left with none shows "-".
    `shadowed`: the screen's own keys, which an app-wide id (`app.*`) does not get
    there (the screen's binding answers first)."""

    def keys(m: re.Match[str]) -> str:
        binding_id = m.group(1)
        own = keys_for(binding_id, keymap)
        if binding_id not in keymap and taken:
            own = [k for k in own if taken.get(k, binding_id) == binding_id]
        if binding_id.startswith("app."):
            own = [k for k in own if k not in shadowed]
            if not own and binding_id == "app.quit":
                own = [TEXTUAL_QUIT]
        return "/".join(display(k) for k in own) or "-"

    return _PLACEHOLDER.sub(keys, template)


def screen_keys(key_help: KeyHelp, keymap: Mapping[str, str]) -> set[str]:
    """The keys one screen's own ids (not the app-wide `app.*`) answer to now."""
    return {
        key
        for _title, rows in key_help
        for template, _what in rows
        for binding_id in _PLACEHOLDER.findall(template)
        if not binding_id.startswith("app.")
        for key in keys_for(binding_id, keymap)
    }


def taken_keys(key_help: KeyHelp, keymap: Mapping[str, str]) -> dict[str, str]:
    """The keys the keymap gives to the ids of one screen's help, and to which."""
    taken: dict[str, str] = {}
    for _title, rows in key_help:
        for template, _what in rows:
            for binding_id in _PLACEHOLDER.findall(template):
                for key in keymap.get(binding_id, "").split(","):
                    if key:
                        taken.setdefault(key, binding_id)
    return taken


# Lines of plain text, summarising the grammar in gpucm.domain.query.
QUERY_HELP: Final[list[str]] = [
    'gpu="RTX 4090",H100 price<2 vram>=24 region=Europe sort=-perf',
    "Each word is key=value (or < <= > >= for numbers); commas list values,",
    "quotes keep spaces. Keys: gpu category count price ram storage vram",
    "cuda perf rel region provider available fits hosts sort. rel: 0.95 or 95.",
    "sort=-key sorts descending (price, price_per_gpu, perf, value, ram, vram,",
    "storage...); the bare word `all` adds unavailable offers.",
    "fits=70B@bf16,ctx=32k,train: VRAM in all holds the model (see README);",
    "hosts=all also shows offers on hosts remembered as bad (gpucm hosts).",
]


class HelpScreen(ModalScreen[None]):
    """Keys and query syntax; escape, q or ? close it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > #help-dialog {
        width: 80;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        border-title-color: $primary;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen #help-body {
        height: auto;
        max-height: 100%;
        scrollbar-size-vertical: 1;
    }
    HelpScreen #help-keys {
        grid-size: 2;
        grid-columns: 1fr 1fr;
        grid-rows: auto;
        grid-gutter: 1 2;
        height: auto;
        margin-bottom: 1;
    }
    HelpScreen .help--group {
        height: auto;
    }
    HelpScreen .help--title {
        color: $accent;
        text-style: bold;
    }
    HelpScreen .help--row {
        height: 1;
    }
    HelpScreen .help--key {
        width: 11;
        color: $primary;
        text-style: bold;
    }
    HelpScreen .help--what {
        width: 1fr;
    }
    HelpScreen .help--query {
        color: $text-muted;
    }
    HelpScreen .help--example {
        color: $primary;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close", show=False, id="help.close"),
        Binding("down,j", "scroll('down')", "Scroll down", show=False, id="cursor.down"),
        Binding("up,k", "scroll('up')", "Scroll up", show=False, id="cursor.up"),
    ]

    def __init__(
        self,
        key_help: KeyHelp | None = None,
        *,
        title: str = "gpucm keys",
        query_help: bool | None = None,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id)
        self._key_help = KEY_HELP if key_help is None else key_help
        self._title = title
        # the query guide belongs with the main screen's keys
        self._query_help = key_help is None if query_help is None else query_help

    def _keys(self, template: str) -> str:
        keymap: Mapping[str, str] = getattr(self.app, "user_keymap", {})
        return key_text(
            template,
            keymap,
            show_key,
            taken_keys(self._key_help, keymap),
            screen_keys(self._key_help, keymap),
        )

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog") as dialog:
            dialog.border_title = self._title
            keymap: Mapping[str, str] = getattr(self.app, "user_keymap", {})
            closing = " / ".join(show_key(k) for k in keys_for("help.close", keymap))
            dialog.border_subtitle = f"{closing} close"
            with VerticalScroll(id="help-body"):
                with Grid(id="help-keys"):
                    for title, keys in self._key_help:
                        with Vertical(classes="help--group"):
                            yield Static(Content(title), classes="help--title")
                            for key, what in keys:
                                with Horizontal(classes="help--row"):
                                    yield Static(Content(self._keys(key)), classes="help--key")
                                    yield Static(Content(what), classes="help--what")
                if self._query_help:
                    yield Static(Content("Text query (/)"), classes="help--title")
                    yield Static(Content(QUERY_HELP[0]), classes="help--example")
                    yield Static(Content("\n".join(QUERY_HELP[1:])), classes="help--query")

    def on_mount(self) -> None:
        # focus the scroller so arrows and pgup/pgdn scroll when the help overflows
        self.query_one("#help-body", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll(self, direction: str) -> None:
        body = self.query_one("#help-body", VerticalScroll)
        if direction == "down":
            body.scroll_down(animate=False)
        else:
            body.scroll_up(animate=False)
