"""The main screen: filter builder, live offer table, model detail and market charts."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import MountError, Widget
from textual.widgets import Header, Input

from gpucm.domain.models import SORT_KEYS, SearchQuery, SortBy
from gpucm.domain.pricing import search_disk_gb
from gpucm.domain.provider_names import PROVIDERS, display_name
from gpucm.domain.query import format_query
from gpucm.domain.regions import REGION_GROUPS
from gpucm.tui.messages import FirstPaint, QueryChanged, RefreshLanded
from gpucm.tui.widgets.filter_pane import FilterPane
from gpucm.tui.widgets.key_bar import KeyBar
from gpucm.tui.widgets.model_detail import ModelDetail
from gpucm.tui.widgets.offer_table import NO_MATCH, ROW_COLUMNS, OfferRow, OfferTable
from gpucm.tui.widgets.query_bar import QueryBar
from gpucm.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from textual.timer import Timer

    from gpucm.services import Services


# a sort's natural order: cheapest first for prices and value, biggest first otherwise
# prices (and value, dollars per point): cheapest first; sizes and scores: most first
_ASCENDING_SORTS: frozenset[SortBy] = frozenset({"price", "price_per_gpu", "value", "spot"})


def tui_query(query: SearchQuery) -> SearchQuery:
    """The search as the TUI runs it: the table pages through every match itself, so
    a query's `limit` and `offset` have no effect here and are never kept (nor saved
    with a filter)."""
    if query.limit is None and not query.offset:
        return query
    return query.model_copy(update={"limit": None, "offset": 0})


class MainScreen(Screen[None]):
    """k9s-like: the table owns the screen; panes open around it with single keys."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012
    CSS_PATH = "main.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_query", "Query", id="table.query"),
        Binding("f", "toggle_filters", "Filters", id="table.filters"),
        Binding("s", "cycle_sort", "Sort", id="table.sort"),
        Binding("S", "reverse_sort", "Reverse sort", id="table.reverse_sort", show=False),
        Binding("r", "refresh", "Refresh", id="table.refresh"),
        Binding("c", "compare", "Compare", id="table.compare"),
        Binding("u", "unmark_all", "Unmark all", id="table.unmark_all", show=False),
        Binding("L", "launch", "Launch", id="table.launch"),
        Binding("i", "instances", "Instances", id="table.instances"),
        Binding("d", "toggle_insight", "Charts", id="table.charts", show=False),
        Binding("m", "market", "Market", id="table.market"),
        Binding("escape", "focus_table", "Table", show=False, id="table.focus"),
    ]
    # the key bar's order: what a narrow terminal shows first
    KEY_ORDER: ClassVar[tuple[str, ...]] = (
        "table.launch",
        "table.mark",
        "table.compare",
        "table.query",
        "table.filters",
        "table.sort",
        "table.instances",
        "table.market",
        "table.detail",
        "table.refresh",
        "app.quit",
    )

    def __init__(self, services: Services, query: SearchQuery | None = None) -> None:
        super().__init__()
        self.services = services
        self.search = tui_query(query or SearchQuery())
        # the search as text: as it was typed in the query bar, else its canonical form;
        # saved filters and watches keep exactly this
        self.query_text = format_query(self.search)
        self._refreshing: set[str] = set()
        self._matching: int | None = None
        self._last_errors: dict[str, str | None] = {}
        self._panes_mounted = False
        self._mounting = False
        self._follow: tuple[SearchQuery, str] | None = None
        self._gc_held = False
        self._gc_timer: Timer | None = None
        self._can_launch = False
        self._opening_launch = False

    # -- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # The table comes first and alone: the filter builder and the insight pane
        # (about 300 more widgets, and the chart modules) are mounted once its first
        # rows are on screen, which halves the time to a useful screen.
        yield Header(icon="▦")
        with Horizontal(id="body"), Vertical(id="center"):
            yield OfferTable(self._fetch_rows, self._count_rows, id="offers")
        yield QueryBar(id="query-bar")
        yield StatusBar(id="status")
        yield KeyBar()

    async def _mount_panes(self) -> None:
        try:
            await self._mount_panes_now()
        except (MountError, NoMatches):
            # the screen went away (the app is quitting) while the panes were mounting
            if self.is_attached and self.app.is_running and self.app.screen is self:
                raise

    async def _mount_panes_now(self) -> None:
        from gpucm.tui.widgets.market_charts import ChartReaders, MarketCharts

        body = self.query_one("#body")
        if not body.is_attached:  # the app is closing
            return
        store = self.services.store
        pane = FilterPane(
            self.services.catalog,
            REGION_GROUPS,
            [(name, display_name(name)) for name in PROVIDERS],
            id="filters",
        )
        pane.set_query(self.search)
        await body.mount(pane, before="#center")
        detail = ModelDetail(store.model_offers, lambda: self.services.catalog, id="detail")
        charts = MarketCharts(
            ChartReaders(store.gpu_prices, store.provider_counts, store.history), id="charts"
        )
        insight = Horizontal(id="insight")
        await self.query_one("#center").mount(insight)
        await insight.mount_all([detail, charts])
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
        store, query = self.services.store, query or SearchQuery()
        # from the offer index on this thread when it can (~1 ms): the hops to the
        # store's thread and back were most of a filter change on a busy machine
        rows = store.search_rows_now(query, ROW_COLUMNS, limit=limit, offset=offset)
        if rows is None:
            rows = await store.search_rows(query, ROW_COLUMNS, limit=limit, offset=offset)
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

    def on_mount(self) -> None:
        self._apply_cursor_blink()
        self.title = "gpucm"
        self.sub_title = "DEMO market (simulated)" if self.services.demo else "live markets"
        self.query_one(QueryBar).show_query(self.search, self.query_text)
        self.table.set_query(self.search)
        self.table.focus()
        self.update_status()
        self.set_interval(5, self.update_status)

    # -- the search -----------------------------------------------------------------

    def apply_query(self, query: SearchQuery, origin: str, text: str | None = None) -> None:
        """Show `query`, which came from `origin` ("text", "builder", "keys"); `text` is
        what was typed for it, if it was typed."""
        query = tui_query(query)
        if query == self.search:
            if text is not None:
                self.query_text = text
            return
        self.search = query
        self.query_text = text if text is not None else format_query(query)
        self._matching = None
        self.table.set_query(query)
        self._hold_gc()
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
            self.query_one(QueryBar).show_query(query, self.query_text)
        self._update_charts()
        self.update_status()
        self.call_after_refresh(self._map_widgets)

    def _map_widgets(self) -> None:
        """Have Textual map where every widget is now, off the path of the next change.
        The filter pane's controls off screen changed just now, and that drops the
        screen's map of all ~300 widgets; the next lookup of any widget's region
        rebuilds it (5-10 ms), and that was the next filter change's frame."""
        if self.is_current:
            _ = self.table.region

    @on(FilterPane.Changed)
    def _builder_changed(self, event: FilterPane.Changed) -> None:
        self.apply_query(event.query, "builder")

    @on(QueryChanged)
    def _query_changed(self, event: QueryChanged) -> None:
        self.apply_query(event.query, event.origin, event.text)

    def action_cycle_sort(self) -> None:
        keys = list(SORT_KEYS)
        nxt = keys[(keys.index(self.search.sort_by) + 1) % len(keys)]
        order = "asc" if nxt in _ASCENDING_SORTS else "desc"
        self.apply_query(
            self.search.model_copy(update={"sort_by": nxt, "sort_order": order}), "keys"
        )
        self.notify(f"Sorted by {nxt.replace('_', ' ')} ({order})", timeout=2)

    def action_reverse_sort(self) -> None:
        order = "desc" if self.search.sort_order == "asc" else "asc"
        self.apply_query(self.search.model_copy(update={"sort_order": order}), "keys")

    def clear_filters(self) -> None:
        self.apply_query(SearchQuery(), "keys")

    # -- table events ---------------------------------------------------------------

    @on(OfferTable.Highlighted)
    def _highlighted(self, event: OfferTable.Highlighted) -> None:
        can_launch = event.row is not None
        if can_launch != self._can_launch:
            # only when it changes: a bindings refresh on every cursor move repaints
            # the key bar for nothing
            self._can_launch = can_launch
            self.refresh_bindings()
        if not self._panes_mounted:
            return
        model = event.row.gpu_model if event.row else None
        self.query_one(ModelDetail).show(model)
        self._update_charts()

    @on(OfferTable.Counted)
    def _counted(self, event: OfferTable.Counted) -> None:
        self._matching = event.total
        self.update_status()
        if event.total == 0:
            self._explain_empty(self.search)

    @work(exclusive=True, group="explain-empty", exit_on_error=False)
    async def _explain_empty(self, query: SearchQuery) -> None:
        """No offer matches: say which term names nothing any provider lists (a
        region such as "Mars", a GPU no one offers), as an unknown provider does."""
        from gpucm.engine.empty_search import unknown_sentence, unknown_terms

        unknown = await unknown_terms(self.services.store, query)
        if query != self.search:
            return
        if unknown:
            self.table.empty_text = "  " + unknown_sentence(unknown)
        self.table.refresh()

    @property
    def marked(self) -> frozenset[str]:
        # read from the table, which updates at the key press: a `c` typed right after
        # `space` must see the new mark
        return frozenset(self.table.marked)

    @on(OfferTable.MarksChanged)
    def _marks(self, event: OfferTable.MarksChanged) -> None:
        self.refresh_bindings()
        self.update_status()

    @on(OfferTable.Selected)
    def _selected(self, event: OfferTable.Selected) -> None:
        if self._opening_launch:
            return  # an enter typed right after L belongs to the form, not the table
        from gpucm.tui.screens.offer_detail import OfferDetailScreen

        self.app.push_screen(
            OfferDetailScreen(
                self.services,
                event.row.id,
                # the disk the table's all-in rank assumed, for a fits= search
                disk_gb=search_disk_gb(self.search),
                fits=self.search.fits,
            )
        )

    def _hold_gc(self) -> None:
        """No cyclic garbage collection between a new query and its rows painted: one
        landing there (25-60 ms on a loaded 2-core machine, in ~1 change of 4) set the
        p95 of filter change to repaint (bench tui). Refcounting still frees; the
        collection runs once the rows are up, or after a second at the latest."""
        if gc.isenabled():
            gc.disable()
            self._gc_held = True
        if self._gc_held:
            if self._gc_timer is not None:
                self._gc_timer.stop()
            self._gc_timer = self.set_timer(1.0, self._release_gc)

    def _release_gc(self) -> None:
        if self._gc_held:
            self._gc_held = False
            gc.enable()
        if self._gc_timer is not None:
            self._gc_timer.stop()
            self._gc_timer = None

    def on_unmount(self) -> None:
        self._release_gc()

    @on(OfferTable.Loaded)
    async def _rows_loaded(self, event: OfferTable.Loaded) -> None:
        if self._gc_held:
            self.call_after_refresh(self._release_gc)  # once these rows are painted
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
        team = self.services.team
        info = await team.refresher() if team is not None else None
        never_refreshed = not any(h.last_success_at for h in health.values())
        if never_refreshed:
            self.table.empty_text = "  Fetching offers from the providers…"
        elif self._matching != 0:
            self.table.empty_text = NO_MATCH
        marks = self.table.marked
        self.query_one(StatusBar).show(
            self.services.provider_names(),
            health,
            self.services.clock(),
            matching=self._matching,
            refreshing=self._refreshing,
            demo=self.services.demo,
            marked=len(marks),
            refresher=info.who if info is not None else None,
            armed=self.app.armed_watches(),  # type: ignore[attr-defined]
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

    def _keep_focus_visible(self) -> None:
        """After a pane hid: if it held the focus, the table takes it. Focus must never
        sit on a widget no one can see, where keys go nowhere. (Run after a refresh:
        a pane's new classes are styled then.)"""
        focused = self.focused
        chain = [] if focused is None else focused.ancestors_with_self
        if focused is None or not all(w.display for w in chain if isinstance(w, Widget)):
            self.set_focus(self.table)

    def action_toggle_filters(self) -> None:
        if self._toggle_pane("filters"):
            self.query_one(FilterPane).focus_search()
        else:
            self.set_focus(self.table)

    def action_toggle_insight(self) -> None:
        if not self._panes_mounted:
            return
        if self.has_class("-narrow"):
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
        self.call_after_refresh(self._keep_focus_visible)
        self._update_charts()

    # -- what the keys can do now -----------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "compare":
            return True if 2 <= len(self.marked) <= 6 else None
        if action == "launch":
            return True if self.table.highlighted is not None else None
        if action == "unmark_all":
            return True if self.marked else None
        return True

    def disabled_reason(self, action: str, parameters: tuple[object, ...]) -> str | None:
        marks = len(self.marked)
        if action == "compare":
            if marks > 6:
                return f"{marks} offers are marked: compare takes 2 to 6 (u unmarks all)."
            return f"{marks} marked: mark 2 to 6 offers with space to compare them."
        if action == "launch":
            return "No offer is highlighted to launch: the table is empty."
        if action == "unmark_all":
            return "No offer is marked (space marks the highlighted one)."
        return None

    def action_compare(self) -> None:
        from gpucm.tui.screens.compare import CompareScreen

        marks = dict(self.table.marked)
        if not 2 <= len(marks) <= 6:
            self.notify(self.disabled_reason("compare", ()) or "", timeout=4)
            return
        self.app.push_screen(
            CompareScreen(self.services, list(marks), disk_gb=self.search.min_storage, known=marks)
        )

    def action_unmark_all(self) -> None:
        count = len(self.table.marked)
        self.table.clear_marks()
        self.notify(f"Unmarked {count} offer{'s' if count != 1 else ''}.", timeout=2)

    # -- launching and instances ----------------------------------------------------

    def action_launch(self) -> None:
        row = self.table.highlighted
        if row is None:
            self.notify(self.disabled_reason("launch", ()) or "", timeout=3)
            return
        self._opening_launch = True
        self._open_launch(row.id)

    @work(exclusive=True, group="open-launch", exit_on_error=False)
    async def _open_launch(self, offer_id: str) -> None:
        from gpucm.tui.screens.launch_form import LaunchScreen

        try:
            offer = await self.services.store.get_offer(offer_id)
            if offer is None:
                self.notify("That offer vanished in a refresh; pick another.", severity="warning")
                return
            await self.app.push_screen(LaunchScreen(self.services, offer))
        finally:
            self._opening_launch = False

    def action_market(self) -> None:
        from gpucm.tui.screens.stats import StatsScreen

        self.app.push_screen(StatsScreen(self.services, self.search))

    def action_instances(self) -> None:
        from gpucm.tui.screens.instances import open_instances

        open_instances(self.app, self.services)
