"""The cheapest-equivalent view and the saved-filter and watch dialogs."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.screen import Screen
from textual.widgets import Checkbox, DataTable, Input

from gpucm import formatting as fmt
from gpucm.domain.models import SearchQuery
from gpucm.domain.pricing import all_in
from gpucm.presets import Watch, load_book, save_filter
from gpucm.services import Services
from gpucm.tui.screens.best_offers import BestOffersScreen
from gpucm.tui.screens.presets import SaveFilterScreen, WatchFormScreen
from tests.conftest import make_read_only, writable_again


class Host(App[None]):
    def __init__(self, screen: Screen[object]) -> None:
        super().__init__()
        self.first = screen
        self.result: object = "not dismissed"

    def on_mount(self) -> None:
        def done(value: object) -> None:
            self.result = value

        self.push_screen(self.first, done)


async def test_best_offer_per_provider_priced_all_in(services: Services) -> None:
    query = SearchQuery(min_storage=120)
    screen = BestOffersScreen(services, "RTX 4090", query)
    app = Host(screen)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        expected = await services.store.best_offers(
            SearchQuery(gpu_models=("RTX 4090",), min_storage=120), disk_gb=120
        )
        assert [o.id for o in screen.offers] == [o.id for o in expected]
        assert len({o.provider for o in expected}) == len(expected) >= 2
        table = screen.query_one(DataTable)
        first = expected[0]
        cost = all_in(first, 120)
        assert str(table.get_cell(first.id, "per_gpu")) == fmt.price(cost.per_gpu_hour)
        assert str(table.get_cell(first.id, "cost")).startswith(fmt.price(cost.for_hours(24)))
        await pilot.press("plus")
        assert screen.hours == 168
        assert str(table.get_cell(first.id, "cost")).startswith(fmt.price(cost.for_hours(168)))
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "OfferDetailScreen"


async def test_save_filter_dialog_writes_the_presets_file(tmp_path: Path) -> None:
    path = tmp_path / "filters.toml"
    app = Host(SaveFilterScreen('gpu="RTX 4090" price<=1', path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"bad name", "enter")
        assert app.result == "not dismissed"  # the error is shown, the dialog stays
        assert "invalid name" in str(app.screen.query_one("#preset-error").render())
        app.screen.query_one("#preset-name", Input).value = ""
        await pilot.press(*"cheap-4090", "enter")
        await pilot.pause()
    assert app.result == "cheap-4090"
    assert load_book(path).filters == {"cheap-4090": 'gpu="RTX 4090" price<=1'}


async def test_save_filter_dialog_says_a_file_it_cannot_write(tmp_path: Path) -> None:
    """A config dir that cannot be written was an OSError that ended the app; now the
    dialog says it, keeps the name typed, and the saved filters are as they were."""
    path = tmp_path / "filters.toml"
    save_filter("kept", "gpu=A100", path)
    before = path.read_bytes()
    app = Host(SaveFilterScreen("gpu=H100", path))
    make_read_only(tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*"h100", "enter")
            await pilot.pause()
            assert app.is_running and app.result == "not dismissed"
            error = str(app.screen.query_one("#preset-error").render())
            assert error.startswith(f"cannot save to {path}: "), error
            assert app.screen.query_one("#preset-name", Input).value == "h100"
    finally:
        writable_again(tmp_path)
    assert path.read_bytes() == before


async def test_watch_dialog_needs_a_condition(tmp_path: Path) -> None:
    path = tmp_path / "filters.toml"
    app = Host(WatchFormScreen('gpu="RTX 4090"', path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"w1", "enter")
        assert "set a price" in str(app.screen.query_one("#watch-error").render())
        app.screen.query_one("#watch-price", Input).value = "0.35"
        await pilot.press("enter")
        await pilot.pause()
    assert app.result == Watch("w1", 'gpu="RTX 4090"', price_at_or_under=0.35)
    assert load_book(path).watches["w1"].price_at_or_under == 0.35


async def test_watch_dialog_arms_a_launch_only_after_saying_its_price(tmp_path: Path) -> None:
    path = tmp_path / "filters.toml"
    app = Host(WatchFormScreen('gpu="RTX 4090"', path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        screen.query_one("#watch-name", Input).value = "snipe"
        screen.query_one("#watch-launch", Checkbox).value = True
        screen.query_one("#watch-env", Input).value = "VAST_AI_API_KEY"
        screen.query_one("#watch-name", Input).focus()
        await pilot.press("enter")
        assert "Max $/h all-in: required" in str(screen.query_one("#watch-error").render())
        screen.query_one("#watch-max", Input).value = "0.4"
        await pilot.press("enter")
        assert "API keys" in str(screen.query_one("#watch-error").render())
        screen.query_one("#watch-env", Input).value = "HF_TOKEN"
        await pilot.press("enter")
        said = str(screen.query_one("#watch-error").render())
        assert "LAUNCHES WITHOUT ASKING" in said and "$0.400/h" in said
        assert app.result == "not dismissed" and not path.exists()  # not armed yet
        await pilot.press("enter")
        await pilot.pause()
    # armed: the dialog hands the app the arming (its stamp) to store; the file keeps
    # the definition
    assert isinstance(app.result, Watch) and app.result.armed
    watch = load_book(path).watches["snipe"]
    assert not watch.armed and watch.launch is not None
    assert watch.launch.max_price_per_hour == 0.4 and watch.launch.env == ("HF_TOKEN",)
