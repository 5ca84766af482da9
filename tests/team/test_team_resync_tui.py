"""A TUI whose team listening session was lost, on a real PostgreSQL server: what
another member did while it was not listening (a launch, an arming, a refresh round)
shows once it listens again, with no later event to carry it.

As in tests/team/test_team_tui.py the two members are two Services on one schema in
this process. bob's listening session is ended from another connection and his
reconnection held (tests/team/test_team_resync.py) until alice's changes committed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from textual.pilot import Pilot

from gpucm.domain.models import SearchQuery
from gpucm.services import Services
from gpucm.tui import watching
from gpucm.tui.app import GpucmApp
from gpucm.tui.screens.instances import InstancesScreen
from gpucm.tui.screens.main import MainScreen
from gpucm.tui.widgets.status_bar import StatusBar
from tests.conftest import launchable
from tests.team.test_team_resync import Gate, end_listening_session
from tests.team.test_team_tui import _services_of, _snipe
from tests.tui.helpers import settle
from tests.tui.test_launch_and_instances import launch_directly


async def until(pilot: Pilot[None], what: str, done: Callable[[], object]) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, f"{what} never showed"
        await pilot.pause(0.05)


async def lose_the_session(pg_url: str, services: Services, gate: Gate) -> None:
    """End the listening session of `services`' store; its reconnection waits at the
    gate until the test opens it."""
    gate.open.clear()
    await end_listening_session(pg_url, services.store)
    deadline = time.monotonic() + 10
    while not gate.tries:
        assert time.monotonic() < deadline, "no reconnection was tried"
        await asyncio.sleep(0.02)


@pytest.fixture
async def alice_and_bob(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Services, Services]]:
    alice = await _services_of("alice", pg_url, monkeypatch)
    bob = await _services_of("bob", pg_url, monkeypatch)
    try:
        yield alice, bob
    finally:
        await alice.aclose()
        await bob.aclose()


async def test_a_launch_and_an_arming_made_in_the_gap_show_after_the_resync(
    pg_url: str, alice_and_bob: tuple[Services, Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watching, "ARMED_READ_SECONDS", 3600.0)
    alice, bob = alice_and_bob
    await alice.refresh()
    app = GpucmApp(bob, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        await pilot.press("i")
        await settle(pilot)
        manager = app.screen
        assert isinstance(manager, InstancesScreen)
        # its 2 s poll of the demo provider stopped: only the team repaints it now
        app.follow_instances(False)
        gate = Gate(bob.store, monkeypatch)

        await lose_the_session(pg_url, bob, gate)
        instance = await launch_directly(alice, await launchable(alice), "in-the-gap")
        await alice.armings.arm(_snipe("snipe"), "2026-11-26T12:00:00+00:00")
        await pilot.pause(0.3)
        await settle(pilot)
        assert instance.id not in manager.instances
        assert app.armed_watches() == []

        gate.open.set()
        await until(pilot, "alice's launch", lambda: instance.id in manager.instances)
        await until(pilot, "alice's arming", lambda: app.armed_watches() == ["alice"])
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is main
        assert "1 armed (1 by alice;" in str(main.query_one(StatusBar).render())


async def test_a_refresh_round_landed_in_the_gap_shows_in_the_offer_table(
    pg_url: str, alice_and_bob: tuple[Services, Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob's refresh workers follow alice, the team's refresher: her round in the gap
    was announced to no one, and bob's table shows it after the resync."""
    alice, bob = alice_and_bob
    assert alice.team is not None and await alice.team.try_lead()
    await alice.refresh()
    app = GpucmApp(bob)  # refresh workers on: following alice's rounds
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, "the main screen", lambda: isinstance(app.screen, MainScreen))
        main = app.screen
        assert isinstance(main, MainScreen)
        table = main.table

        def first_rows() -> list[tuple[str, float]]:
            return [(r.id, r.price_per_hour) for r in table.visible_rows()[:10]]

        async def stored() -> list[tuple[str, float]]:
            page = await bob.store.search(SearchQuery(limit=10))
            return [(o.id, o.price_per_hour) for o in page.offers]

        before = await stored()
        await until(pilot, "the first rows", lambda: first_rows() == before)
        assert bob.team is not None and not bob.team.leading
        gate = Gate(bob.store, monkeypatch)

        await lose_the_session(pg_url, bob, gate)
        moved: list[tuple[str, float]] = before
        for _ in range(5):  # demo rounds until the cheapest offers move
            await alice.refresh()
            moved = await stored()
            if moved != before:
                break
        assert moved != before
        await pilot.pause(0.3)
        assert first_rows() == before  # stale: the round was announced to no one

        gate.open.set()
        await until(pilot, "alice's round", lambda: first_rows() == moved)
