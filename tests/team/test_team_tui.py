"""Team mode in the TUI, on a real PostgreSQL server: what another process sharing the
store launches shows in this TUI's instance manager as it commits, with who launched it.

The two "processes" are two Services on one schema in this process, each with a store
of its own (its own sessions and NOTIFY origin), as tests/team/test_team.py does; the
user is told apart by LOGNAME, which whoami() reads. How fast the repaint comes is the
pg_notify benchmark's measure, not this test's."""

from __future__ import annotations

import asyncio
import time

import pytest

from gpucm.services import Services, open_services
from gpucm.tui.app import GpucmApp
from gpucm.tui.screens.instances import InstancesScreen
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
