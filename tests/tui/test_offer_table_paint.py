"""A filter change's rows are drawn as soon as they land, not at the screen's next
update tick, and the table is counted only after they are drawn."""

from __future__ import annotations

import asyncio

import pytest

from gpucm.domain.models import SearchQuery
from gpucm.services import Services
from gpucm.tui.app import GpucmApp
from gpucm.tui.screens.main import MainScreen
from gpucm.tui.widgets.offer_table import OfferTable
from tests.tui.helpers import settle


async def test_new_rows_are_drawn_without_the_update_timer(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[tuple[int, str]] = []  # (the table's loaded generation, row 1's text)
    original = OfferTable.render_line

    def render_line(self: OfferTable, y: int):  # type: ignore[no-untyped-def]
        strip = original(self, y)
        if y == 1:
            drawn.append((self.loaded_generation, "".join(s.text for s in strip)))
        return strip

    monkeypatch.setattr(OfferTable, "render_line", render_line)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        # the screen's update timer never ticks again (Pilot.pause would draw a frame
        # itself: only asyncio.sleep from here)
        timer = main._update_timer
        timer.pause()
        monkeypatch.setattr(timer, "resume", lambda: None)
        table = main.table
        drawn.clear()
        main.apply_query(SearchQuery(gpu_model="H100", sort_by="price"), "keys")
        generation = table.generation
        for _ in range(200):
            if table.loaded_generation == generation:
                break
            await asyncio.sleep(0.01)
        assert table.loaded_generation == generation
        lines = [text for gen, text in drawn if gen == generation]
        assert lines, "the new rows waited for the update timer"
        assert "H100" in lines[0]
        monkeypatch.undo()  # the timer ticks again, for the app's shutdown


async def test_the_count_comes_after_the_rows_are_drawn(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        table = main.table
        table.page_size = 5  # a full first page: the total needs a count
        events: list[str] = []
        original_count = table._count
        original_update = main._on_timer_update

        async def count(query: SearchQuery | None) -> int:
            events.append("count")
            return await original_count(query)

        def update() -> None:
            if table.loaded_generation == table.generation and "painted" not in events:
                events.append("painted")
            original_update()

        table._count = count
        main._on_timer_update = update  # type: ignore[method-assign]
        main.apply_query(SearchQuery(sort_by="gpu_count"), "keys")
        await settle(pilot)
        assert events[:2] == ["painted", "count"]
        assert table.total is not None and table.total > 5
