"""The offer table holds a window of the market, not what it has passed: a walk down
a large market keeps a bounded number of rows and drawn lines."""

from __future__ import annotations

from textual.app import App, ComposeResult

from gpucm.domain.models import SearchQuery
from gpucm.tui.widgets.offer_table import ROW_COLUMNS, OfferRow, OfferTable

MARKET = 5_000


def _row(i: int) -> OfferRow:
    values = {
        "id": f"vast_ai:{i}",
        "provider": "vast_ai",
        "gpu_model": "RTX 4090",
        "gpu_count": 1,
        "price_per_hour": 0.2 + i / 1000,
        "price_per_gpu_hour": 0.2 + i / 1000,
        "region": "Texas, US",
        "is_new": 0,
        "stale": 0,
        "available": 1,
    }
    return OfferRow(*(values.get(c) for c in ROW_COLUMNS))


async def _fetch(query: SearchQuery | None, offset: int, limit: int) -> list[OfferRow]:
    return [_row(i) for i in range(offset, min(MARKET, offset + limit))]


async def _count(query: SearchQuery | None) -> int:
    return MARKET


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield OfferTable(_fetch, _count, page_size=50, max_pages=4)


async def test_a_walk_down_the_market_keeps_a_window_of_it() -> None:
    app = _TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(OfferTable)
        table.set_query(None)
        await pilot.pause()
        table.focus()
        drawn: set[str] = set()
        for _ in range(120):
            await pilot.press("pagedown")
            await pilot.pause()
            drawn.update(row.id for row in table.visible_rows())
        assert table.cursor > 3_000  # it walked
        assert len(drawn) > 3_000
        # what it still holds: the pages and drawn lines of a bounded window
        assert sum(len(rows) for rows in table._pages.values()) <= 4 * 50
        assert len(table._strips) <= 4 * 50 + 30
        assert len(table._strip_rows) <= 4 * 50 + 30
