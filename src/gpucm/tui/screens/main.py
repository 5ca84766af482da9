"""The main screen: filter builder, live offer table, model detail and market charts."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import MountError
from textual.widgets import Footer, Header, Input

from gpucm.domain.models import SORT_KEYS, SearchQuery
from gpucm.domain.provider_names import DISPLAY_NAMES
from gpucm.domain.regions import REGION_GROUPS
from gpucm.tui.messages import FirstPaint, QueryChanged, RefreshLanded
from gpucm.tui.widgets.filter_pane import FilterPane
from gpucm.tui.widgets.model_detail import ModelDetail
from gpucm.tui.widgets.offer_table import NO_MATCH, ROW_COLUMNS, OfferRow, OfferTable
from gpucm.tui.widgets.query_bar import QueryBar
from gpucm.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from gpucm.services import Services


class MainScreen(Screen[None]):
    """k9s-like: the table owns the screen; panes open around it with single keys."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012
    CSS_PATH = "main.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_query", "Query", id="query"),
        Binding("f", "toggle_filters", "Filters", id="filters"),
        Binding("s", "cycle_sort", "Sort", id="sort"),
        Binding("S", "reverse_sort", "Reverse sort", id="reverse", show=False),
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("c", "compare", "Compare", id="compare"),
        Binding("L", "launch", "Launch", id="launch"),
        Binding("i", "instances", "Instances", id="instances"),
        Binding("d", "toggle_insight", "Charts", id="insight", show=False),
        Binding("m", "market", "Market", id="market"),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def __init__(self, services: Services, query: SearchQuery | None = None) -> None:
        super().__init__()
        self.services = services
        self.search = query or SearchQuery()
        self._refreshing: set[str] = set()
        self._matching: int | None = None
        self._last_errors: dict[str, str | None] = {}
        self._panes_mounted = False
        self._mounting = False
        self._follow: tuple[SearchQuery, str] | None = None

    # -- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # The table comes first and alone: the filter builder and the insight pane
        # (about 300 more widgets, and plotext) are mounted once its first rows are
        # on screen, which halves the time to a useful screen.
        yield Header(icon="▦")
        with Horizontal(id="body"), Vertical(id="center"):
            yield OfferTable(self._fetch_rows, self._count_rows, id="offers")
        yield QueryBar(id="query-bar")
        yield StatusBar(id="status")
        yield Footer()

    async def _mount_panes(self) -> None:
        try:
            await self._mount_panes_now()
        except (MountError, NoMatches):
            # the screen went away (the app is quitting) while the panes were mounting
            if self.is_attached and self.app.is_running and self.app.screen is self:
                raise

    async def _mount_panes_now(self) -> None:
        from gpucm.tui.widgets.market_charts import MarketCharts  # plotext: ~35 ms

        body = self.query_one("#body")
        if not body.is_attached:  # the app is closing
            return
        store = self.services.store
        pane = FilterPane(
            self.services.catalog,
            REGION_GROUPS,
            [(name, DISPLAY_NAMES[name]) for name in DISPLAY_NAMES],
            id="filters",
        )
        pane.set_query(self.search)
        await body.mount(pane, before="#center")
        detail = ModelDetail(store, lambda: self.services.catalog, id="detail")
        insight = Horizontal(id="insight")
        await self.query_one("#center").mount(insight)
        await insight.mount_all([detail, MarketCharts(store, id="charts")])
        self._apply_cursor_blink()
        self._panes_mounted = True
        row = self.table.highlighted
        detail.show(row.gpu_model if row else None)
        self._update_charts()

    def _filter_pane(self) -> FilterPane | None:
        return self.query(FilterPane).first() if self._panes_mounted else None

    async def _fetch_rows(
        self, query: SearchQuery | None, offset: int, limit: int
    ) -> list[OfferRow]:
        rows = await self.services.store.search_rows(
            query or SearchQuery(), ROW_COLUMNS, limit=limit, offset=offset
        )
        return [OfferRow.from_tuple(r) for r in rows]

    async def _count_rows(self, query: SearchQuery | None) -> int:
        return await self.services.store.count(query or SearchQuery())

    @property
    def table(self) -> OfferTable:
        return self.query_one("#offers", OfferTable)

    def _apply_cursor_blink(self) -> None:
        if not getattr(self.app, "cursor_blink", True):
            for field in self.query(Input):
                field.cursor_blink = False

    def on_resize(self, event: events.Resize) -> None:
        # wide: the compact footer fits every key, Launch/Instances and Help included;
        # narrow: nothing fits, and the roomier footer cuts off cleanly
        self.query_one(Footer).compact = event.size.width >= 110

    def on_mount(self) -> None:
        self._apply_cursor_blink()
        self.title = "gpucm"
        self.sub_title = "DEMO market (simulated)" if self.services.demo else "live markets"
        self.query_one(QueryBar).show_query(self.search)
        self.table.set_query(self.search)
        self.table.focus()
        self.update_status()
        self.set_interval(5, self.update_status)

    # -- the search -----------------------------------------------------------------

    def apply_query(self, query: SearchQuery, origin: str) -> None:
        if query == self.search:
            return
        self.search = query
        self._matching = None
        self.table.set_query(query)
        # The other views follow once the table has repainted: re-setting ~90 filter
        # controls costs a frame (~20 ms, and a relayout) the table need not wait for.
        self._follow = (query, origin)

    def _follow_query(self, query: SearchQuery, origin: str) -> None:
        if query != self.search:  # a newer query came in the meantime
            return
        pane = self._filter_pane()
        if origin != "builder" and pane is not None:
            pane.set_query(query)
        if origin != "text":
            self.query_one(QueryBar).show_query(query)
        self._update_charts()
        self.update_status()

    @on(FilterPane.Changed)
    def _builder_changed(self, event: FilterPane.Changed) -> None:
        self.apply_query(event.query, "builder")

    @on(QueryChanged)
    def _query_changed(self, event: QueryChanged) -> None:
        self.apply_query(event.query, event.origin)

    def action_cycle_sort(self) -> None:
        keys = list(SORT_KEYS)
        nxt = keys[(keys.index(self.search.sort_by) + 1) % len(keys)]
        # performance, reliability and value read best high-first or low-first
        order = "asc" if nxt in ("price", "value") else "desc"
        self.apply_query(
            self.search.model_copy(update={"sort_by": nxt, "sort_order": order}), "keys"
        )
        self.notify(f"Sorted by {nxt} ({order})", timeout=2)

    def action_reverse_sort(self) -> None:
        order = "desc" if self.search.sort_order == "asc" else "asc"
        self.apply_query(self.search.model_copy(update={"sort_order": order}), "keys")

    def clear_filters(self) -> None:
        self.apply_query(SearchQuery(), "keys")

    # -- table events ---------------------------------------------------------------

    @on(OfferTable.Highlighted)
    def _highlighted(self, event: OfferTable.Highlighted) -> None:
        self.refresh_bindings()  # Launch needs a highlighted offer
        if not self._panes_mounted:
            return
        model = event.row.gpu_model if event.row else None
        self.query_one(ModelDetail).show(model)
        self._update_charts()

    @on(OfferTable.Counted)
    def _counted(self, event: OfferTable.Counted) -> None:
        self._matching = event.total
        self.update_status()

    @property
    def marked(self) -> frozenset[str]:
        # read from the table, which updates at the key press: a `c` typed right after
        # `space` must see the new mark
        return frozenset(self.table.marked)

    @on(OfferTable.MarksChanged)
    def _marks(self, event: OfferTable.MarksChanged) -> None:
        self.refresh_bindings()

    @on(OfferTable.Selected)
    def _selected(self, event: OfferTable.Selected) -> None:
        from gpucm.tui.screens.offer_detail import OfferDetailScreen

        self.app.push_screen(
            OfferDetailScreen(self.services, event.row.id, disk_gb=self.search.min_storage)
        )

    @on(OfferTable.Loaded)
    async def _rows_loaded(self, event: OfferTable.Loaded) -> None:
        if self._follow is not None:
            query, origin = self._follow
            self._follow = None
            self.call_after_refresh(self._follow_query, query, origin)
        await self._first_rows()

    async def _first_rows(self) -> None:
        if not self._panes_mounted and not self._mounting:
            self._mounting = True
            self.call_after_refresh(self._mount_panes)
            self.app.post_message(FirstPaint())

    def _update_charts(self) -> None:
        if not self._panes_mounted:
            return
        from gpucm.tui.widgets.market_charts import MarketCharts

        row = self.table.highlighted
        self.query_one(MarketCharts).show(row.gpu_model if row else None, self.search)

    # -- refreshes ------------------------------------------------------------------

    def refresh_started(self, providers: list[str]) -> None:
        self._refreshing.update(providers)
        self.update_status()

    @on(RefreshLanded)
    def _refresh_landed(self, event: RefreshLanded) -> None:
        outcome = event.outcome
        self._refreshing.discard(outcome.provider)
        if outcome.ok:
            self.table.reload()
            if self._panes_mounted:
                from gpucm.tui.widgets.market_charts import MarketCharts

                self.query_one(ModelDetail).refresh_data()
                self.query_one(MarketCharts).refresh_data()
        previous = self._last_errors.get(outcome.provider)
        current = None if outcome.ok or outcome.skipped else outcome.error
        if current and current != previous:
            self.notify(
                outcome.summary(),
                title="Refresh failed",
                severity="warning",
                timeout=8,
                markup=False,
            )
        self._last_errors[outcome.provider] = current
        self.update_status()

    @work(exclusive=True, group="status", exit_on_error=False)
    async def update_status(self) -> None:
        health = await self.services.store.health()
        never_refreshed = not any(h.last_success_at for h in health.values())
        self.table.empty_text = (
            "  Fetching offers from the providers…" if never_refreshed else NO_MATCH
        )
        self.query_one(StatusBar).show(
            self.services.provider_names(),
            health,
            self.services.clock(),
            matching=self._matching,
            refreshing=self._refreshing,
            demo=self.services.demo,
        )

    def action_refresh(self) -> None:
        self.app.refresh_provider(None)  # type: ignore[attr-defined]

    # -- panes ----------------------------------------------------------------------

    def action_focus_query(self) -> None:
        self.query_one(QueryBar).input.focus()

    def action_focus_table(self) -> None:
        self.table.focus()

    def _toggle_pane(self, pane_id: str) -> bool:
        """Panes show by default on a wide screen and on demand on a narrow one;
        returns whether the pane is now visible."""
        if not self._panes_mounted:
            return False
        pane = self.query_one(f"#{pane_id}")
        if self.has_class("-narrow"):
            pane.toggle_class("-shown")
            return pane.has_class("-shown")
        pane.toggle_class("-hidden")
        return not pane.has_class("-hidden")

    def action_toggle_filters(self) -> None:
        if self._toggle_pane("filters"):
            self.query_one(FilterPane).focus_search()
        else:
            self.table.focus()

    def action_toggle_insight(self) -> None:
        if self.has_class("-narrow") and self._panes_mounted:
            # too narrow for both: d cycles detail -> charts -> hidden
            insight = self.query_one("#insight")
            if not insight.has_class("-shown"):
                insight.add_class("-shown")
                insight.remove_class("-charts")
            elif not insight.has_class("-charts"):
                insight.add_class("-charts")
            else:
                insight.remove_class("-shown", "-charts")
        else:
            self._toggle_pane("insight")
        self._update_charts()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "compare":
            return True if 2 <= len(self.marked) <= 6 else None
        if action == "launch":
            return True if self.table.highlighted is not None else None
        return True

    def action_compare(self) -> None:
        from gpucm.tui.screens.compare import CompareScreen

        if not 2 <= len(self.marked) <= 6:
            self.notify("Mark 2 to 6 offers with space to compare them.", timeout=4)
            return
        self.app.push_screen(
            CompareScreen(self.services, sorted(self.marked), disk_gb=self.search.min_storage)
        )

    # -- launching and instances ----------------------------------------------------

    def action_launch(self) -> None:
        row = self.table.highlighted
        if row is None:
            self.notify("No offer highlighted to launch.", timeout=3)
            return
        self._open_launch(row.id)

    @work(exclusive=True, group="open-launch", exit_on_error=False)
    async def _open_launch(self, offer_id: str) -> None:
        from gpucm.tui.screens.launch_form import LaunchScreen

        offer = await self.services.store.get_offer(offer_id)
        if offer is None:
            self.notify("That offer vanished in a refresh; pick another.", severity="warning")
            return
        await self.app.push_screen(LaunchScreen(self.services, offer))

    def action_market(self) -> None:
        from gpucm.tui.screens.stats import StatsScreen

        self.app.push_screen(StatsScreen(self.services, self.search))

    def action_instances(self) -> None:
        from gpucm.tui.screens.instances import open_instances

        open_instances(self.app, self.services)
