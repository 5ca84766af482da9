"""`?` on every screen and dialog opens the help of that screen: its own keys, as the
user's keymap binds them, never the main screen's and never nothing. A dialog (a modal
screen) hides the app's bindings, so each binds the help key itself; where a text field
has the focus `?` is a character and types, and the help is on the key the keymap adds.

Each screen is reached the way a user reaches it (the real keys from the main screen),
except where the data it needs would take a test of its own (logs, save filter, watch)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from textual.binding import Binding, BindingsMap
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input

from gpucm.services import Services
from gpucm.tui.app import GpucmApp
from gpucm.tui.keymap import check_keymap
from gpucm.tui.screens.best_offers import BestOffersScreen
from gpucm.tui.screens.compare import CompareScreen
from gpucm.tui.screens.disarm import DisarmScreen
from gpucm.tui.screens.gb_out import GbOutScreen
from gpucm.tui.screens.help import HelpScreen, KeyHelp, key_text, show_key
from gpucm.tui.screens.instance_detail import InstanceDetailScreen
from gpucm.tui.screens.instances import InstancesScreen
from gpucm.tui.screens.launch_confirm import ConfirmLaunchScreen
from gpucm.tui.screens.launch_form import LaunchScreen
from gpucm.tui.screens.logs import LogsScreen
from gpucm.tui.screens.main import MainScreen
from gpucm.tui.screens.mark_bad import MarkBadScreen
from gpucm.tui.screens.offer_detail import OfferDetailScreen
from gpucm.tui.screens.presets import SaveFilterScreen, WatchFormScreen
from gpucm.tui.screens.stats import StatsScreen
from gpucm.tui.screens.terminate import TerminateScreen
from tests.tui.helpers import help_rows, settle
from tests.tui.test_disarm import STAMP, bobs, open_disarm, snipe

# one of a dialog's keys moved, which its help must show where it is now
KEYMAP = check_keymap({"disarm.confirm": "D"})


def _ids(bindings: BindingsMap) -> set[str]:
    """The binding ids of these keys (the help key aside)."""
    return {b.id for _key, b in bindings if isinstance(b, Binding) and b.id and b.id != "app.help"}


def _answering_ids(screen: Screen[object]) -> set[str]:
    """The ids of every key that answers on the screen: its own and its focused
    widget's (a table's cursor keys), the app's aside."""
    return {
        i
        for node, bindings in screen._binding_chain
        if node is not screen.app
        for i in _ids(bindings)
    }


def _help_ids(key_help: KeyHelp) -> set[str]:
    import re

    return {
        found
        for _title, rows in key_help
        for template, _what in rows
        for found in re.findall(r"\{([a-z_.]+)\}", template)
    }


async def _check_help(pilot: Pilot[None], kind: type[Screen[object]]) -> dict[str, str]:
    """Press `?` on the screen in front (a `kind`); its help opens, naming its keys."""
    app = pilot.app
    assert isinstance(app, GpucmApp)
    screen = app.screen
    assert isinstance(screen, kind), (kind, screen)
    focused = screen.focused
    await pilot.press("question_mark")
    await settle(pilot)
    if isinstance(focused, Input):
        # a text field takes `?` as a character: it typed, and the help is on f1
        assert app.screen is screen and focused.value.endswith("?"), focused.value
        await pilot.press("f1")
        await settle(pilot)
    help_screen = app.screen
    assert isinstance(help_screen, HelpScreen), (kind, help_screen)
    key_help: KeyHelp = kind.KEYS_HELP
    assert help_screen.query_one("#help-dialog").border_title == kind.HELP_TITLE
    rows = help_rows(app)
    # every key of the screen is in its help, and the help names no other screen's
    own = _ids(screen._bindings)
    named = {i for i in _help_ids(key_help) if not i.startswith("app.")}
    assert own <= named, (kind, own - named)
    assert named <= _answering_ids(screen), (kind, named - _answering_ids(screen))
    for binding_id in own:
        shown = key_text(f"{{{binding_id}}}", KEYMAP, show_key)
        assert any(shown in k.split(" ") or shown == k for k in rows) or any(
            shown in k for k in rows
        ), (kind, binding_id, shown, rows)
    assert "/" not in rows  # the main screen's text query
    assert rows["?/f1"] == "this help"
    await pilot.press("escape")
    await settle(pilot)
    assert app.screen is screen
    return rows


async def test_question_mark_opens_the_help_of_every_screen_and_dialog(
    services: Services, tmp_path: Path
) -> None:
    app = GpucmApp(services, refresh=False, keymap=KEYMAP)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        # the offer's detail, then its launch form and the confirmation
        await pilot.press("enter")
        await settle(pilot)
        await _check_help(pilot, OfferDetailScreen)
        await pilot.press("L")
        await settle(pilot)
        await _check_help(pilot, LaunchScreen)
        await pilot.press("ctrl+r")
        await settle(pilot)
        await _check_help(pilot, ConfirmLaunchScreen)
        # launched: the instance manager, a machine's detail, terminate, bad host
        app.screen.query_one("#lc-launch").focus()
        await pilot.press("enter")
        await settle(pilot)
        await _check_help(pilot, InstancesScreen)
        manager = app.screen
        assert isinstance(manager, InstancesScreen) and manager.current is not None
        await pilot.press("enter")
        await settle(pilot)
        await _check_help(pilot, InstanceDetailScreen)
        await pilot.press("escape", "t")
        await settle(pilot)
        await _check_help(pilot, TerminateScreen)
        await pilot.press("escape", "b")
        await settle(pilot)
        await _check_help(pilot, MarkBadScreen)
        await pilot.press("escape")
        await settle(pilot)
        await app.push_screen(LogsScreen("m-1", "booting\nready"))
        await settle(pilot)
        await _check_help(pilot, LogsScreen)
        while not isinstance(app.screen, MainScreen):  # the manager, the offer's detail
            await pilot.press("escape")
            await settle(pilot)
        # compare two offers, and its GB out
        await pilot.press("space", "j", "space", "c")
        await settle(pilot)
        await _check_help(pilot, CompareScreen)
        await pilot.press("g")
        await settle(pilot)
        await _check_help(pilot, GbOutScreen)
        await pilot.press("escape", "escape")
        await settle(pilot)
        # the market, and its best offers per provider
        await pilot.press("m")
        await settle(pilot)
        rows = await _check_help(pilot, StatsScreen)
        assert rows["u"] == "$/GPU-h or $/h"
        await pilot.press("enter")
        await settle(pilot)
        await _check_help(pilot, BestOffersScreen)
        await pilot.press("escape", "escape")
        await settle(pilot)
        # the filter dialogs
        await app.push_screen(SaveFilterScreen('gpu="RTX 4090"', tmp_path / "filters.toml"))
        await settle(pilot)
        await _check_help(pilot, SaveFilterScreen)
        await pilot.press("escape")
        await app.push_screen(WatchFormScreen('gpu="RTX 4090"', tmp_path / "filters.toml"))
        await settle(pilot)
        await _check_help(pilot, WatchFormScreen)
        await pilot.press("escape")
        await settle(pilot)
        # an armed watch, disarmed from the palette: d moved to D, and its help says so
        await bobs(services).arm(snipe(), STAMP)
        await open_disarm(pilot)
        rows = await _check_help(pilot, DisarmScreen)
        assert rows["D"] == "disarm the watch" and "d" not in rows


async def test_a_dialog_over_a_dialog_shows_the_keys_of_the_one_in_front(
    services: Services,
) -> None:
    """The instance detail's help, not the manager's under it (nor the main screen's)."""
    from gpucm.domain.models import Instance

    machine = Instance(id="d:1", provider="vast_ai", provider_id="1", status="running")
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.push_screen(InstanceDetailScreen(machine, datetime(2026, 1, 1, tzinfo=UTC)))
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        rows = help_rows(app)
        assert rows == {
            "↑↓ pgup/dn": "scroll",
            "esc/q/⏎": "close",
            "?/f1": "this help",
            "ctrl+q": "quit",
        }
