"""Pilot tests: every key and pane of gpucm-tui on the demo market."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from gpucm import paths
from gpucm.config import load_settings
from gpucm.domain.models import SearchQuery
from gpucm.domain.vocabulary import SORT_KEYS
from gpucm.engine.refresher import RefreshOutcome
from gpucm.services import Services
from gpucm.tui.app import GpucmApp
from gpucm.tui.messages import FirstPaint, RefreshLanded
from gpucm.tui.screens.compare import CompareScreen
from gpucm.tui.screens.help import HelpScreen
from gpucm.tui.screens.main import MainScreen
from gpucm.tui.screens.offer_detail import OfferDetailScreen
from gpucm.tui.screenshots import workers_done
from gpucm.tui.widgets.filter_pane import FilterPane
from gpucm.tui.widgets.offer_table import OfferTable
from gpucm.tui.widgets.query_bar import QueryBar
from gpucm.tui.widgets.status_bar import StatusBar
from tests.offer_factory import make_offer


async def settle(pilot: Pilot[None]) -> None:
    await pilot.pause()
    await workers_done(pilot.app)
    await pilot.pause()


def main_screen(app: GpucmApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen), screen
    return screen


def table(app: GpucmApp) -> OfferTable:
    return main_screen(app).query_one(OfferTable)


async def all_rows(services: Services, query: SearchQuery) -> list[str]:
    page = await services.store.search(query)
    return [o.id for o in page.offers]


async def test_opens_on_the_cheapest_available_offers(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        t = table(app)
        expected = await all_rows(services, SearchQuery(limit=20))
        assert [r.id for r in t.visible_rows()][:20] == expected
        assert t.row_count == await services.store.count(SearchQuery())
        assert t.has_focus
        status = str(main_screen(app).query_one(StatusBar).render())
        assert "DEMO" in status
        assert f"{t.row_count:,} match" in status
        assert "Vast.ai" in status and "Paperspace" in status  # one display name everywhere


async def test_text_query_narrows_and_syncs_the_builder(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        before = table(app).row_count
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"gpu=H100 price<3")
        await pilot.press("enter")
        await settle(pilot)
        t = table(app)
        assert 0 < t.row_count < before
        rows = t.visible_rows()
        assert rows
        assert all(r.gpu_model.startswith("H100") and r.price_per_hour <= 3 for r in rows)
        assert t.has_focus  # enter returns to the table
        pane = main_screen(app).query_one(FilterPane)
        assert pane.current_query().gpu_models == ("H100",)
        assert pane.current_query().max_price == 3


async def test_a_bad_text_query_changes_nothing(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        before = table(app).row_count
        await pilot.press("slash", *"price<<2", "enter")
        await settle(pilot)
        bar = main_screen(app).query_one(QueryBar)
        error = str(bar.query_one("#query-error").render())
        assert "price<<2" in error
        assert "\n" not in error.strip()
        assert table(app).row_count == before
        assert main_screen(app).search == SearchQuery()


async def test_a_paste_into_the_query_bar_is_taken_whole_as_plain_text(
    services: Services,
) -> None:
    """Textual's Input kept the first line of a paste only (a query copied over two
    lines lost its second line without a word) and kept control characters, so an
    escape sequence in the clipboard scrambled the line."""
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        bar = main_screen(app).query_one(QueryBar)
        app.post_message(events.Paste("gpu=H100\r\nprice<3\tram>=32\x1b[31m\x07 all"))
        await pilot.pause()
        assert bar.input.value == "gpu=H100  price<3 ram>=32 all"
        await pilot.press("end")
        app.post_message(events.Paste(" sort=-perf"))  # at the cursor, its space kept
        await pilot.pause()
        assert bar.input.value == "gpu=H100  price<3 ram>=32 all sort=-perf"
        await pilot.press("enter")
        await settle(pilot)
        search = main_screen(app).search
        assert (search.gpu_models, search.max_price, search.min_ram) == (("H100",), 3, 32)
        assert (search.available, search.sort_by, search.sort_order) == (
            False,
            "performance",
            "desc",
        )


async def test_filter_builder_narrows_the_table(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        pane = main_screen(app).query_one(FilterPane)
        pane.query_one("#fp-max-price", Input).focus()
        await pilot.press(*"0.2")
        await pilot.pause(0.4)  # past the builder's debounce
        await settle(pilot)
        rows = table(app).visible_rows()
        assert rows
        assert all(r.price_per_hour <= 0.2 for r in rows)
        assert main_screen(app).search.max_price == 0.2
        bar = main_screen(app).query_one(QueryBar)
        assert "price<=0.2" in bar.input.value


async def test_sort_keys_cycle_and_reverse(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert main_screen(app).search.sort_by == "price_per_gpu"
        per_gpu = [r.price_per_gpu_hour for r in table(app).visible_rows()]
        assert per_gpu == sorted(per_gpu)
        await pilot.press("s")
        await settle(pilot)
        assert main_screen(app).search.sort_by == "performance"
        perf = [r.performance or 0 for r in table(app).visible_rows()]
        assert perf == sorted(perf, reverse=True)
        await pilot.press("S")
        await settle(pilot)
        perf = [r.performance or 0 for r in table(app).visible_rows()]
        assert perf == sorted(perf)
        assert "sort=performance" in main_screen(app).query_one(QueryBar).input.value


async def test_cursor_keys_reach_every_row(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        t = table(app)
        await pilot.press("j", "j", "down")
        assert t.cursor == 3
        await pilot.press("k", "up")
        assert t.cursor == 1
        await pilot.press("G")
        await settle(pilot)
        assert t.cursor == t.row_count - 1
        last = await all_rows(services, SearchQuery(limit=1, offset=t.row_count - 1))
        highlighted = t.highlighted
        assert highlighted is not None
        assert highlighted.id == last[0]
        await pilot.press("g")
        assert t.cursor == 0
        await pilot.press("pagedown")
        assert t.cursor > 10


async def test_marks_and_compare(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")  # nothing marked: a hint, no screen
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("space", "j", "space", "j", "space")
        await pilot.pause()
        marked = main_screen(app).marked
        assert len(marked) == 3
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        assert {o.id for o in app.screen.offers} == set(marked)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("space")  # unmark the one under the cursor
        assert len(main_screen(app).marked) == 2


async def test_enter_opens_the_offer_detail(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        row = table(app).highlighted
        assert row is not None
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, OfferDetailScreen)
        assert screen.offer is not None
        assert screen.offer.id == row.id
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_help_and_quit(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_narrow_screen_opens_panes_on_demand(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        assert screen.has_class("-narrow")
        pane = screen.query_one(FilterPane)
        assert not pane.display
        await pilot.press("f")
        await pilot.pause()
        assert pane.display
        assert app.focused is not None and pane in app.focused.ancestors
        await pilot.press("escape")
        await pilot.press("f")
        await pilot.pause()
        assert not pane.display
        insight = screen.query_one("#insight")
        assert not insight.display
        await pilot.press("d")
        await pilot.pause()
        assert insight.display
        assert screen.query_one("#detail").display
        await pilot.press("d")  # a narrow screen shows the charts in its place
        await pilot.pause()
        assert screen.query_one("#charts").display
        assert not screen.query_one("#detail").display
        await pilot.press("d")
        await pilot.pause()
        assert not insight.display


async def test_wide_screen_shows_panes_and_tab_moves_between_them(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        assert screen.has_class("-wide")
        assert screen.query_one(FilterPane).display
        assert screen.query_one("#insight").display
        assert table(app).has_focus
        await pilot.press("tab")
        assert not table(app).has_focus
        await pilot.press("shift+tab")
        assert table(app).has_focus


async def test_r_refreshes_and_the_table_follows(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        ticks_before = await services.store.get_demo_state("tick:vast_ai")
        await pilot.press("r")
        await settle(pilot)
        assert await services.store.get_demo_state("tick:vast_ai") == ticks_before + 1
        expected = await all_rows(services, SearchQuery(limit=5))
        assert [r.id for r in table(app).visible_rows()][:5] == expected


async def test_live_refresh_keeps_the_cursor_on_its_offer(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press(*["j"] * 6)
        t = table(app)
        chosen = t.highlighted
        assert chosen is not None
        # the offer gets cheaper in the next snapshot: it moves up the table
        offer = await services.store.get_offer(chosen.id)
        assert offer is not None
        others = [
            o
            for o in (
                await services.store.search(
                    SearchQuery(available=False, providers=(offer.provider,))
                )
            ).offers
            if o.id != offer.id
        ]
        cheaper = offer.model_copy(update={"price_per_hour": offer.price_per_hour * 0.99})
        await services.store.replace_offers(offer.provider, [*others, cheaper])
        main_screen(app).post_message(RefreshLanded(RefreshOutcome(offer.provider, ok=True)))
        await settle(pilot)
        highlighted = t.highlighted
        assert highlighted is not None
        assert highlighted.id == chosen.id
        assert highlighted.price_move == "down"


async def test_provider_text_is_never_markup(services: Services) -> None:
    weird = make_offer(
        "vast_ai",
        "weird",
        "Evil [/] GPU [bold red]x",
        region="[/link] Mars, ZZ",
        price_per_hour=0.0001,
    )
    await services.store.replace_offers("vast_ai", [weird])
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        first = table(app).visible_rows()[0]
        assert first.gpu_model == "Evil [/] GPU [bold red]x"
        await pilot.press("enter")
        await settle(pilot)
        title = str(app.screen.query_one("#offer-title").render())
        assert "Evil [/] GPU [bold red]x" in title
        svg = app.export_screenshot().replace("&#160;", " ")
        assert "[/link] Mars, ZZ" in svg


async def test_palette_exports_the_view_and_clears_filters(
    services: Services, tmp_path: Path
) -> None:
    app = GpucmApp(
        services, refresh=False, export_dir=tmp_path, query=SearchQuery(gpu_models=("RTX 4090",))
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"Export view as CSV")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot)
        files = list(tmp_path.glob("gpucm-offers-*.csv"))
        assert len(files) == 1
        rows = list(csv.DictReader(files[0].open()))
        assert rows
        assert {r["gpu_model"] for r in rows} == {"RTX 4090"}
        assert len(rows) == await services.store.count(SearchQuery(gpu_models=("RTX 4090",)))

        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"Clear filters")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot)
        assert main_screen(app).search == SearchQuery()


async def test_theme_choice_persists(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.theme == "gpucm-dark"
        app.set_theme("gpucm-high-contrast")
        await pilot.pause()
    assert load_settings({}, paths.config_file()).theme == "gpucm-high-contrast"


async def test_gpucm_tui_freezes_its_start_up_heap_once_tests_do_not(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gpucm.tui.app as app_module

    frozen: list[str] = []
    monkeypatch.setattr(app_module, "freeze_startup_heap", lambda: frozen.append("x"))
    for freeze_heap, expected in ((False, []), (True, ["x"])):
        frozen.clear()
        app = GpucmApp(services, refresh=False, freeze_heap=freeze_heap)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.post_message(FirstPaint())  # a second first paint (a screen switch)
            await settle(pilot)
        assert frozen == expected


def test_freezing_the_heap_leaves_later_garbage_collectable() -> None:
    import gc
    import weakref

    from gpucm.tui.heap import freeze_startup_heap

    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 0

        class Node:
            other: object = None

        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle made after the freeze
        probe = weakref.ref(a)
        del a, b
        gc.collect()
        assert probe() is None
    finally:
        gc.unfreeze()


async def test_the_sort_cycle_ends_with_spot_cheapest_first(services: Services) -> None:
    # spot is a price: like price, price per GPU and value, cheapest first (it sorted
    # dearest first, as a size or a score does)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for _ in range(SORT_KEYS.index("spot")):
            await pilot.press("s")
        await settle(pilot)
        search = main_screen(app).search
        assert (search.sort_by, search.sort_order) == ("spot", "asc")
