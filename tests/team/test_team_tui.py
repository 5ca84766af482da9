"""Team mode in the TUI, on a real PostgreSQL server: what another process sharing the
store launches shows in this TUI's instance manager as it commits, with who launched it,
and what it arms in the status bar (and on a one-user SQLite store, read again).

The two "processes" are two Services on one schema in this process, each with a store
of its own (its own sessions and NOTIFY origin), as tests/team/test_team.py does; the
user is told apart by LOGNAME, which whoami() reads. How fast the repaint comes is the
pg_notify benchmark's measure, not this test's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from gpucm.launch_template import LaunchTemplate
from gpucm.presets import Watch
from gpucm.services import Services, open_services
from gpucm.tui import watching
from gpucm.tui.app import GpucmApp
from gpucm.tui.screens.instances import InstancesScreen
from gpucm.tui.screens.main import MainScreen
from gpucm.tui.widgets.status_bar import StatusBar
from tests.conftest import launchable
from tests.tui.helpers import settle
from tests.tui.test_launch_and_instances import launch_directly, text_of


async def _services_of(user: str, url: str, monkeypatch: pytest.MonkeyPatch) -> Services:
    for var in ("LOGNAME", "USER"):
        monkeypatch.setenv(var, user)
    return await open_services(db=url, demo=True)


async def test_a_launch_by_another_user_shows_in_the_instance_manager_with_who(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await _services_of("alice", pg_url, monkeypatch)
    bob = await _services_of("bob", pg_url, monkeypatch)
    try:
        await alice.refresh()
        app = GpucmApp(bob, refresh=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("i")
            await settle(pilot)
            manager = app.screen
            assert isinstance(manager, InstancesScreen)
            assert manager.table.row_count == 0

            instance = await launch_directly(alice, await launchable(alice), "team-launch")
            deadline = time.monotonic() + 10
            while instance.id not in manager.instances:
                assert time.monotonic() < deadline, "the launch never showed"
                await asyncio.sleep(0.05)
            await settle(pilot)
            row = [cell.plain for cell in manager.table.get_row(instance.id)]
            assert any(cell.startswith("alice@") for cell in row), row
            assert text_of(manager, "#instances-spend").startswith("team: ")
            assert "launched by alice@" in text_of(manager, "#instances-detail")
    finally:
        await alice.aclose()
        await bob.aclose()


def _snipe(name: str) -> Watch:
    return Watch(name, 'gpu="RTX 4090"', launch=LaunchTemplate(max_price_per_hour=0.01))


async def _unarmed(app: GpucmApp, pilot: Pilot[None]) -> MainScreen:
    """The app's main screen, up, with no watch armed yet."""
    await settle(pilot)
    main = app.screen
    assert isinstance(main, MainScreen)
    assert app.armed_watches() == []
    return main


async def _until(pilot: Pilot[None], what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, f"{what} never showed"
        await asyncio.sleep(0.05)
    await settle(pilot)


async def test_another_members_arming_shows_in_the_status_bar_as_it_is_announced(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob arms and disarms in his process; alice's open TUI hears the `watches`
    announcement and shows it, with no timer to tick (the SQLite read interval made an
    hour, and a team store sets no timer at all)."""
    monkeypatch.setattr(watching, "ARMED_READ_SECONDS", 3600.0)
    alice = await _services_of("alice", pg_url, monkeypatch)
    bob = await _services_of("bob", pg_url, monkeypatch)
    try:
        app = GpucmApp(alice, refresh=False)
        async with app.run_test(size=(120, 40)) as pilot:
            main = await _unarmed(app, pilot)
            assert "armed-watches" not in [t.name for t in app._timers]

            await bob.armings.arm(_snipe("snipe"), "2026-11-26T12:00:00+00:00")
            await _until(pilot, "bob's arming", lambda: app.armed_watches() == ["bob"])
            assert "1 armed (1 by bob;" in str(main.query_one(StatusBar).render())

            await bob.armings.disarm("snipe")
            await _until(pilot, "bob's disarming", lambda: app.armed_watches() == [])
            assert "armed" not in str(main.query_one(StatusBar).render())
    finally:
        await alice.aclose()
        await bob.aclose()


async def test_an_arming_from_another_shell_shows_in_the_tui_on_a_one_user_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite has no channel between processes: the open TUI reads the armings again
    every ARMED_READ_SECONDS (made short here), so `gpucm watch add --launch` in a
    second shell shows."""
    monkeypatch.setattr(watching, "ARMED_READ_SECONDS", 0.1)
    db = tmp_path / "one.db"
    tui = await open_services(db=db, demo=True)
    shell = await open_services(db=db, demo=True)
    try:
        app = GpucmApp(tui, refresh=False)
        async with app.run_test(size=(120, 40)) as pilot:
            main = await _unarmed(app, pilot)
            await shell.armings.arm(_snipe("snipe"), "2026-11-26T12:00:00+00:00")
            await _until(pilot, "the arming", lambda: app.armed_watches() == [""])
            assert "1 armed" in str(main.query_one(StatusBar).render())
    finally:
        await tui.aclose()
        await shell.aclose()
