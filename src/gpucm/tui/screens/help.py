"""The `?` overlay: the keys of the screen it was opened on, grouped, and on the main
screen a short guide to the text query.

The content is data (`KEY_HELP` for the main screen, `INSTANCES_HELP`, `MARKET_HELP`,
`COMPARE_HELP`; a screen names its own in a `HELP` class attribute) so new keys are one
line each; the overlay lays the groups out two to a row, which keeps it inside 80x24
and scrolls when it grows past that.
"""

from __future__ import annotations

from typing import ClassVar, Final

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = [
    "COMPARE_HELP",
    "INSTANCES_HELP",
    "KEY_HELP",
    "MARKET_HELP",
    "QUERY_HELP",
    "HelpScreen",
    "KeyHelp",
]

# (group title, [(keys as shown, what they do)])
KeyHelp = list[tuple[str, list[tuple[str, str]]]]

_APP_KEYS: list[tuple[str, str]] = [
    ("ctrl+p", "palette: filters, watch"),
    ("?", "this help"),
    ("q", "quit"),
]

# the main screen's
KEY_HELP: KeyHelp = [
    (
        "Navigate",
        [
            ("↑ ↓  j k", "move the cursor"),
            ("g  G", "first / last row"),
            ("pgup pgdn", "page up / down"),
            ("tab", "next pane"),
            ("shift+tab", "previous pane"),
            ("escape", "back to the table"),
        ],
    ),
    (
        "Search",
        [
            ("/", "text query (below)"),
            ("f", "filter pane"),
            ("d", "model detail, charts (cycles)"),
            ("s / S", "cycle the sort / reverse it"),
            ("enter", "offer details"),
        ],
    ),
    (
        "Act",
        [
            ("space", "mark / unmark offer"),
            ("u", "unmark all"),
            ("c", "compare marked offers"),
            ("L", "launch the offer"),
            ("i", "your instances"),
            ("m", "market stats, trends"),
            ("r", "refresh now"),
        ],
    ),
    ("App", _APP_KEYS),
]

INSTANCES_HELP: KeyHelp = [
    (
        "Navigate",
        [
            ("↑ ↓  j k", "move the cursor"),
            ("enter", "all about the machine"),
            ("a", "show terminated too"),
            ("r", "sync now"),
            ("esc", "back to the offers"),
        ],
    ),
    (
        "Act",
        [
            ("s", "ssh into it"),
            ("y", "copy the ssh command"),
            ("x / u", "stop / start"),
            ("R", "restart"),
            ("t", "terminate (type name)"),
            ("l", "logs, where there are"),
            ("b", "bad host: hide its offers"),
        ],
    ),
    ("App", _APP_KEYS),
]

MARKET_HELP: KeyHelp = [
    (
        "Navigate",
        [
            ("↑ ↓  j k", "move the cursor"),
            ("g  G", "first / last model"),
            ("← →", "more columns"),
            ("enter", "best offer per provider"),
            ("esc / m", "back to the offers"),
        ],
    ),
    (
        "View",
        [
            ("s", "sort: avail, median…"),
            ("u", "$/GPU-h or $/h"),
            ("w", "trend: 24h, 7d, 30d"),
            ("t", "next chart"),
        ],
    ),
    ("App", _APP_KEYS),
]

COMPARE_HELP: KeyHelp = [
    (
        "Compare",
        [
            ("← →  h l", "choose an offer"),
            ("↑ ↓  j k", "scroll the rows"),
            ("L", "launch the offer chosen"),
            ("g", "GB out per hour (egress)"),
            ("esc / c", "close"),
        ],
    ),
    ("App", _APP_KEYS),
]

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
        Binding("escape", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
        Binding("question_mark", "close", "Close", show=False),
        Binding("j", "scroll('down')", "Scroll down", show=False),
        Binding("k", "scroll('up')", "Scroll up", show=False),
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

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog") as dialog:
            dialog.border_title = self._title
            dialog.border_subtitle = "esc / q / ? close"
            with VerticalScroll(id="help-body"):
                with Grid(id="help-keys"):
                    for title, keys in self._key_help:
                        with Vertical(classes="help--group"):
                            yield Static(Content(title), classes="help--title")
                            for key, what in keys:
                                with Horizontal(classes="help--row"):
                                    yield Static(Content(key), classes="help--key")
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
