"""The palette's "Disarm a watch…", on both store backends: one SQLite file both users
open (GPUCM_DB-like, a one-user store) and a team's PostgreSQL store. alice runs the
TUI; bob's armings are made through the engine with his own `who`, as his gpucm would.
Each test drives the real keys: ctrl+p, the palette's search, the dialog's keys."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandList, CommandPalette
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Button

from gpucm.engine.armings import Armings
from gpucm.launch_template import LaunchTemplate
from gpucm.presets import Watch
from gpucm.services import Services, open_services
from gpucm.tui import watching
from gpucm.tui.app import GpucmApp
from gpucm.tui.screens.disarm import NOTHING_ARMED, DisarmScreen
from gpucm.tui.screens.main import MainScreen
from gpucm.tui.screenshots import demo_services
from gpucm.tui.widgets.status_bar import StatusBar
from tests.tui.helpers import palette_settled, settle
from tests.tui.test_launch_and_instances import text_of

STAMP = "2026-11-26T12:00:00+00:00"


@pytest.fixture
async def alice(
    store_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Services]:
    """alice's gpucm on the test's store (her OS user read as the services open)."""
    for var in ("LOGNAME", "USER"):
        monkeypatch.setenv(var, "alice")
    # the status bar follows the store by announcement (a team) or by this timer
    # (SQLite): made an hour, what shows at once here is the disarm's own doing
    monkeypatch.setattr(watching, "ARMED_READ_SECONDS", 3600.0)
    services = await open_services(db=store_location, demo=True)
    yield services
    await services.aclose()


def bobs(services: Services) -> Armings:
    """bob's armings in the same store, as his own gpucm makes them."""
    return Armings(services.store.armed, who="bob@jumpbox-1")


def snipe(name: str = "snipe", query: str = 'gpu="RTX 4090"', **launch: object) -> Watch:
    template = LaunchTemplate(**{"max_price_per_hour": 0.45, **launch})  # type: ignore[arg-type]
    return Watch(name, query, price_at_or_under=0.4, launch=template)


async def up(app: GpucmApp, pilot: Pilot[None]) -> MainScreen:
    await settle(pilot)
    main = app.screen
    assert isinstance(main, MainScreen)
    await main.update_status().wait()
    return main


def status(main: MainScreen) -> str:
    return str(main.query_one(StatusBar).render())


async def palette(pilot: Pilot[None], typed: str) -> str:
    """Open the palette, type `typed`, and wait for its search to highlight a hit;
    returns the hit as shown (its title and help)."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*typed)
    listing = await _highlighted(pilot)
    assert listing.highlighted is not None
    return str(listing.get_option_at_index(listing.highlighted).prompt)


async def _highlighted(pilot: Pilot[None]) -> CommandList:
    screen = pilot.app.screen
    assert isinstance(screen, CommandPalette)
    return await palette_settled(screen, pilot)


async def bobs_dialog(alice: Services, app: GpucmApp, pilot: Pilot[None]) -> DisarmScreen:
    """The confirmation of bob's armed `snipe`, open in alice's app."""
    await bobs(alice).arm(snipe(), STAMP)
    await up(app, pilot)
    await open_disarm(pilot)
    dialog = app.screen
    assert isinstance(dialog, DisarmScreen)
    return dialog


async def open_disarm(pilot: Pilot[None]) -> None:
    """ctrl+p, "Disarm a watch…", enter."""
    await palette(pilot, "Disarm a watch")
    await pilot.press("enter")
    await settle(pilot)


def text(screen: DisarmScreen, selector: str) -> str:
    return text_of(screen, selector).strip()


def notes(app: GpucmApp) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]


async def test_disarming_your_own_watch(alice: Services) -> None:
    await alice.armings.arm(snipe(image="pytorch/pytorch"), STAMP)
    app = GpucmApp(alice, refresh=False)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        main = await up(app, pilot)
        assert "1 armed (launch when matched)" in status(main)
        await open_disarm(pilot)
        dialog = app.screen  # one armed: straight to its confirmation
        assert isinstance(dialog, DisarmScreen)
        assert text(dialog, ".dialog-title") == "Disarm your watch snipe?"
        facts = text(dialog, "#disarm-facts")
        # armed by her, here: "by" is said only of someone else (or another host)
        assert re.search(r"Owner +you \(armed \d{4}-\d\d-\d\d \d\d:\d\d UTC\) *\n", facts)
        assert "RTX 4090" in facts
        assert "1 x on-demand, at most $0.450/h all-in; image pytorch/pytorch" in facts
        assert "price <= $0.4/h" in facts
        await pilot.press("enter")  # Disarm has the focus
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        # the status bar says it at once: no timer ticked (an hour), no refresh
        assert "armed" not in status(main)
        assert app.armed_watches() == []
        (said,) = [m for t, m in notes(app) if t == "Watch disarmed"]
        assert said.startswith("Disarmed your watch snipe (by alice@")
    row = await alice.armings.get("snipe")
    assert row is not None and not row.is_armed
    assert row.disarm_reason == "manual" and (row.disarmed_by or "").startswith("alice@")


async def _until(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, f"{what} never showed"
        await asyncio.sleep(0.05)


async def test_disarming_another_members_watch_names_the_owner(alice: Services) -> None:
    bob = bobs(alice)
    await bob.arm(snipe("night", "gpu=H100 count>=8", max_price_per_hour=0.02, count=2), STAMP)
    await alice.armings.arm(snipe(), "2026-11-26T12:05:00+00:00")
    app = GpucmApp(alice, refresh=False)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        main = await up(app, pilot)
        assert "2 armed (1 by bob;" in status(main)
        entry = await palette(pilot, "Disarm a watch")
        assert entry.endswith("launches when matched: 2 armed (1 by bob)"), entry
        await pilot.press("enter")
        await settle(pilot)
        # two armed: a palette of them, each named with its owner, searchable by it
        listing = await _highlighted(pilot)
        shown = [str(listing.get_option_at_index(i).prompt) for i in range(2)]
        assert any("Disarm bob's watch night" in s for s in shown), shown
        assert any("Disarm your watch snipe" in s for s in shown), shown
        assert any(
            "H100, 8 or more per machine: 2 x at most $0.020/h all-in each" in s for s in shown
        )
        await pilot.press(*"bob")
        await pilot.pause()
        await _highlighted(pilot)
        await pilot.press("enter")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, DisarmScreen)
        assert text(dialog, ".dialog-title") == "Disarm bob's watch night?"
        assert text(dialog, "#disarm-note").startswith("This is bob's watch, not yours.")
        facts = text(dialog, "#disarm-facts")
        assert "bob, not you (armed " in facts and "by bob@jumpbox-1" in facts
        assert "H100, 8 or more per machine" in facts
        assert "2 x on-demand, at most $0.020/h all-in each ($0.040/h in all)" in facts
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.armed_watches() == [""]  # hers only: the status bar's count, at once
        assert "1 armed (launch when matched)" in status(main)
        assert "Disarmed bob's watch night (by alice@" in notes(app)[-1][1]
    night = await bob.get("night")
    assert night is not None and not night.is_armed
    assert night.disarm_reason == "manual" and (night.disarmed_by or "").startswith("alice@")
    mine = await alice.armings.get("snipe")
    assert mine is not None and mine.is_armed


@pytest.mark.parametrize("keys", [("escape",), ("q",), ("tab", "enter")])
async def test_back_changes_nothing(alice: Services, keys: tuple[str, ...]) -> None:
    """esc, q (not the app's quit) and the Back button all go back, and it stays armed."""
    app = GpucmApp(alice, refresh=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await bobs_dialog(alice, app, pilot)
        main = app.screen_stack[-2]
        await pilot.press(*keys)
        await settle(pilot)
        assert app.screen is main and app.is_running
        assert "1 armed (1 by bob;" in status(main)
        assert not any(t == "Watch disarmed" for t, _ in notes(app))
    row = await bobs(alice).get("snipe")
    assert row is not None and row.is_armed and row.disarmed_at is None


async def test_an_arming_fired_meanwhile_is_one_line_and_not_disarmed_twice(
    alice: Services,
) -> None:
    bob = bobs(alice)
    app = GpucmApp(alice, refresh=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        dialog = await bobs_dialog(alice, app, pilot)
        main = app.screen_stack[-2]
        # the team's refresher fires it while the dialog is open
        await alice.store.armed.disarm(
            "bob", "snipe", by="carol@refresher", reason="launched", was=STAMP
        )
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog  # it stays, saying what happened
        said = text(dialog, "#disarm-status")
        assert said.startswith("Nothing to disarm: bob's watch snipe fired meanwhile")
        assert "by carol@refresher" in said and "\n" not in said.strip()
        assert dialog.query_one("#disarm-yes", Button).disabled
        assert str(dialog.query_one("#disarm-back", Button).label) == "Close"
        await pilot.press("d")  # nothing left to disarm: nothing happens
        await settle(pilot)
        assert "armed" not in status(main)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is main
        assert not any(t == "Watch disarmed" for t, _ in notes(app))
    row = await bob.get("snipe")
    assert row is not None and row.disarmed_by == "carol@refresher"
    assert row.disarm_reason == "launched"


async def test_an_arming_made_again_meanwhile_stays_armed(alice: Services) -> None:
    """bob armed it again (a new stamp, perhaps a new price) after alice opened the
    dialog: what she confirmed is gone, and the new arming is not hers to stop unseen."""
    bob = bobs(alice)
    app = GpucmApp(alice, refresh=False)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        dialog = await bobs_dialog(alice, app, pilot)
        main = app.screen_stack[-2]
        await bob.arm(snipe(max_price_per_hour=0.9), "2026-11-26T13:00:00+00:00")
        await pilot.press("d")
        await settle(pilot)
        said = text(dialog, "#disarm-status")
        assert said.startswith("Not disarmed: bob's watch snipe was armed again meanwhile")
        assert "1 armed (1 by bob;" in status(main)
    row = await bob.get("snipe")
    assert row is not None and row.is_armed and row.template["max_price_per_hour"] == 0.9


async def test_nothing_armed_is_one_line_and_no_dialog(alice: Services) -> None:
    app = GpucmApp(alice, refresh=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        main = await up(app, pilot)
        entry = await palette(pilot, "Disarm a watch")
        assert entry.endswith("launches when matched: nothing is armed now"), entry
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is main
        assert notes(app) == [("Disarm", NOTHING_ARMED)]


@pytest.mark.sqlite_only
async def test_a_store_error_is_one_line_and_it_stays_armed(
    alice: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await alice.armings.arm(snipe(), STAMP)
    app = GpucmApp(alice, refresh=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await up(app, pilot)
        await open_disarm(pilot)
        dialog = app.screen
        assert isinstance(dialog, DisarmScreen)

        async def broken(*_args: object, **_kwargs: object) -> bool:
            raise OSError("disk I/O error\nat line 2")

        monkeypatch.setattr(alice.store.armed, "disarm", broken)
        await pilot.press("d")
        await settle(pilot)
        assert app.screen is dialog
        said = text(dialog, "#disarm-status")
        assert said == "Not disarmed: the store failed: disk I/O error at line 2"
        assert not dialog.query_one("#disarm-yes", Button).disabled  # it may be tried again
    row = await alice.armings.get("snipe")
    assert row is not None and row.is_armed


async def test_in_a_team_every_other_open_tui_shows_it_at_once(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice disarms bob's watch in her TUI; bob's open TUI (his own process: his own
    store and sessions) hears it on the `watches` topic and its status bar says so,
    with no timer to tick, and a note says who stopped it."""
    monkeypatch.setattr(watching, "ARMED_READ_SECONDS", 3600.0)
    opened = []
    for user in ("bob", "alice"):
        for var in ("LOGNAME", "USER"):
            monkeypatch.setenv(var, user)
        opened.append(await open_services(db=pg_url, demo=True))
    bob, alice = opened
    try:
        await bob.armings.arm(snipe(), STAMP)
        bobs_app = GpucmApp(bob, refresh=False)
        alices_app = GpucmApp(alice, refresh=False)
        async with bobs_app.run_test(size=(120, 40), notifications=True) as bobs_pilot:
            bobs_main = await up(bobs_app, bobs_pilot)
            assert "1 armed (launch when matched)" in status(bobs_main)
            async with alices_app.run_test(size=(120, 40)) as pilot:
                await up(alices_app, pilot)
                await open_disarm(pilot)
                assert isinstance(alices_app.screen, DisarmScreen)
                await pilot.press("d")
                await settle(pilot)
                assert alices_app.armed_watches() == []
            await _until("alice's disarming", lambda: bobs_app.armed_watches() == [])
            await settle(bobs_pilot)
            assert "armed" not in status(bobs_main)
            # and bob is told who stopped it
            ((title, said),) = notes(bobs_app)
            assert title == "Watch disarmed"
            assert said.startswith("alice@") and " disarmed your watch snipe: " in said
    finally:
        await alice.aclose()
        await bob.aclose()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_dialog_for_another_members_watch(
    snap_compare: Callable[..., bool], monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    """The confirmation of bob's watch as alice sees it, at both sizes: it fits, and
    its long lines wrap inside it."""
    for var in ("LOGNAME", "USER"):
        monkeypatch.setenv(var, "alice")
    monkeypatch.setattr(socket, "gethostname", lambda: "jumpbox-2")  # alice@jumpbox-2

    async def services() -> Services:
        opened = await demo_services()
        night = snipe(
            "night", "gpu=H100 count>=8", max_price_per_hour=2.5, count=2,
            image="nvcr.io/nvidia/pytorch:24.05-py3", disk_gb=200, env=("HF_TOKEN",),
        )  # fmt: skip
        await bobs(opened).arm(night, STAMP)
        await opened.armings.arm(snipe(), "2026-11-26T12:05:00+00:00")
        return opened

    app = GpucmApp(services, refresh=False, cursor_blink=False)

    async def before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await open_disarm(pilot)
        await _highlighted(pilot)
        await pilot.press(*"bob")
        await pilot.pause()
        await _highlighted(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DisarmScreen)
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.sqlite_only
async def test_the_owner_is_told_who_disarmed_their_watch_on_a_shared_file(
    alice: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One SQLite file two users open: bob's `gpucm watch disarm snipe --owner alice`
    shows in alice's TUI at its next read (made short here), naming bob; her own
    disarming in another shell says nothing (she knows)."""
    monkeypatch.setattr(watching, "ARMED_READ_SECONDS", 0.1)
    await alice.armings.arm(snipe(), STAMP)
    await alice.armings.arm(snipe("mine"), STAMP)
    app = GpucmApp(alice, refresh=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await up(app, pilot)
        assert app.armed_watches() == ["", ""]
        await bobs(alice).disarm("snipe", owner="alice")
        await alice.armings.disarm("mine")
        await _until("the disarmings", lambda: app.armed_watches() == [])
        await settle(pilot)
        assert notes(app) == [
            (
                "Watch disarmed",
                "bob@jumpbox-1 disarmed your watch snipe: it launches nothing"
                " (gpucm watch arm snipe arms it again).",
            )
        ]


@pytest.mark.sqlite_only
async def test_esc_while_the_store_answers_closes_and_the_disarm_still_lands(
    alice: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once Disarm is pressed it is not cut short: esc closes the dialog, the disarm
    lands, and a note says so."""
    await alice.armings.arm(snipe(), STAMP)
    answer = asyncio.Event()
    disarm = alice.store.armed.disarm

    async def slow(*args: Any, **kwargs: Any) -> bool:
        await answer.wait()
        return await disarm(*args, **kwargs)

    monkeypatch.setattr(alice.store.armed, "disarm", slow)
    app = GpucmApp(alice, refresh=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        main = await up(app, pilot)
        await open_disarm(pilot)
        dialog = app.screen
        assert isinstance(dialog, DisarmScreen)
        await pilot.press("d")
        await pilot.pause()
        assert text(dialog, "#disarm-status") == "Disarming…"
        await pilot.press("d")  # a second press disarms nothing more
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is main
        answer.set()
        await settle(pilot)
        assert "armed" not in status(main)
        (busy, (title, said)) = notes(app)
        assert busy == ("", "Disarming: a moment.")  # the second press: greyed, and why
        assert title == "Watch disarmed" and said.startswith("Disarmed your watch snipe")
    row = await alice.armings.get("snipe")
    assert row is not None and not row.is_armed


async def test_a_query_with_brackets_is_text_in_the_list_and_the_dialog(alice: Services) -> None:
    """The palette reads a hit's help as markup: a GPU named with brackets in a watch's
    query must show as typed, not break the palette."""
    odd = 'gpu="RTX [/] 4090 [b]"'
    await bobs(alice).arm(snipe("odd", odd), STAMP)
    await alice.armings.arm(snipe(), STAMP)
    app = GpucmApp(alice, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await up(app, pilot)
        await open_disarm(pilot)
        listing = await _highlighted(pilot)
        await settle(pilot)
        helps = [listing.get_option_at_index(i).hit.help for i in range(2)]
        assert any("RTX [/] 4090 [b]:" in Content.from_markup(h or "").plain for h in helps)
        await pilot.press(*"bob", "enter")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, DisarmScreen)
        assert "RTX [/] 4090 [b]" in text(dialog, "#disarm-facts")
