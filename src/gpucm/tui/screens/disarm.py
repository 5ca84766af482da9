"""The palette's "Disarm a watch…": the store's armed watches, anyone's, to choose one
from (a second palette; straight to the confirmation when only one is armed), then a
confirmation that names the watch, whose it is and what it would launch. Disarm goes
through the engine's one disarm (TuiWatches.disarm, `Armings.disarm` as `gpucm watch
disarm --owner`), for the arming shown: one fired, disarmed or armed again since it
was listed is said in one line, and nothing else changes. Back changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from gpucm.domain.query import QueryError, parse_query
from gpucm.engine.armings import ArmingError, watch_of
from gpucm.tui.commands import PaletteCommand, listed
from gpucm.tui.screens.help import DISARM_HELP, HELP_KEY
from gpucm.tui.text import clean

if TYPE_CHECKING:
    from gpucm.store.results import ArmedWatch
    from gpucm.tui.watching import TuiWatches

log = logging.getLogger(__name__)

__all__ = ["DisarmScreen", "arming_facts", "choose_to_disarm"]

Secrets = Callable[[], Iterable[str | None]]
NOTHING_ARMED = "Nothing is armed in this store: no watch launches without asking."
HINT = "enter: press the focused button   d: disarm   esc: back, it stays armed"


def _armed(row: ArmedWatch, who: str) -> str:
    """When it was armed, and by whom unless by `who` (this user, here)."""
    by = "" if row.armed_by == who else f" by {row.armed_by}"
    return f"armed {row.armed_at:%Y-%m-%d %H:%M} UTC{by}"


def _gpu(query_text: str) -> str:
    """The GPU a watch's filter asks for, as its query says it."""
    try:
        query = parse_query(query_text)
    except QueryError:
        return "?"
    if query.gpu_models:
        gpu = " or ".join(query.gpu_models)
    elif query.gpu_category is not None:
        gpu = f"any {query.gpu_category} GPU"
    else:
        gpu = "any GPU the filter matches"
    if query.min_gpu_count:
        gpu += f", {query.min_gpu_count} or more per machine"
    return gpu


def _most(row: ArmedWatch) -> str:
    """How many machines, at most at what price: what the arming's template says."""
    count = row.template.get("count", 1)
    ceiling = row.template.get("max_price_per_hour")
    price = f"${ceiling:.3f}/h" if isinstance(ceiling, int | float) else "?"
    return f"{count} x at most {price} all-in" + (" each" if count != 1 else "")


def _launches(row: ArmedWatch) -> tuple[str, str]:
    """(what it launches, its conditions), from the arming's own copy of the watch."""
    try:
        watch = watch_of(row)
    except ArmingError:  # written by another gpucm: what the row plainly says
        return f"{_most(row)} (armed by another gpucm version)", ""
    assert watch.launch is not None
    return watch.launch.describe(), " or ".join(watch.conditions())


def arming_facts(row: ArmedWatch, *, mine: bool, who: str) -> list[tuple[str, str]]:
    """The confirmation's facts: whose the watch is, the GPU, what it launches, when.
    `who`: this user@host."""
    launches, conditions = _launches(row)
    whose = "you" if mine else f"{row.owner}, not you"
    when = f"{row.query or 'any offer'} matches" + (f", {conditions}" if conditions else "")
    return [
        ("Owner", f"{whose} ({_armed(row, who)})"),
        ("GPU", _gpu(row.query)),
        ("Launches", launches),
        ("When", when),
    ]


def _choice(row: ArmedWatch, watches: TuiWatches) -> tuple[str, str]:
    """(title, help) of an arming in the list to choose from."""
    help_text = f"{_gpu(row.query)}: {_most(row)}; {_armed(row, watches.armings.who)}"
    return f"Disarm {watches.whose(row)}", help_text


async def choose_to_disarm(app: App[Any], watches: TuiWatches, secrets: Secrets) -> None:
    """Read the armed watches now (the status bar's may be a few seconds old), and
    offer them: nothing armed is one line; one armed goes straight to its
    confirmation; more open a palette of them."""
    try:
        await watches.read_armed()
    except Exception as exc:  # the store: one line, nothing opened
        log.warning("reading armed watches failed: %s", exc)
        app.notify(
            clean(f"Could not read the armed watches: {exc}", secrets()),
            title="Disarm",
            severity="error",
            markup=False,
        )
        return
    rows = list(watches.armed)
    if not rows:
        app.notify(NOTHING_ARMED, title="Disarm", markup=False)
        return
    if len(rows) == 1:
        _confirm(app, watches, rows[0], secrets)
        return
    commands = []
    for row in rows:
        title, help_text = _choice(row, watches)
        commands.append(
            PaletteCommand(title, help_text, partial(_confirm, app, watches, row, secrets))
        )
    app.push_screen(CommandPalette(providers=[listed(commands)], placeholder="Disarm which watch?"))


def _confirm(app: App[Any], watches: TuiWatches, row: ArmedWatch, secrets: Secrets) -> None:
    app.push_screen(DisarmScreen(watches, row, secrets))


class DisarmScreen(ModalScreen[bool]):
    """The confirmation: dismissed True once disarmed here, False on Back (nothing
    changed). An arming gone meanwhile, or a store error, is said in the dialog."""

    DEFAULT_CSS = """
    DisarmScreen {
        align: center middle;
        background: $background 60%;
        & > #disarm-dialog {
            width: 80;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: thick $error;
            background: $surface;
            padding: 0 1;
            scrollbar-size-vertical: 1;
        }
        & #disarm-note { color: $text-warning; margin-bottom: 1; }
        & #disarm-facts { margin-bottom: 1; }
        & #disarm-status { height: auto; display: none; }
        & #disarm-status.-said { display: block; }
        & #disarm-status.-failed { color: $text-error; text-style: bold; }
        & #disarm-status.-gone { color: $text-warning; text-style: bold; }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        # q too: the app's q would quit
        Binding("escape,q", "back", "Back", id="confirm.back"),
        Binding("d", "disarm", "Disarm", id="disarm.confirm"),
        HELP_KEY,
    ]
    HELP_TITLE = "disarm keys"
    KEYS_HELP = DISARM_HELP

    def __init__(self, watches: TuiWatches, row: ArmedWatch, secrets: Secrets) -> None:
        super().__init__()
        self.watches = watches
        self.row = row
        self.secrets = secrets
        self.mine = watches.armings.mine(row)
        self.busy = False  # the disarm is on its way: a second press asks nothing
        self.ended: str | None = None  # the arming was gone: what happened to it

    def compose(self) -> ComposeResult:
        row = self.row
        if self.mine:
            note = (
                "It stops launching; machines it launched keep running. Its definition "
                f"stays in filters.toml: gpucm watch arm {row.watch} arms it again."
            )
        else:
            note = (
                f"This is {row.owner}'s watch, not yours. Disarming stops it for everyone "
                f"sharing this store; the store records that you ({self.watches.armings.who})"
                f" disarmed it, and {row.owner} can arm it again."
            )
        with VerticalScroll(id="disarm-dialog", can_focus=False):
            yield Static(Text(f"Disarm {self.watches.whose(row)}?"), classes="dialog-title")
            yield Static(Text(note), id="disarm-note")
            yield Static(self._facts(), id="disarm-facts")
            with Vertical(classes="dialog-bottom"):
                yield Static("", id="disarm-status")
                with Horizontal(classes="dialog-buttons"):
                    yield Button(
                        "Disarm",
                        id="disarm-yes",
                        variant="error",
                        compact=True,
                        action="screen.disarm",
                    )
                    yield Button("Back", id="disarm-back", compact=True, action="screen.back")
                yield Static(HINT, id="disarm-hint", classes="dialog-hint", markup=False)

    def _facts(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for label, value in arming_facts(self.row, mine=self.mine, who=self.watches.armings.who):
            table.add_row(label, Text(value))
        return table

    def on_mount(self) -> None:
        self.query_one("#disarm-yes", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "disarm" and (self.busy or self.ended is not None):
            return None  # greyed: it is on its way, or there is nothing left to disarm
        return True

    def disabled_reason(self, action: str, _parameters: tuple[object, ...]) -> str | None:
        if action == "disarm":
            return self.ended or "Disarming: a moment."
        return None

    def action_back(self) -> None:
        self.dismiss(False)

    def action_disarm(self) -> None:
        if self.busy or self.ended is not None:
            return
        self.busy = True
        self.query_one("#disarm-yes", Button).disabled = True
        self._say("Disarming…", "")
        self.refresh_bindings()
        # the app's worker, not this screen's: esc while the store answers closes the
        # dialog without cutting the disarm short, and what it came to is still said
        self.app.run_worker(self._disarm(), group="disarm-watch", exit_on_error=False)

    async def _disarm(self) -> None:
        try:
            result = await self.watches.disarm(self.row)
        except Exception as exc:  # the store: one line; the arming is as it was
            log.warning("disarming %s/%s failed: %s", self.row.owner, self.row.watch, exc)
            self._after(clean(f"Not disarmed: the store failed: {exc}", self.secrets()), "-failed")
            return
        if result.disarmed:
            self.app.notify(result.line, title="Watch disarmed", markup=False)
            if self.is_attached:
                self.dismiss(True)
            return
        self.ended = result.line
        self._after(result.line, "-gone")

    def _after(self, line: str, kind: str) -> None:
        """The disarm did not happen: say why here, or in a note if the dialog was
        closed meanwhile. After a store error Disarm may be tried again; after an
        arming gone meanwhile only Close is left."""
        self.busy = False
        if not self.is_attached:
            self.app.notify(line, title="Disarm", severity="warning", markup=False)
            return
        self._say(line, kind)
        if self.ended is None:
            self.query_one("#disarm-yes", Button).disabled = False
        else:
            back = self.query_one("#disarm-back", Button)
            back.label = "Close"
            back.focus()
            self.query_one("#disarm-hint", Static).update("esc: close")
        self.refresh_bindings()

    def _say(self, line: str, kind: str) -> None:
        status = self.query_one("#disarm-status", Static)
        status.set_classes(f"-said {kind}")
        status.update(Text(line))
