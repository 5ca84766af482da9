"""gpucm-tui: the App. It receives its services; it builds none of them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar, Literal

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType

from gpucm import paths
from gpucm.domain.models import SearchQuery
from gpucm.domain.provider_names import DISPLAY_NAMES
from gpucm.engine.refresher import RefreshOutcome
from gpucm.export import write_offers
from gpucm.services import Services
from gpucm.tui.commands import GpucmCommands
from gpucm.tui.messages import FirstPaint, RefreshLanded
from gpucm.tui.screens.help import HelpScreen
from gpucm.tui.screens.main import MainScreen
from gpucm.tui.themes import choose_theme, load_themes, persist_theme_choices, register_themes

log = logging.getLogger(__name__)

ServicesFactory = Callable[[], Awaitable[Services]]


class GpucmApp(App[None]):
    CSS_PATH = "gpucm.tcss"
    TITLE = "gpucm"
    COMMANDS = App.COMMANDS | {GpucmCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", id="help"),
    ]

    def __init__(
        self,
        services: Services | ServicesFactory,
        *,
        query: SearchQuery | None = None,
        theme: str | None = None,
        refresh: bool = True,
        export_dir: Path | None = None,
        cursor_blink: bool = True,
    ) -> None:
        super().__init__()
        # A factory opens the services on the app's own event loop (aiosqlite and the
        # store's locks belong to one loop); snapshot tests run the app on a fresh loop.
        self._factory = None if isinstance(services, Services) else services
        if isinstance(services, Services):
            self.services = services
        self._initial_query = query
        self._requested_theme = theme
        self._refresh_enabled = refresh
        self._export_dir = export_dir or Path.cwd()
        self._workers_started = False
        # snapshot tests turn blinking off so a focused input looks the same every time
        self.cursor_blink = cursor_blink

    async def on_mount(self) -> None:
        if self._factory is not None:
            self.services = await self._factory()
        self._scheduler = self.services.scheduler(on_outcome=self._landed)
        themes, errors = load_themes(paths.user_themes_dir())
        register_themes(self, themes)
        requested = self._requested_theme or self.services.settings.theme
        choose_theme(self, requested)
        persist_theme_choices(self)
        for error in errors:
            self.notify(error, title="Theme skipped", severity="warning", markup=False)
        if requested and self.theme != requested:
            self.notify(f"Unknown theme {requested!r}; using {self.theme}.", markup=False)
        if self.services.settings_source.last_error:
            self.notify(self.services.settings_source.last_error, severity="error", markup=False)
        self.push_screen(MainScreen(self.services, self._initial_query))

    def on_first_paint(self, _event: FirstPaint) -> None:
        # providers refresh once the table is up: a refresh competing for the CPU
        # would only delay the first screen
        if self._refresh_enabled and not self._workers_started:
            self._workers_started = True
            self.run_refresh_workers()

    async def on_unmount(self) -> None:
        if self._factory is not None:
            await self._scheduler.stop()
            await self.services.aclose()

    # -- refresh workers --------------------------------------------------------------

    @work(exclusive=True, group="refresh-workers", exit_on_error=False)
    async def run_refresh_workers(self) -> None:
        await self._scheduler.run()

    async def _landed(self, outcome: RefreshOutcome) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                screen.post_message(RefreshLanded(outcome))

    def refresh_provider(self, name: str | None) -> None:
        main = self._main_screen()
        providers = [name] if name else self.services.provider_names()
        if main is not None:
            main.refresh_started(providers)
        if self._refresh_enabled:
            self._scheduler.refresh_now(name)
        else:
            self._refresh_once(name)

    @work(group="manual-refresh", exit_on_error=False)
    async def _refresh_once(self, name: str | None) -> None:
        for outcome in await self.services.refresh([name] if name else None):
            await self._landed(outcome)

    def _main_screen(self) -> MainScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    # -- CommandTarget (the command palette's view of the app) ----------------------

    def active_providers(self) -> list[tuple[str, str]]:
        return [(n, DISPLAY_NAMES.get(n, n)) for n in self.services.provider_names()]

    def theme_names(self) -> list[str]:
        return sorted(self.available_themes)

    def set_theme(self, name: str) -> None:
        self.theme = name

    def clear_filters(self) -> None:
        main = self._main_screen()
        if main is not None:
            main.clear_filters()

    def export_view(self, fmt: Literal["csv", "json"]) -> None:
        self._export(fmt)

    @work(exclusive=True, group="export", exit_on_error=False)
    async def _export(self, fmt: Literal["csv", "json"]) -> None:
        main = self._main_screen()
        query = main.search if main else SearchQuery()
        page = await self.services.store.search(
            query.model_copy(update={"limit": None, "offset": 0})
        )
        stamp = self.services.clock().strftime("%Y%m%d-%H%M%S")
        path = self._export_dir / f"gpucm-offers-{stamp}.{fmt}"
        try:
            with path.open("w", encoding="utf-8", newline="") as out:
                n = write_offers(page.offers, out, fmt)
        except OSError as exc:
            self.notify(f"Export failed: {exc}", severity="error", markup=False)
            return
        self.notify(f"Exported {n} offers to {path}", title="Export", markup=False)

    # -- help -----------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
