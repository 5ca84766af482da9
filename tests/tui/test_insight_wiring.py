"""The market-insight features reached from the running app: `m`, the palette's saved
filters, watches that ring after refreshes, and the all-in rows of the compare view."""

from __future__ import annotations

from datetime import timedelta

from gpucm import formatting as fmt
from gpucm import paths
from gpucm.domain.models import SearchQuery
from gpucm.domain.pricing import all_in
from gpucm.domain.query import format_query, parse_query
from gpucm.launch_template import LaunchTemplate
from gpucm.presets import Watch, load_book, save_filter, save_watch
from gpucm.services import Services
from gpucm.tui.app import GpucmApp
from gpucm.tui.screens.compare import CompareScreen
from gpucm.tui.screens.main import MainScreen
from gpucm.tui.screens.stats import StatsScreen
from gpucm.tui.widgets.status_bar import StatusBar
from tests.conftest import SteppedClock as Clock


async def test_m_opens_the_market_stats_for_the_current_filter(stepped_market: Services) -> None:
    query = parse_query('gpu="RTX 4090" price<=2')
    app = GpucmApp(stepped_market, refresh=False, query=query)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, StatsScreen)
        assert app.screen.query_filter.max_price == 2
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_a_saved_filter_is_recalled_from_the_palette(stepped_market: Services) -> None:
    save_filter("big", "gpu=H100 count>=8", paths.presets_file())
    app = GpucmApp(stepped_market, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.saved_filters() == ["big"]
        await pilot.press("ctrl+p", *"Filter: big")
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        await pilot.press("enter")
        await pilot.pause()
        main = app.screen
        assert isinstance(main, MainScreen)
        assert main.search.min_gpu_count == 8
        assert main.search.gpu_models == ("H100",)
        # and a name that is gone says so, keeping the current filter
        app.recall_filter("nope")
        await pilot.pause()
        assert main.search.min_gpu_count == 8
        assert any("no saved filter named 'nope'" in n.message for n in app._notifications)


async def test_save_filter_from_the_app_names_the_current_query(stepped_market: Services) -> None:
    query = parse_query('gpu="RTX 4090" ram>=32')
    app = GpucmApp(stepped_market, refresh=False, query=query)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.save_filter()
        await pilot.pause()
        await pilot.press(*"mine", "enter")
        await pilot.pause()
        assert app.saved_filters() == ["mine"]
        assert load_book(paths.presets_file()).filter_query("mine") == query


async def refresh(app: GpucmApp) -> None:
    """A refresh round as `r` runs it, then the watch checks each landing started."""
    await app._refresh_once(None).wait()
    for worker in [w for w in app.workers if w.group == "watches"]:
        await worker.wait()


async def test_a_watch_rings_once_in_the_tui_when_the_demo_crosses_the_price(
    stepped_market: Services, stepped_clock: Clock
) -> None:
    cheapest = (
        await stepped_market.store.search(SearchQuery(gpu_models=("RTX 4090",), limit=1))
    ).offers
    bound = round(cheapest[0].price_per_hour * 0.97, 3)  # not yet: nothing rings at first
    save_watch(Watch("cheap", 'gpu="RTX 4090"', price_at_or_under=bound), paths.presets_file())
    app = GpucmApp(stepped_market, refresh=False)
    bells: list[None] = []
    async with app.run_test(size=(120, 40)) as pilot:
        app.bell = lambda: bells.append(None)  # type: ignore[method-assign]
        await pilot.pause()
        watches = app._watches
        assert watches is not None
        for _ in range(40):  # the demo's prices drift: some refresh crosses the bound
            stepped_clock.now += timedelta(minutes=15)
            await refresh(app)
            if watches.fired:
                break
        assert len(watches.fired) == 1, "the demo stepped_market crossed the bound within 10 hours"
        alert = watches.fired[0]
        assert alert.watch == "cheap" and alert.kind == "price"
        assert all(o.price_per_hour <= bound for o in alert.offers)
        assert len(bells) == 1
        assert sum(n.title == "Watch" for n in app._notifications) == 1
        # another refresh at the same prices says nothing new
        await refresh(app)
        repeated = {o.id for a in watches.fired[1:] for o in a.offers}
        assert not repeated & {o.id for o in alert.offers}


async def test_compare_prices_the_planned_disk_all_in(stepped_market: Services) -> None:
    query = SearchQuery(gpu_models=("RTX 4090",), min_storage=200)
    best = await stepped_market.store.best_offers(query, disk_gb=200)  # one per provider
    assert len(best) >= 2, "the demo sells RTX 4090s at two providers or more"
    ids = sorted(o.id for o in best)
    app = GpucmApp(stepped_market, refresh=False, query=query)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        main = app.screen
        assert isinstance(main, MainScreen)
        app.push_screen(CompareScreen(stepped_market, ids, disk_gb=main.search.min_storage))
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        label = "All-in $/h (200 GB)"
        prices = [all_in(o, 200).per_hour for o in screen.offers]
        assert prices == sorted(prices)  # cheapest all-in first
        for i, offer in enumerate(screen.offers):
            assert screen.cell(label, i).startswith(fmt.price(all_in(offer, 200).per_hour))
        assert screen.cell(label, 0).endswith("★")
        assert format_query(main.search).count("storage>=200") == 1


async def test_an_armed_watch_shows_in_the_status_bar_and_launches_once_from_the_tui(
    stepped_market: Services,
) -> None:
    cheapest = (
        await stepped_market.store.search(SearchQuery(gpu_models=("RTX 4090",), limit=1))
    ).offers[0]
    ceiling = round(cheapest.price_per_hour * 1.5, 3)
    watch = Watch("snipe", 'gpu="RTX 4090"', launch=LaunchTemplate(max_price_per_hour=ceiling))
    save_watch(watch, paths.presets_file())
    await stepped_market.armings.arm(watch, "2026-11-26T12:00:00+00:00")
    app = GpucmApp(stepped_market, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        main = app.screen
        assert isinstance(main, MainScreen)
        await main.update_status().wait()
        await app.workers.wait_for_complete()  # the armed watches, read from the store
        await main.update_status().wait()
        assert "1 armed" in str(main.query_one(StatusBar).render())
        await refresh(app)
        watches = app._watches
        assert watches is not None
        (fired,) = watches.sniped
        assert fired.fired and len(fired.instances) == 1
        assert fired.instances[0].origin == "watch snipe"
        assert [n.title for n in app._notifications].count("Watch launched") == 1
        await main.update_status().wait()
        assert "armed" not in str(main.query_one(StatusBar).render())
        await refresh(app)  # disarmed: nothing more
        assert len(watches.sniped) == 1
        app.open_instances()  # the instance manager names the watch it came from
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "launched by watch snipe" in str(app.screen.query_one("#instances-detail").render())
    listed = await stepped_market.instances.list()
    assert [i.origin for i in listed] == ["watch snipe"]
    row = await stepped_market.store.armed.get(stepped_market.armings.owner, "snipe")
    assert row is not None and not row.is_armed and row.disarm_reason == "launched"


async def test_arming_in_the_watch_dialog_arms_it_in_the_store(stepped_market: Services) -> None:
    """The dialog's second enter arms it: the arming goes to the store (where whoever
    fires armed watches finds it), the definition to filters.toml."""
    from textual.widgets import Checkbox, Input

    from gpucm.tui.screens.presets import WatchFormScreen

    app = GpucmApp(stepped_market, refresh=False, query=parse_query('gpu="RTX 4090"'))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.watch_filter()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, WatchFormScreen)
        screen.query_one("#watch-name", Input).value = "snipe"
        screen.query_one("#watch-launch", Checkbox).value = True
        screen.query_one("#watch-max", Input).value = "0.01"  # nothing matches: no launch
        screen.query_one("#watch-name", Input).focus()
        await pilot.press("enter", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Watch ARMED" in [n.title for n in app._notifications]
        assert app.armed_watches() == [""]
        row = await stepped_market.store.armed.get(stepped_market.armings.owner, "snipe")
        assert row is not None and row.is_armed and row.template == {"max_price_per_hour": 0.01}
        assert "armed" not in paths.presets_file().read_text(encoding="utf-8")
        # saved again without a launch action: no longer armed
        app.watch_filter()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, WatchFormScreen)
        screen.query_one("#watch-name", Input).value = "snipe"
        screen.query_one("#watch-price", Input).value = "0.01"
        screen.query_one("#watch-name", Input).focus()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.armed_watches() == []
    row = await stepped_market.store.armed.get(stepped_market.armings.owner, "snipe")
    assert row is not None and not row.is_armed and row.disarm_reason == "redefined"
    assert await stepped_market.instances.list() == []
