"""The main screen's model detail reads the store only while it is on screen: hidden
with `d` (or not opened on a narrow screen), cursor moves and refreshes read nothing;
shown again, it reads once, for the offer highlighted now, and follows the cursor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from gpucm.services import Services
from gpucm.tui.app import GpucmApp
from gpucm.tui.screens.main import MainScreen
from gpucm.tui.widgets.model_detail import ModelDetail
from gpucm.tui.widgets.offer_table import OfferTable
from tests.tui.helpers import settle


def count_reads(monkeypatch: pytest.MonkeyPatch, services: Services) -> list[str]:
    """The model of each price read of the real store from now on (the main screen
    hands the store's reader to the pane as it mounts it: call before the app runs)."""
    reads: list[str] = []
    real: Callable[[str], Awaitable[Any]] = services.store.model_offers

    async def counted(gpu_model: str) -> Any:
        reads.append(gpu_model)
        return await real(gpu_model)

    monkeypatch.setattr(services.store, "model_offers", counted)
    return reads


def parts(app: GpucmApp) -> tuple[OfferTable, ModelDetail]:
    screen = app.screen
    assert isinstance(screen, MainScreen)
    return screen.table, screen.query_one(ModelDetail)


def highlighted(table: OfferTable) -> str:
    row = table.highlighted
    assert row is not None
    return row.gpu_model


async def move_to_another_model(pilot: Pilot[None], table: OfferTable) -> str:
    """Press j until the highlighted offer is of another GPU model than now."""
    start = highlighted(table)
    for _ in range(60):
        await pilot.press("j")
        if highlighted(table) != start:
            await settle(pilot)
            return highlighted(table)
    raise AssertionError(f"no other model below {start}")


async def test_hidden_detail_reads_nothing_and_catches_up_when_shown(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = count_reads(monkeypatch, services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table, detail = parts(app)
        first = highlighted(table)
        assert reads == [first]
        assert detail.view.model == first and detail.view.prices

        await pilot.press("d")  # hide the insight pane
        await settle(pilot)
        assert not app.screen.query_one("#insight").display
        seen = detail.view
        moved = await move_to_another_model(pilot, table)
        await move_to_another_model(pilot, table)
        await pilot.press("r")  # a refresh lands: the pane would read its model again
        await settle(pilot)
        assert reads == [first]
        assert detail.view is seen  # nor redrawn

        await pilot.press("k")  # somewhere else again, still hidden
        await settle(pilot)
        now = highlighted(table)
        await pilot.press("d")
        await settle(pilot)
        assert app.screen.query_one("#insight").display
        assert reads == [first, now]
        assert detail.view.model == now and detail.view.prices is not None
        assert detail.plain_text.splitlines()[0].startswith(now)

        # shown: it follows the cursor again, one read where the cursor stops
        nxt = await move_to_another_model(pilot, table)
        assert reads[-1] == nxt and len(reads) == 3
        assert detail.view.model == nxt
        assert moved  # (the hidden moves did reach other models)


async def test_a_narrow_screen_reads_for_the_detail_only_once_it_is_opened(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 80 columns the insight pane opens on demand: `d` cycles detail, charts,
    hidden. Only the detail's turn reads its prices."""
    reads = count_reads(monkeypatch, services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table, detail = parts(app)
        await move_to_another_model(pilot, table)
        assert reads == []

        await pilot.press("d")  # the detail
        await settle(pilot)
        assert reads == [highlighted(table)]
        assert detail.view.model == highlighted(table)

        await pilot.press("d")  # the charts in its place
        await settle(pilot)
        await move_to_another_model(pilot, table)
        await pilot.press("r")
        await settle(pilot)
        assert len(reads) == 1

        await pilot.press("d", "d")  # hidden, then the detail again
        await settle(pilot)
        assert reads[1:] == [highlighted(table)]
        assert detail.view.model == highlighted(table)
