"""The filter builder pane, driven by keys inside a small app."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, Select, SelectionList, Static

from gpucm.domain.catalog import Catalog
from gpucm.domain.models import GpuModel, SearchQuery
from gpucm.domain.provider_names import DISPLAY_NAMES
from gpucm.domain.regions import REGION_GROUPS
from gpucm.tui.widgets.filter_pane import FilterPane

PROVIDERS = list(DISPLAY_NAMES.items())
WEIRD = "Weird [/] GPU"


class PaneApp(App[None]):
    def __init__(
        self, catalog: Catalog | None = None, regions: Sequence[str] = REGION_GROUPS
    ) -> None:
        super().__init__()
        self.catalog = catalog or Catalog.builtin()
        self.regions = regions
        self.changes: list[SearchQuery] = []

    def compose(self) -> ComposeResult:
        yield FilterPane(self.catalog, self.regions, PROVIDERS, id="filters")

    def on_filter_pane_changed(self, message: FilterPane.Changed) -> None:
        self.changes.append(message.query)

    @property
    def pane(self) -> FilterPane:
        return self.query_one(FilterPane)


def terms(app: PaneApp, list_id: str) -> SelectionList[str]:
    return app.query_one(f"#{list_id}", SelectionList)


def option_values(app: PaneApp, list_id: str) -> list[str]:
    selection_list = terms(app, list_id)
    options = (selection_list.get_option_at_index(i) for i in range(selection_list.option_count))
    return [option.value for option in options if not option.disabled]


async def type_into(pilot: Pilot[None], widget_id: str, text: str) -> None:
    pilot.app.query_one(f"#{widget_id}").focus()
    await pilot.pause()
    await pilot.press(*text)


RICH = SearchQuery(
    available=False,
    gpu_models=("H100", "RTX 4090", "H100 SXM", "my homebrew gpu"),
    gpu_category="datacenter",
    min_gpu_count=2,
    min_price=0.5,
    max_price=3.25,
    min_ram=64,
    min_storage=500,
    regions=("Europe", "Texas, US"),
    min_reliability=0.95,
    min_performance=80,
    providers=("runpod", "vast_ai"),
    min_gpu_memory=24,
    min_cuda=12.1,
    fits="70B@bf16,ctx=32k",
    hosts="all",
    sort_by="value",
    sort_order="desc",
    limit=50,
    offset=100,
)


async def test_set_query_round_trips_and_emits_nothing() -> None:
    app = PaneApp()
    async with app.run_test(size=(40, 60)) as pilot:
        app.pane.set_query(RICH)
        await pilot.pause(0.3)
        assert app.pane.current_query() == RICH
        assert app.changes == []
        # the controls show it, including the raw model name the catalog lacks
        assert app.query_one("#fp-max-price", Input).value == "3.25"
        assert app.query_one("#fp-min-reliability", Input).value == "0.95"
        assert app.query_one("#fp-min-cuda", Input).value == "12.1"
        assert app.query_one("#fp-category", Select).value == "datacenter"
        assert app.query_one("#fp-count", Select).value == "2"
        assert app.query_one("#fp-sort", Select).value == "value"
        assert app.query_one("#fp-order", Select).value == "desc"
        assert app.query_one("#fp-available", Select).value == "no"
        models = terms(app, "fp-models")
        assert set(models.selected) == {"H100", "RTX 4090", "H100 SXM", "my homebrew gpu"}
        assert "my homebrew gpu" in option_values(app, "fp-models")
        assert "Texas, US" in terms(app, "fp-regions").selected


async def test_set_query_keeps_an_odd_count_and_canonicalises_spellings() -> None:
    app = PaneApp()
    async with app.run_test(size=(40, 60)) as pilot:
        app.pane.set_query(
            SearchQuery(gpu_models=("rtx_4090", "a100"), min_gpu_count=3, regions=("eu",))
        )
        await pilot.pause()
        query = app.pane.current_query()
        assert query.gpu_models == ("RTX 4090", "A100")
        assert query.min_gpu_count == 3
        assert query.regions == ("Europe",)
        assert app.changes == []


async def test_model_families_come_first_and_each_entry_means_what_it_says() -> None:
    app = PaneApp()
    catalog = app.catalog
    async with app.run_test(size=(40, 60)) as pilot:
        await pilot.pause()
        models = terms(app, "fp-models")
        headings = [str(o.prompt) for o in models.options if o.disabled]
        assert headings == ["Families", "consumer", "professional", "datacenter"]
        values = option_values(app, "fp-models")
        assert values[:4] == ["H100", "H200", "A100", "V100"]
        assert len(values) == len(set(values))
        assert len(catalog.expand("H100")) == 3
        # the SXM part is offered under a name that means only it, not the family
        assert "H100 SXM" in values
        for model in catalog.models:
            assert any(catalog.expand(v) == (model.name,) for v in values), model.name


async def test_typing_in_model_search_then_space_selects_a_model() -> None:
    app = PaneApp()
    async with app.run_test(size=(40, 60)) as pilot:
        await type_into(pilot, "fp-model-search", "4090")
        await pilot.pause()
        assert option_values(app, "fp-models") == ["RTX 4090", "RTX 4090D"]
        await pilot.press("down", "space")
        await pilot.pause()
        assert [q.gpu_models for q in app.changes] == [("RTX 4090",)]
        # a choice hidden by a later filter is kept
        await type_into(pilot, "fp-model-search", "")
        await pilot.press("ctrl+a", "ctrl+k", *"a100")
        await pilot.pause()
        assert "RTX 4090" not in option_values(app, "fp-models")
        assert app.pane.current_query().gpu_models == ("RTX 4090",)


async def test_toggling_a_region_and_a_provider_emits() -> None:
    app = PaneApp()
    async with app.run_test(size=(40, 60)) as pilot:
        app.query_one("#fp-regions").focus()
        await pilot.pause()
        await pilot.press("space", "down", "down", "space")
        await pilot.pause()
        assert [q.regions for q in app.changes] == [
            ("US-East",),
            ("US-East", "US-West"),
        ]
        await pilot.press("up", "up", "space")
        await pilot.pause()
        assert app.changes[-1].regions == ("US-West",)
        app.query_one("#fp-providers").focus()
        await pilot.pause()
        await pilot.press("down", "space")
        await pilot.pause()
        assert app.changes[-1].providers == ("runpod",)
        assert app.changes[-1].regions == ("US-West",)


async def test_typed_max_price_is_debounced_into_one_change() -> None:
    app = PaneApp()
    async with app.run_test(size=(40, 60)) as pilot:
        await type_into(pilot, "fp-max-price", "2.5")
        await pilot.pause(0.3)
        assert [q.max_price for q in app.changes] == [2.5]


async def test_reliability_accepts_fraction_and_percent() -> None:
    app = PaneApp()
    async with app.run_test(size=(40, 60)) as pilot:
        await type_into(pilot, "fp-min-reliability", "95")
        await pilot.pause(0.3)
        assert app.changes[-1].min_reliability == 0.95
        await pilot.press("ctrl+a", "ctrl+k", *"0.8")
        await pilot.pause(0.3)
        assert app.changes[-1].min_reliability == 0.8
        await pilot.press("ctrl+a", "ctrl+k", *"90%")
        await pilot.pause(0.3)
        assert app.changes[-1].min_reliability == 0.9


async def test_switch_and_selects_emit_immediately() -> None:
    app = PaneApp()
    async with app.run_test(size=(40, 60)) as pilot:
        app.query_one("#fp-available").focus()
        await pilot.pause()
        await pilot.press("enter", "down", "enter")
        await pilot.pause()
        assert app.changes[-1].available is False
        # the state reads as words, not as a one-line switch that showed neither
        assert "also unavailable" in str(
            app.query_one("#fp-available", Select).query_one("#label").render()
        )

        app.query_one("#fp-sort").focus()
        await pilot.pause()
        await pilot.press("enter", "down", "enter")
        await pilot.pause()
        assert app.changes[-1].sort_by == "price_per_gpu"
        assert app.changes[-1].available is False

        app.query_one("#fp-category").focus()
        await pilot.pause()
        await pilot.press("enter", "down", "down", "down", "enter")
        await pilot.pause()
        assert app.changes[-1].gpu_category == "datacenter"
        assert len(app.changes) == 3


async def test_bad_input_shows_a_hint_and_emits_nothing() -> None:
    app = PaneApp()
    async with app.run_test(size=(40, 60)) as pilot:
        await type_into(pilot, "fp-max-price", "abc")
        await pilot.pause(0.3)
        max_price = app.query_one("#fp-max-price", Input)
        hint = app.query_one("#fp-price-hint", Static)
        assert app.changes == []
        assert max_price.has_class("-invalid")
        assert hint.has_class("-shown")
        assert hint.styles.display == "block"
        assert "not a number" in str(hint.render())

        await type_into(pilot, "fp-min-ram", "-4")
        await pilot.pause(0.3)
        assert app.changes == []
        assert app.query_one("#fp-min-ram", Input).has_class("-invalid")
        assert "0 or more" in str(app.query_one("#fp-min-ram-hint", Static).render())

        # in one edit: typed a key at a time, "1" and "15" are valid values of their
        # own, and a loaded machine can take longer than the debounce between keys
        perf = app.query_one("#fp-min-performance", Input)
        perf.focus()
        perf.insert_text_at_cursor("151")
        await pilot.pause(0.3)
        assert app.changes == []

        # fixing the price clears its hint and emits; min above max is refused
        await type_into(pilot, "fp-max-price", "")
        await pilot.press("ctrl+a", "ctrl+k", "2")
        await pilot.pause(0.3)
        assert not max_price.has_class("-invalid")
        assert not hint.has_class("-shown")
        assert hint.styles.display == "none"
        assert [q.max_price for q in app.changes] == [2.0]
        assert app.changes[-1].min_ram is None

        await type_into(pilot, "fp-min-price", "3")
        await pilot.pause(0.3)
        assert len(app.changes) == 1
        assert app.query_one("#fp-min-price", Input).has_class("-invalid")
        assert "above max" in str(hint.render())
        assert app.pane.current_query().min_price is None


async def test_a_workload_is_read_whole_and_a_bad_one_gets_a_hint() -> None:
    app = PaneApp()
    async with app.run_test(size=(40, 60)) as pilot:
        # each in one edit: typed a key at a time, "70b" is a workload of its own, and a
        # loaded machine can take longer than the debounce between keys
        box = app.query_one("#fp-fits", Input)
        box.focus()
        box.insert_text_at_cursor("70b@BF16,ctx=32k")
        # the debounce's timer, on a loaded machine (CI) later than one pause
        for _ in range(50):
            await pilot.pause(0.1)
            if app.changes:
                break
        assert [q.fits for q in app.changes] == ["70B@bf16,ctx=32k"]
        box.value = "70B@bf17"
        await pilot.pause(0.3)
        assert len(app.changes) == 1  # the bad term changes nothing
        assert app.query_one("#fp-fits", Input).has_class("-invalid")
        assert "unknown precision" in str(app.query_one("#fp-fits-hint", Static).render())
        app.pane.set_query(SearchQuery(fits="8B@fp8"))
        await pilot.pause()
        assert app.query_one("#fp-fits", Input).value == "8B@fp8"
        assert not app.query_one("#fp-fits", Input).has_class("-invalid")


async def test_clear_resets_everything() -> None:
    app = PaneApp()
    async with app.run_test(size=(40, 60)) as pilot:
        app.pane.set_query(RICH)
        await pilot.pause()
        app.query_one("#fp-clear").focus()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.changes == [SearchQuery()]
        assert app.pane.current_query() == SearchQuery()
        assert terms(app, "fp-models").selected == []
        assert app.query_one("#fp-max-price", Input).value == ""
        assert app.query_one("#fp-sort", Select).value == "price"


async def test_tab_visits_every_control_in_order() -> None:
    app = PaneApp()
    async with app.run_test(size=(40, 60)) as pilot:
        app.pane.focus_search()
        await pilot.pause()
        seen = []
        for _ in range(19):
            assert app.focused is not None
            seen.append(app.focused.id)
            await pilot.press("tab")
        assert seen == [
            "fp-model-search",
            "fp-models",
            "fp-category",
            "fp-count",
            "fp-min-price",
            "fp-max-price",
            "fp-min-ram",
            "fp-min-storage",
            "fp-min-gpu-memory",
            "fp-min-cuda",
            "fp-min-performance",
            "fp-min-reliability",
            "fp-fits",
            "fp-regions",
            "fp-providers",
            "fp-available",
            "fp-sort",
            "fp-order",
            "fp-clear",
        ]
        await pilot.press("shift+tab")
        assert app.focused is not None and app.focused.id == "fp-clear"


async def test_small_terminal_scrolls_to_the_focused_control() -> None:
    app = PaneApp()
    async with app.run_test(size=(32, 24)) as pilot:
        await pilot.pause()
        app.query_one("#fp-clear").focus()
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        assert app.pane.scroll_y > 0
        button = app.query_one("#fp-clear")
        assert app.screen.region.contains_region(button.region)


async def test_markup_like_names_render_literally() -> None:
    weird = GpuModel(
        name=WEIRD,
        family=WEIRD,
        vendor="nvidia",
        category="consumer",
        architecture="test",
        memory_gb=24,
        performance_score=50,
    )
    catalog = Catalog([*Catalog.builtin().models, weird])
    app = PaneApp(catalog, regions=(*REGION_GROUPS, "Moon [b]base[/b]"))
    async with app.run_test(size=(40, 60)) as pilot:
        app.pane.set_query(SearchQuery(gpu_models=("[red]raw[/]",)))
        await type_into(pilot, "fp-model-search", "weird")
        await pilot.pause()
        assert option_values(app, "fp-models") == [WEIRD]
        await pilot.press("down", "space")
        await pilot.pause()
        assert app.changes[-1].gpu_models == ("[red]raw[/]", WEIRD)
        app.query_one("#fp-regions").focus()
        await pilot.press("end", "space")
        await pilot.pause()
        assert app.changes[-1].regions == ("Moon [b]base[/b]",)
        screen = app.export_screenshot()
        assert "Weird&#160;[/]&#160;GPU" in screen or "Weird [/] GPU" in screen
