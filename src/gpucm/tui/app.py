"""gpucm-tui: the App. It receives its services (or a factory for them); it builds none.

Start-up is staged so a table is on screen as early as possible: with a `BootView`
the app first shows the database's first page (tui/boot.py), then imports and opens
the full app behind it and switches to the main screen. So this module imports only
what the first screen needs; the rest is imported where it is first used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from textual import events, work
from textual.actions import ActionError, parse
from textual.app import App
from textual.binding import Binding, BindingType

from gpucm import paths
from gpucm.domain.provider_names import display_name
from gpucm.tui.boot import BootView
from gpucm.tui.heap import freeze_startup_heap
from gpucm.tui.leave import leave as leave  # gpucm-tui's exit, for cli/main.py
from gpucm.tui.messages import BootPainted, FirstPaint, RefreshLanded
from gpucm.tui.theme_files import quick_theme

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.driver import Driver
    from textual.screen import Screen
    from textual.timer import Timer

    from gpucm.domain.models import SearchQuery
    from gpucm.engine.refresher import RefreshOutcome
    from gpucm.engine.scheduler import RefreshWorkers
    from gpucm.presets import Watch
    from gpucm.services import Services
    from gpucm.store.results import TeamEvent
    from gpucm.tui.commands import GpucmCommands
    from gpucm.tui.screens.main import MainScreen
    from gpucm.tui.watching import TuiWatches

log = logging.getLogger(__name__)

ServicesFactory = Callable[[], Awaitable["Services"]]


def _gpucm_commands() -> type[GpucmCommands]:
    """The palette's commands, loaded when the palette first opens (as Textual loads
    its own): nothing of them is on the first screen."""
    from gpucm.tui.commands import GpucmCommands

    return GpucmCommands


def _new_request_id() -> str:
    from gpucm.engine.launch_options import new_request_id

    return new_request_id()


class GpucmApp(App[None]):
    CSS_PATH = "gpucm.tcss"
    TITLE = "gpucm"
    COMMANDS = App.COMMANDS | {_gpucm_commands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        # Textual adds this one itself unless the app binds it; bound here, it has an id
        Binding(
            "ctrl+p", "command_palette", "palette", show=False, priority=True, id="app.palette"
        ),
    ]

    services: Services

    def __init__(
        self,
        services: Services | ServicesFactory,
        *,
        query: SearchQuery | None = None,
        theme: str | None = None,
        refresh: bool = True,
        export_dir: Path | None = None,
        cursor_blink: bool = True,
        boot: BootView | None = None,
        keymap: Mapping[str, str] | None = None,
        freeze_heap: bool = False,
    ) -> None:
        super().__init__()
        # the user's [keymap], checked (tui/keymap.py); the help screen shows its keys
        self.user_keymap: dict[str, str] = dict(keymap or {})
        self._clashes_said: set[str] = set()
        if self.user_keymap:
            self.set_keymap(self.user_keymap)
        # A factory opens the services on the app's own event loop (aiosqlite and the
        # store's locks belong to one loop): snapshot tests run the app on a fresh
        # loop, and the staged start opens them after the first screen is up.
        if hasattr(services, "store"):
            self.services = services  # type: ignore[assignment]
            self._factory: ServicesFactory | None = None
        else:
            self._factory = services
        self._opening: asyncio.Future[Services] | None = None  # the factory at work
        self._initial_query = query
        self._requested_theme = theme
        self._refresh_enabled = refresh
        self._export_dir = export_dir or Path.cwd()
        self._boot = boot if query is None else None
        self._workers_started = False
        # set by gpucm-tui, the app's own process; not by tests, which run many apps in
        # one process and would keep every earlier app's object cycles alive
        self._freeze_heap = freeze_heap
        self._starting = False
        self._scheduler: RefreshWorkers | None = None
        self._watches: TuiWatches | None = None
        self._instance_timer: Timer | None = None
        self._instance_sync_running = False
        # launch request ids; snapshot runs swap in a fixed sequence
        self.request_ids: Callable[[], str] = _new_request_id
        # snapshot tests turn blinking off so a focused input looks the same every time
        self.cursor_blink = cursor_blink
        if self._boot is not None:
            self._start_in(self._requested_theme or self._boot.theme or "gpucm-dark")

    def _start_in(self, name: str) -> None:
        """Start in the theme `name`, read quickly (tui/theme_files.py), as Textual
        starts in its default one: its colours are the stylesheet's variables before
        any CSS is parsed. Setting `theme` on a running app would parse every
        stylesheet again (twice over: Textual's re-parse drops its parse cache), ~9 ms
        of the first paint. This is what that setting does, minus the re-parse, for an
        app with nothing styled yet; the full start (`_start`) then picks the same name,
        validated, and nothing changes."""
        theme = quick_theme(name, paths.user_themes_dir())
        if theme is None:
            return  # the full start reports why, and picks another
        self.register_theme(theme)
        self.set_reactive(App.theme, theme.name)  # no watcher: nothing to refresh yet
        self.update_classes(
            {
                f"-theme-{theme.name}": True,
                "-dark-mode": theme.dark,
                "-light-mode": not theme.dark,
            },
            update=False,
        )
        self._refresh_truecolor_filter(self.ansi_theme)  # ANSI colours for this theme
        self.stylesheet.set_variables(self.get_css_variables())

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        if driver.__module__ == "textual.drivers.linux_driver":
            from gpucm.tui.driver import QuickExitDriver

            return QuickExitDriver  # quits without Textual's 0.2 s input-thread wait
        return driver

    async def on_mount(self) -> None:
        if self.user_keymap:
            self.screen_change_signal.subscribe(
                self, lambda screen: self.call_after_refresh(self._say_keymap_clashes, screen)
            )
        if self._boot is not None:
            from gpucm.tui.screens.boot import BootScreen

            self.push_screen(BootScreen(self._boot))
        else:
            await self._start()

    def on_boot_painted(self, _event: BootPainted) -> None:
        if self._scheduler is None and not self._starting:
            self._starting = True
            self.run_worker(self._start(), exclusive=True, group="start", exit_on_error=False)

    async def _start(self) -> None:
        """Open the services and show the main screen (behind the first screen, if any)."""
        from gpucm.tui.screens.main import MainScreen
        from gpucm.tui.themes import (
            choose_theme,
            load_themes,
            persist_theme_choices,
            register_themes,
        )

        if self._factory is not None:
            # shielded: a quit meanwhile (q on the first screen) cancels this worker,
            # not the open, which on_unmount lets finish and closes
            self._opening = asyncio.ensure_future(self._factory())
            try:
                self.services = await asyncio.shield(self._opening)
            except Exception as exc:  # the store or config is unusable: say so and stop
                log.exception("gpucm-tui could not start")
                self.exit(return_code=1, message=f"gpucm-tui: {exc}")
                return
        self._scheduler = self.services.scheduler(on_outcome=self._landed)
        if self.services.team is not None:
            # a team's store: what the others launch and stop shows here as they commit
            await self.services.team.listen(self._team_changed)
        from gpucm.tui.watching import TuiWatches

        self._watches = TuiWatches(
            self, self.services.store, paths.presets_file(), self.services.armings
        )
        await self._watches.follow_armed(self.services.team)  # the status bar's armed count
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
        self.services.catalog_source.current()  # reads the user's catalog file, once
        if self.services.catalog_source.last_error:  # the built-in catalog serves meanwhile
            self.notify(
                self.services.catalog_source.last_error,
                title="gpu_catalog.toml not used",
                severity="warning",
                markup=False,
            )
        main = MainScreen(self.services, self._initial_query)
        if self._boot is not None:
            await self.switch_screen(main)
        else:
            await self.push_screen(main)

    def on_first_paint(self, _event: FirstPaint) -> None:
        if self._freeze_heap:
            self._freeze_heap = False  # once: a later first paint (a screen switch) skips
            freeze_startup_heap()
        # providers refresh once the table is up: a refresh competing for the CPU
        # would only delay the first screen
        if self._refresh_enabled and not self._workers_started:
            self._workers_started = True
            self.run_refresh_workers()
            # settle launches a crash left in doubt, and learn what runs, once
            self.sync_instances(reconcile=True)

    async def on_unmount(self) -> None:
        if self._opening is not None and not hasattr(self, "services"):
            # quit while the services were opening: their connections, left open, had
            # threads that outlived the event loop ("Event loop is closed" at exit)
            self.workers.cancel_group(self, "start")
            try:
                self.services = await self._opening
            except Exception:
                return  # the open failed, and said so (_start)
        if self._factory is not None and hasattr(self, "services"):
            if self._scheduler is not None:
                await self._scheduler.stop()
            await self.services.aclose()

    # -- refresh workers --------------------------------------------------------------

    @work(exclusive=True, group="refresh-workers", exit_on_error=False)
    async def run_refresh_workers(self) -> None:
        if self._scheduler is not None:
            await self._scheduler.run()

    async def _landed(self, outcome: RefreshOutcome) -> None:
        # every screen hears it, not only the one in front: the market screen open over
        # the main one repaints, and the main screen is current when the user returns
        for screen in self.screen_stack:
            screen.post_message(RefreshLanded(outcome))
        if outcome.ok:
            self.check_watches()

    @work(group="watches", exit_on_error=False)
    async def check_watches(self) -> None:
        # after each provider lands: the checker says each offer and condition once,
        # so the four landings of a round ring at most once per new match
        if self._watches is not None:
            await self._watches.check()
            # in a team only the refresher fires armed watches (every member's): a
            # team snipes once
            if self.services.fires_watches():
                await self._watches.fire(self.services.sniper)
        try:
            await self.services.send_events()  # events out, to [events] in config.toml
        except Exception as exc:  # a hook must never take the app down
            log.warning("sending events failed: %s", exc)

    def armed_watches(self) -> list[str]:
        """Watches that launch without asking when they match, for the status bar:
        the team's, each one's owner ("" for this user's)."""
        if self._watches is None:
            return []
        return self._watches.armed_owners()

    def refresh_provider(self, name: str | None) -> None:
        main = self._main_screen()
        if main is None or self._scheduler is None:
            return
        main.refresh_started([name] if name else self.services.provider_names())
        team = self.services.team
        if team is not None and not team.leading:
            self.notify(
                "Asked the team's refresher for a round; offers show here when it lands.",
                timeout=4,
                markup=False,
            )
        if self._refresh_enabled:
            self._scheduler.refresh_now(name)
        else:
            self._refresh_once(name)

    def _team_changed(self, event: TeamEvent) -> None:
        """Another process sharing the team store launched, stopped or synced machines
        (refreshes come through the refresh workers), or what it did while this one
        was not listening is to be read again (a resync): the instance manager
        repaints from the store, without asking the providers."""
        from gpucm.store.results import RESYNC

        if event.own or event.topic not in ("instances", "launches", RESYNC):
            return
        from gpucm.tui.screens.instances import InstancesScreen, InstancesSynced

        for screen in self.screen_stack:
            if isinstance(screen, InstancesScreen):
                screen.post_message(InstancesSynced([]))

    @work(group="manual-refresh", exit_on_error=False)
    async def _refresh_once(self, name: str | None) -> None:
        for outcome in await self.services.refresh([name] if name else None):
            await self._landed(outcome)

    def _main_screen(self) -> MainScreen | None:
        from gpucm.tui.screens.main import MainScreen

        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    # -- instances ------------------------------------------------------------------

    def follow_instances(self, active: bool) -> None:
        """The instance manager is open (or closed): sync now, then every 2 s on the
        demo market (its machines boot in 20 s) or 10 s against real providers, whose
        rate limits a faster poll would eat."""
        if self._instance_timer is not None:
            self._instance_timer.stop()
            self._instance_timer = None
        if active:
            self.sync_instances()
            interval = 2.0 if self.services.demo else 10.0
            self._instance_timer = self.set_interval(interval, self.sync_instances)

    @work(group="instance-sync", exit_on_error=False)
    async def sync_instances(self, reconcile: bool = False) -> None:
        from gpucm.tui.screens.instances import InstancesScreen, InstancesSynced

        # one sync at a time; a slow provider must not stack them up (nor be cancelled
        # by the next tick, which would never let a sync finish)
        if self._instance_sync_running or not hasattr(self, "services"):
            return
        self._instance_sync_running = True
        try:
            if reconcile:
                await self.services.launcher.reconcile()
            outcomes = await self.services.instances.sync()
        except Exception:  # the manager shows the last known state; the log says why
            log.exception("instance sync failed")
            return
        finally:
            self._instance_sync_running = False
        for screen in self.screen_stack:
            if isinstance(screen, InstancesScreen):
                screen.post_message(InstancesSynced(outcomes))

    # -- CommandTarget (the command palette's view of the app) ----------------------

    def active_providers(self) -> list[tuple[str, str]]:
        if not hasattr(self, "services"):
            return []
        return [(n, display_name(n)) for n in self.services.provider_names()]

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
        from gpucm.domain.models import SearchQuery
        from gpucm.export import write_offers

        main = self._main_screen()
        if main is None:
            return
        query = main.search or SearchQuery()
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

    # saved filters and watches (filters.toml, shared with `gpucm offers --preset`)

    def saved_filters(self) -> list[str]:
        if self._watches is None:
            return []
        return list(self._watches.book.current().filters)

    def recall_filter(self, name: str) -> None:
        from gpucm.domain.query import QueryError
        from gpucm.presets import PresetError

        main = self._main_screen()
        if main is None or self._watches is None:
            return
        try:
            # the same hot-reloaded book the palette listed the name from
            query = self._watches.book.current().filter_query(name)
        except (PresetError, QueryError) as exc:
            self.notify(f"Filter {name!r}: {exc}", severity="error", markup=False)
            return
        main.apply_query(query, "keys")
        self.notify(f"Filter {name!r} recalled.", timeout=3, markup=False)

    def _current_query_text(self) -> str | None:
        """The search as the user typed it (else as the builder or keys made it):
        what a saved filter or a watch keeps, exactly."""
        main = self._main_screen()
        return None if main is None else main.query_text

    def save_filter(self) -> None:
        from gpucm.tui.screens.presets import SaveFilterScreen

        text = self._current_query_text()
        if text is None:
            return

        def saved(name: str | None) -> None:
            if name:
                self.notify(f"Saved filter {name!r}: recall it from the palette.", markup=False)

        self.push_screen(SaveFilterScreen(text, paths.presets_file()), saved)

    def watch_filter(self) -> None:
        from gpucm.tui.screens.presets import WatchFormScreen

        text = self._current_query_text()
        if text is None:
            return

        def saved(watch: Watch | None) -> None:
            if watch is not None:
                self.watch_saved(watch)

        self.push_screen(WatchFormScreen(text, paths.presets_file()), saved)

    @work(group="watches", exit_on_error=False)
    async def watch_saved(self, watch: Watch) -> None:
        """The watch dialog saved `watch`: its arming (the dialog's second enter) goes
        to the store, where whoever fires armed watches finds it."""
        said = f"Watching {watch.name!r} ({watch.describe()}); checked after each refresh."
        if self._watches is not None:
            try:
                await self._watches.saved(watch)
            except Exception as exc:  # the store refused: the watch is saved, not armed
                self.notify(
                    f"{watch.name!r} saved; its arming was NOT stored: {exc}",
                    severity="error",
                    markup=False,
                )
                return
            if watch.armed and self.services.team is not None:
                from gpucm.engine.armings import TEAM_ARMING

                said += f" In a team, {TEAM_ARMING}."
        self.notify(said, title="Watch ARMED" if watch.armed else "Watch", markup=False)
        self.check_watches()

    @work(exclusive=True, group="disarm", exit_on_error=False)
    async def disarm_watch(self) -> None:
        """The palette's "Disarm a watch…" (tui/screens/disarm.py)."""
        if self._watches is None:  # the first screen is up, the store not yet open
            self.notify("gpucm is still starting: try again in a moment.", markup=False)
            return
        from gpucm.tui.screens.disarm import choose_to_disarm

        await choose_to_disarm(self, self._watches, self.services.settings.secrets)

    def open_market(self) -> None:
        main = self._main_screen()
        if main is not None:
            main.action_market()

    def open_instances(self) -> None:
        if hasattr(self, "services"):
            from gpucm.tui.screens.instances import open_instances

            open_instances(self, self.services)

    # -- keys that cannot act now ------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        """A key whose action cannot run now is greyed out in the key bar; pressed, it
        says why instead of doing nothing. (A key that acted, or that a widget such as
        an input took, never gets here disabled.)"""
        active = self.screen.active_bindings.get(event.key)
        if active is None or active.enabled:
            return
        binding = active.binding
        reason: str | None = None
        explain = getattr(active.node, "disabled_reason", None)
        if callable(explain):
            try:
                _namespace, action, parameters = parse(binding.action)
            except ActionError:
                action, parameters = binding.action, ()
            reason = explain(action, parameters)
        what = binding.description or self.get_key_display(binding)
        self.notify(reason or f"{what}: not available here.", timeout=4, markup=False)

    def _say_keymap_clashes(self, screen: Screen[object]) -> None:
        """Once per clash: a [keymap] key that the screen (or the app, or a widget on
        it) already used for another action, which is left without it."""
        from gpucm.tui.keymap import clashes

        nodes: list[DOMNode] = [self, screen, *screen.walk_children()]
        for node in nodes:
            for line in clashes(
                (b for bs in node._bindings.key_to_bindings.values() for b in bs),
                self.user_keymap,
            ):
                if line not in self._clashes_said:
                    self._clashes_said.add(line)
                    self.notify(
                        f"{line}; give it a key of its own in [keymap].",
                        title="Keymap",
                        severity="warning",
                        markup=False,
                        timeout=8,
                    )

    # -- help -----------------------------------------------------------------------

    def action_help(self) -> None:
        """The keys of the screen in front (its `KEYS_HELP`), or the main screen's."""
        from gpucm.tui.screens.help import HelpScreen

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        keys = getattr(screen, "KEYS_HELP", None)
        title = getattr(screen, "HELP_TITLE", "gpucm keys")
        self.push_screen(HelpScreen(keys, title=title))
