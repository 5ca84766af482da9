"""Issue 18, pinned: what got in the way of someone who compares and launches GPUs every
day (saved filters, marks, keys that say why, focus, the query bar, help per screen,
80 columns, state that shows, the market screen, confirmed prices)."""

from __future__ import annotations

import itertools

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Static

from gpucm import formatting as fmt
from gpucm import paths
from gpucm.domain.models import SearchQuery
from gpucm.domain.pricing import all_in, egress_per_gb
from gpucm.domain.regions import REGION_GROUPS
from gpucm.engine.confirmed_price import Confirmed, rate_move
from gpucm.presets import load_book
from gpucm.services import Services
from gpucm.tui.app import GpucmApp
from gpucm.tui.instance_text import price_sentence
from gpucm.tui.screens.best_offers import BestOffersScreen
from gpucm.tui.screens.compare import CompareScreen
from gpucm.tui.screens.gb_out import GbOutScreen
from gpucm.tui.screens.instances import InstancesScreen
from gpucm.tui.screens.launch_confirm import ConfirmLaunchScreen
from gpucm.tui.screens.launch_form import LaunchScreen
from gpucm.tui.screens.main import MainScreen
from gpucm.tui.screens.offer_detail import OfferDetailScreen
from gpucm.tui.screens.presets import SaveFilterScreen, WatchFormScreen
from gpucm.tui.widgets.key_bar import KeyBar, KeyEntry, fit_keys
from gpucm.tui.widgets.model_detail import ModelDetail
from gpucm.tui.widgets.offer_table import OfferTable, layout_columns
from gpucm.tui.widgets.query_bar import QueryBar
from gpucm.tui.widgets.status_bar import StatusBar
from tests.conftest import launchable
from tests.tui.helpers import help_rows, open_form, record_notes, settle


def main_of(app: GpucmApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen), screen
    return screen


async def type_query(pilot: Pilot[None], text: str) -> None:
    await pilot.press("slash", "ctrl+u", *text, "enter")
    await settle(pilot)


# -- 1. saved filters and watches save exactly what was typed ----------------------------


async def test_a_saved_filter_keeps_the_text_as_typed_and_no_stale_offset(
    services: Services,
) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_query(pilot, "offset=5")
        main = main_of(app)
        assert main.search.offset == 0  # no effect here, and never kept
        assert "no effect here" in main.query_one(QueryBar).error
        await type_query(pilot, "gpu=H100")
        assert main.query_text == "gpu=H100"
        await type_query(pilot, 'gpu="RTX 4090" price<0.4')
        app.save_filter()
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, SaveFilterScreen)
        assert dialog.query_text == 'gpu="RTX 4090" price<0.4'
        await pilot.press(*"cheap", "enter")
        await settle(pilot)
        text = paths.presets_file().read_text()
        assert 'gpu=\\"RTX 4090\\" price<0.4' in text or 'gpu="RTX 4090" price<0.4' in text
        assert "offset" not in text and "<=" not in text
        book = load_book(paths.presets_file())
        assert book.filter_query("cheap") == main.search

        app.watch_filter()
        await settle(pilot)
        watch = app.screen
        assert isinstance(watch, WatchFormScreen)
        assert watch.query_text == 'gpu="RTX 4090" price<0.4'


async def test_a_query_from_the_builder_or_keys_is_saved_in_its_canonical_form(
    services: Services,
) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_query(pilot, "gpu=H100 price<3")
        await pilot.press("s")
        await settle(pilot)
        main = main_of(app)
        assert main.query_text == "gpu=H100 price<=3 sort=price_per_gpu"
        assert main.query_one(QueryBar).input.value == main.query_text


# -- 3. the watch dialog is a framed modal ------------------------------------------------


async def test_the_watch_dialog_is_framed_and_compact(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.watch_filter()
        await settle(pilot)
        dialog = app.screen.query_one(".preset-dialog")
        assert dialog.styles.border_top[0] == "thick"
        assert dialog.region.width <= 72 and dialog.region.height < 20
        # the rows shown (a snipe's launch template shows once "launch" is ticked)
        rows = [r.region.y for r in app.screen.query(".preset-row") if r.region]
        assert len(rows) >= 5
        assert rows == sorted(rows) and max(b - a for a, b in itertools.pairwise(rows)) <= 3
        assert isinstance(app.focused, Input) and app.focused.id == "watch-name"


# -- 4. marks you can see and manage ------------------------------------------------------


async def test_marks_show_in_the_status_bar_and_u_unmarks_all(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("space", "j", "space", "j", "space")
        await settle(pilot)
        main = main_of(app)
        assert "3 marked" in str(main.query_one(StatusBar).render())
        await pilot.press("u")
        await settle(pilot)
        assert not main.marked
        assert "marked" not in str(main.query_one(StatusBar).render())


async def test_compare_keeps_a_vanished_mark_greyed_and_orders_by_price(
    services: Services,
) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("space", "j", "space", "j", "space")
        await settle(pilot)
        main = main_of(app)
        gone = next(iter(main.table.marked))
        offer = await services.store.get_offer(gone)
        assert offer is not None
        page = await services.store.search(
            SearchQuery(available=False, providers=(offer.provider,))
        )
        await services.store.replace_offers(
            offer.provider, [o for o in page.offers if o.id != gone]
        )
        await pilot.press("c")
        await settle(pilot)
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        assert len(compare.columns) == 3  # "Comparing 3 offers" shows 3 columns
        assert compare.columns[-1].gone and compare.columns[-1].offer_id == gone
        assert compare.cell("Provider", 2) != "-"  # what the table showed of it
        assert compare.cell("$/h", 2) == compare.cell("$/h", 2).strip()
        prices = [o.price_per_hour for o in compare.offers]
        assert len(prices) == 2
        await pilot.press("right", "right")
        assert compare.selected is None
        assert compare.check_action("launch", ()) is None


async def test_seven_marks_say_why_c_does_nothing(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = GpucmApp(services, refresh=False)
    notes = record_notes(app, monkeypatch)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        for _ in range(7):
            await pilot.press("space", "j")
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any("7 offers are marked" in n for n in notes)


# -- 5. no silent keys ---------------------------------------------------------------------


async def test_keys_that_cannot_act_say_why(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = GpucmApp(services, refresh=False)
    notes = record_notes(app, monkeypatch)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("c")  # no marks
        await settle(pilot)
        assert any("mark 2 to 6" in n for n in notes)
        main = main_of(app)
        main.apply_query(SearchQuery(max_price=0.0001), "keys")
        await settle(pilot)
        for key in ("L", "enter", "space"):
            notes.clear()
            await pilot.press(key)
            await settle(pilot)
            assert notes, key
            assert isinstance(app.screen, MainScreen)
        bar = main.query_one(KeyBar)
        entries, _help, _palette = bar.entries()
        launch = next(e for e in entries if e.description == "Launch")
        assert not launch.enabled  # drawn dim


def test_the_key_bar_keeps_the_first_keys_and_says_more() -> None:
    keys = [KeyEntry(k, k, f"Action {k}", True) for k in "abcdefghij"]
    more = KeyEntry("question_mark", "?", "more", True)
    shown, right = fit_keys(keys, 60, more, None)
    assert shown == keys[: len(shown)] and 2 < len(shown) < len(keys)
    assert right is more
    everything, right = fit_keys(keys[:2], 60, more, None)
    assert everything == keys[:2] and right is None


async def test_at_80_columns_the_key_bar_shows_launch_first_and_more(
    services: Services,
) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        line = main_of(app).query_one(KeyBar).render()
        text = str(line)
        assert text.lstrip().startswith("L Launch")
        assert text.rstrip().endswith("? more")
        assert len(text.rstrip()) <= 80


# -- 6. focus never gets lost -------------------------------------------------------------


async def test_tab_reaches_the_detail_pane_visibly_and_d_gives_focus_back(
    services: Services,
) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = main_of(app)
        main.query_one(ModelDetail).focus()
        await settle(pilot)
        detail = main.query_one(ModelDetail)
        assert detail.has_focus
        before = detail.scroll_offset.y
        await pilot.press("j")
        await settle(pilot)
        assert detail.scroll_offset.y >= before  # j scrolls the pane, not nothing
        await pilot.press("d")  # hide the pane holding the focus
        await settle(pilot)
        assert main.table.has_focus
        await pilot.press("space")
        assert main.table.marked  # keys work at once


async def test_tab_in_the_launch_dialogs_has_no_invisible_stop(services: Services) -> None:
    offer = await launchable(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, services, offer)
        seen: list[object] = []
        for _ in range(40):
            focused = app.focused
            assert focused is not None and focused.display and focused.region.area
            seen.append(focused)
            await pilot.press("tab")
        assert form.query_one("#lf-label") in seen
        await pilot.press("enter")
        await settle(pilot)
        for _ in range(6):
            focused = app.focused
            assert focused is not None and focused.display and focused.region.area
            await pilot.press("tab")


async def test_typing_after_ctrl_n_goes_to_the_new_variable(services: Services) -> None:
    offer = await launchable(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, services, offer)
        value = form.query(".lf-env-value").first(Input)
        value.focus()
        await pilot.pause()
        await pilot.press("s", "ctrl+n", "K", "E", "Y")
        await settle(pilot)
        keys = list(form.query(".lf-env-key").results(Input))
        assert value.value == "s"
        assert keys[-1].value == "KEY"


async def test_L_then_enter_typed_fast_never_opens_the_offer_detail(
    services: Services,
) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("L", "enter")
        await settle(pilot)
        assert not any(isinstance(s, OfferDetailScreen) for s in app.screen_stack)
        assert any(isinstance(s, LaunchScreen) for s in app.screen_stack)


# -- 7. a bad query keeps what was typed in view -------------------------------------------


async def test_a_bad_query_shows_text_and_error_apart_and_esc_restores(
    services: Services,
) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        main = main_of(app)
        await type_query(pilot, "gpu=H100")
        await pilot.press("slash", "ctrl+u", *"4090", "enter")
        await settle(pilot)
        bar = main.query_one(QueryBar)
        assert bar.input.value == "4090"  # still in view
        error = bar.query_one("#query-error", Static)
        assert error.display and error.region.y > bar.input.region.y
        assert error.region.height >= 2  # wrapped, not cut at the edge
        assert "filters:" in bar.error
        assert main.search.gpu_models == ("H100",)  # nothing changed
        await pilot.press("escape")
        await settle(pilot)
        assert bar.input.value == "gpu=H100"  # the query the table shows
        assert not bar.error
        assert main.table.has_focus


# -- 9. 80 columns keep what matters -------------------------------------------------------


@pytest.mark.parametrize("width", [43, 50, 60, 80, 120])
def test_provider_gpu_and_price_never_drop(width: int) -> None:
    keys = [c.key for c in layout_columns(width)]
    assert {"provider", "gpu_model", "price_per_hour"} <= set(keys)


def test_region_rel_and_network_drop_before_the_rest() -> None:
    dropped: list[str] = []
    shown = [c.key for c in layout_columns(200)]
    for width in range(200, 40, -1):
        now = [c.key for c in layout_columns(width)]
        dropped += [k for k in shown if k not in now]
        shown = now
    assert set(dropped[:3]) == {"network", "reliability", "region"}


def test_the_sorted_column_always_shows() -> None:
    assert "ram_gb" in [c.key for c in layout_columns(50, "ram")]
    assert "value" in [c.key for c in layout_columns(50, "value")]


async def test_filters_open_at_80_and_60_columns_keep_provider_gpu_and_price(
    services: Services,
) -> None:
    for size in ((80, 24), (60, 20)):
        app = GpucmApp(services, refresh=False)
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("f")
            await settle(pilot)
            table = main_of(app).query_one(OfferTable)
            header = table.render_line(0).text
            for label in ("PROV", "GPU", "$/H"):
                assert label in header, (size, header)
            row = table.render_line(1).text
            assert "$0." in row and "Vast.ai" in row, row


# -- 8. help for the screen you are on -----------------------------------------------------


async def test_help_shows_the_keys_of_the_screen_in_front(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert "u" in help_rows(app) and "/" in help_rows(app)  # the main screen's
        await pilot.press("escape", "i")
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        keys = help_rows(app)
        assert "terminated" in keys["a"]  # listed at last
        assert "t" in keys and "/" not in keys
        await pilot.press("escape", "escape", "m")
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        keys = help_rows(app)
        assert keys["w"].startswith("trend") and "x / u" not in keys


@pytest.mark.parametrize("opens", [["i"], ["m"], ["space", "j", "space", "c"]])
async def test_help_names_the_key_that_quits_from_where_it_is_open(
    services: Services, opens: list[str]
) -> None:
    """The instance manager's, the market's and the compare view's help said both
    "esc/q back" and "q quit"; q goes back there. Textual's ctrl+q quits from any."""
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert help_rows(app)["q"] == "quit"  # the main screen's q quits
        await pilot.press("escape", *opens)
        await settle(pilot)
        screen = app.screen
        await pilot.press("question_mark")
        await settle(pilot)
        keys = help_rows(app)
        assert "quit" not in [what for key, what in keys.items() if "q" in key.split("/")]
        assert keys["ctrl+q"] == "quit", keys
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("q")  # goes back, as its help says
        await settle(pilot)
        assert app.is_running and app.screen is not screen
        await pilot.press(*opens, "ctrl+q")
        await settle(pilot)
        assert not app.is_running


# -- 12. the price you confirmed is the price you see --------------------------------------


async def test_the_manager_shows_the_confirmed_price_and_why_the_rate_differs(
    services: Services,
) -> None:
    offer = await launchable(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot, services, offer)
        await pilot.press("enter")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmLaunchScreen)
        confirmed = confirm.pre.cost
        await pilot.press("enter")
        await settle(pilot)
        manager = app.screen
        assert isinstance(manager, InstancesScreen)
        instance = manager.current
        assert instance is not None
        price = str(manager.table.get_cell(instance.id, "price"))
        assert price.startswith(fmt.price(confirmed.per_hour))
        detail = str(manager.query_one("#instances-detail", Static).render())
        assert f"confirmed {fmt.price(confirmed.per_hour)}/h all-in" in detail
        rate = instance.price_per_hour
        assert rate is not None
        if abs(rate - confirmed.compute_per_hour) >= 0.0005:
            assert price.endswith(("▲", "▼")) and "since the launch" in detail
        # what the provider bills is beside it, whatever it is
        assert fmt.price(rate) in detail
        # the header sums what the providers bill (the ledger), and says so: it is not
        # the rows' confirmed all-in price, storage estimate included
        header = str(manager.query_one("#instances-spend", Static).render())
        assert header.startswith(f"billed {fmt.price(rate)}/h ·"), header


def test_the_price_sentence_says_why_a_rate_differs() -> None:
    from gpucm.domain.models import Instance

    confirmed = Confirmed(0.303, 0.284, 0.019, True)
    moved = Instance(
        id="d:1", provider="vast_ai", provider_id="1", status="running", price_per_hour=0.331
    )
    line = price_sentence(moved, confirmed)
    assert line.startswith("confirmed $0.303/h all-in ($0.284 compute + $0.019 storage")
    assert "now bills $0.331/h" in line and "rose since the launch" in line
    assert rate_move(moved, confirmed) == "▲"
    same = moved.model_copy(update={"price_per_hour": 0.284})
    assert rate_move(same, confirmed) == ""
    assert "storage apart" in price_sentence(same, confirmed)
    # stopped, it bills no compute: it said "Vast.ai bills $0.284/h now"
    for status in ("stopped", "terminated", "error"):
        idle = same.model_copy(update={"status": status})
        for known in (confirmed, None):
            line = price_sentence(idle, known)
            assert "bills $" not in line, line
            assert line.endswith(
                f"{status}: no compute billed now (Vast.ai's rate while it runs: $0.284/h)"
            )


# -- 14. small things ------------------------------------------------------------------------


async def test_L_launches_from_the_offer_detail_and_the_best_offers(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, OfferDetailScreen) and detail.offer is not None
        await pilot.press("L")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, LaunchScreen) and form.offer.id == detail.offer.id
        await pilot.press("escape", "escape")
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        best = app.screen
        assert isinstance(best, BestOffersScreen)
        chosen = best.selected
        assert chosen is not None
        await pilot.press("L")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, LaunchScreen) and form.offer.id == chosen.id


async def test_an_unknown_region_is_named_like_an_unknown_provider(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_query(pilot, "region=Mars")
        table = main_of(app).table
        assert "unknown region 'Mars'" in table.empty_text
        await type_query(pilot, "gpu=H100 gpu=A100")
        bar = main_of(app).query_one(QueryBar)
        assert "gpu= given twice" in bar.error
        assert main_of(app).search.gpu_models == ("H100", "A100")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_an_empty_tables_message_wraps_inside_the_table(
    services: Services, size: tuple[int, int]
) -> None:
    """It was one line cut at the table's edge: at 120 columns the region groups it
    names stopped at "US-E"; at 80, before the first of them."""
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await type_query(pilot, "region=Mars")
        table = main_of(app).table
        width = table.size.width
        drawn = [table.render_line(y).text for y in range(1, 6)]
        assert all(len(line.rstrip()) < width for line in drawn), drawn
        words = " ".join(" ".join(drawn).split())
        assert words == " ".join(table.empty_text.split())
        assert words.endswith(f"Region groups: {', '.join(REGION_GROUPS)}."), words
        # a term of thousands of characters is cut on the message's last line
        await pilot.press("slash")
        main_of(app).query_one(QueryBar).input.value = "gpu=" + "x" * 5000
        await pilot.press("enter")
        await settle(pilot)
        drawn = [table.render_line(y).text.rstrip() for y in range(1, 8)]
        assert drawn[3].endswith("…") and drawn[4:] == ["", "", ""], drawn


async def test_stop_after_is_bounded_and_review_says_quoting(services: Services) -> None:
    # Paperspace stops a machine on a timer
    page = await services.store.search(SearchQuery(providers=("paperspace",), limit=1))
    offer = page.offers[0]
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        form = LaunchScreen(services, offer)
        await app.push_screen(form)
        await settle(pilot)
        box = form.query_one("#lf-auto-terminate", Input)
        for value in ("0.01", "100000"):
            box.value = value
            await pilot.pause()
            form.action_review()
            await settle(pilot)
            assert "Stop after (hours): must be 0.1 to 720" in str(
                form.query_one("#lf-error", Static).render()
            )
            assert app.screen is form
        box.value = "2"
        await pilot.pause()
        form.action_review()
        assert str(form.query_one("#lf-review", Button).label) == "Quoting…"
        await settle(pilot)
        assert isinstance(app.screen, ConfirmLaunchScreen)


async def test_manager_keys_that_cannot_act_say_why_and_80_columns_keep_the_money(
    stepped_market: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gpucm.engine.launcher import LaunchOptions

    offer = await launchable(stepped_market)  # Vast.ai: no logs, no restart while booting
    options = LaunchOptions(request_id="keys", label="keys")
    launcher = stepped_market.launcher
    await launcher.launch(await launcher.preflight(offer, options), options)
    app = GpucmApp(stepped_market, refresh=False)
    notes = record_notes(app, monkeypatch)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        manager = app.screen
        assert isinstance(manager, InstancesScreen)
        for key, said in (
            ("l", "has no logs"),
            ("R", "only a running machine"),
            ("u", "only a stopped"),
        ):
            notes.clear()
            await pilot.press(key)
            await settle(pilot)
            assert any(said in n for n in notes), (key, notes)
        shown = manager.table.shown_columns
        assert {"name", "status", "price", "accrued", "ssh"} <= set(shown)
        instance = manager.current
        assert instance is not None
        price = str(manager.table.get_cell(instance.id, "price")).strip()
        assert len(price.rstrip("▲▼")) >= 6  # $0.493, never cut to $0.49


async def test_after_u_the_market_says_the_charts_stay_per_gpu_hour(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        tabs = app.screen.query_one("#stats-tabs", Static)
        assert "stay in" not in str(tabs.render())
        await pilot.press("u")
        await settle(pilot)
        assert "charts stay in $/GPU·h" in str(tabs.render())
        assert app.screen.title == "gpucm · market" and "DEMO" in app.screen.sub_title


async def test_compare_prices_the_gb_sent_out_where_egress_is_billed(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("space", "j", "space", "c")
        await settle(pilot)
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        assert compare.gb_out == 0  # not counted until the user says
        before = {o.id: all_in(o, compare.disk_gb).per_hour for o in compare.offers}
        await pilot.press("g")
        await settle(pilot)
        await pilot.press("ctrl+a", "ctrl+k", *"lots", "enter")
        await settle(pilot)
        assert isinstance(app.screen, GbOutScreen)  # a bad number stays, and says why
        await pilot.press("ctrl+a", "ctrl+k", *"100", "enter")
        await settle(pilot)
        assert app.screen is compare and compare.gb_out == 100
        label = next(a.label for a, _ in compare.cell_texts() if a.label.startswith("All-in $/h"))
        assert "100 GB out/h" in label
        for offer in compare.offers:
            rate = egress_per_gb(offer) or 0.0
            after = all_in(offer, compare.disk_gb, 100).per_hour
            assert after == pytest.approx(before[offer.id] + 100 * rate)
