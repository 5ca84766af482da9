"""The composition root: the one factory that builds gpucm's services for every front
end (CLI, TUI, API). Nothing below the front ends imports it.

Front ends get a `Services` and never build stores or providers themselves; tests pass
a fixed clock, a temporary GPUCM_HOME, or an httpx transport. The engine gets what it
needs as ports (engine/ports.py): `Services` is its provider control, and hands it the
store, the settings, the catalog and the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gpucm import paths
from gpucm.config import Settings, SettingsSource
from gpucm.database_url import DatabaseUrl
from gpucm.db_location import store_location
from gpucm.domain.catalog import Catalog, CatalogSource
from gpucm.domain.clock import Clock, utcnow
from gpucm.domain.provider_names import PROVIDERS
from gpucm.store.damage import store_failure
from gpucm.store.db import StoreError
from gpucm.store.results import RESYNC, TeamEvent
from gpucm.store.store import Store

if TYPE_CHECKING:
    import httpx

    from gpucm.engine.armings import Armings
    from gpucm.engine.events import EventSender
    from gpucm.engine.instances import InstanceManager
    from gpucm.engine.launch_flow import LaunchFlow
    from gpucm.engine.launcher import Launcher
    from gpucm.engine.ports import EnginePorts, Team
    from gpucm.engine.refresher import Refresher, RefreshOutcome
    from gpucm.engine.scheduler import OutcomeHandler, RefreshScheduler, RefreshWorkers
    from gpucm.engine.snipe import Sniper
    from gpucm.providers.base import InstanceControl, OfferSource
    from gpucm.providers.demo import DemoMarket

# A command that only reads the store (`gpucm offers` on a refreshed store) never loads
# the refresh machinery or a provider: it is imported where it is first used.


log = logging.getLogger(__name__)

# how long `gpucm refresh` on a team store waits for the team's refresher's round
ASKED_REFRESH_TIMEOUT = 120.0


@dataclass
class Services:
    """Everything a front end uses, built once by `open_services`."""

    settings_source: SettingsSource
    catalog_source: CatalogSource
    store: Store
    clock: Clock
    demo: bool
    demo_latency: float = 0.0
    transport: httpx.AsyncBaseTransport | None = None
    _sources: dict[str, tuple[object, OfferSource]] = field(default_factory=dict)
    _market: DemoMarket | None = None
    _refresher: Refresher | None = None

    @property
    def refresher(self) -> Refresher:
        if self._refresher is None:
            from gpucm.engine.refresher import Refresher

            source = self.settings_source
            demo = self.demo

            def interval(name: str) -> float:
                current = source.current()
                return current.demo_refresh_interval if demo else current.interval_for(name)

            self._refresher = Refresher(
                self.store,
                self.catalog_source.current,
                self.clock,
                secrets=lambda: source.current().secrets(),
                interval=interval,
            )
        return self._refresher

    @property
    def settings(self) -> Settings:
        return self.settings_source.current()

    @property
    def catalog(self) -> Catalog:
        return self.catalog_source.current()

    def provider_names(self) -> list[str]:
        """Providers that refresh: the four simulated ones in demo mode, else the
        configured ones (read afresh, so a key added to the config file counts)."""
        return list(PROVIDERS) if self.demo else self.settings.configured_providers()

    def sources(self) -> list[OfferSource]:
        wanted = self.provider_names()
        settings = self.settings
        for name in list(self._sources):
            if name not in wanted:
                self._sources.pop(name)
        result = []
        for name in wanted:
            key: object = "demo" if self.demo else (settings.provider(name), settings.http_timeout)
            cached = self._sources.get(name)
            if cached is None or cached[0] != key:
                self._sources[name] = (key, self._build(name, settings))
            result.append(self._sources[name][1])
        return result

    def source(self, name: str) -> OfferSource | None:
        return next((s for s in self.sources() if s.name == name), None)

    def _build(self, name: str, settings: Settings) -> OfferSource:
        if self.demo:
            from gpucm.providers.demo import DemoMarket, DemoProvider

            if self._market is None:
                self._market = DemoMarket()
            return DemoProvider(
                name,
                self._market,
                self.store.demo_state,
                clock=self.clock,
                latency=self.demo_latency,
            )
        from gpucm.providers.factory import make_adapter  # real adapters pull in httpx

        return make_adapter(
            name,
            settings.provider(name),
            transport=self.transport,
            secrets=lambda: self.settings.secrets(),
            clock=self.clock,
            timeout=settings.http_timeout,
        )

    @property
    def ports(self) -> EnginePorts:
        """What the engine gets: this object is its provider control."""
        from gpucm.engine.ports import EnginePorts

        return EnginePorts(
            store=self.store,
            providers=self,
            settings=self.settings_source.current,
            catalog=self.catalog_source.current,
            clock=self.clock,
            # launches record who sent them where a team shares the store
            who=self.who if self.team is not None else "",
            events=self.store.events,
        )

    @property
    def team(self) -> Team | None:
        """The team sharing the store (PostgreSQL), or None (one user, SQLite)."""
        return self.store.team

    @property
    def who(self) -> str:
        from gpucm.store.pg.team import whoami  # the standard library only

        return self.store.team.who if self.store.team is not None else whoami()

    # the launch path and the instance manager load only when a command uses them

    @property
    def launch_flow(self) -> LaunchFlow:
        """The one launch flow every front end calls (engine/launch_flow.py)."""
        from gpucm.engine.launch_flow import LaunchFlow

        return LaunchFlow(self.ports)

    @property
    def launcher(self) -> Launcher:
        """The launch flow's steps, for a front end that shows them one at a time."""
        from gpucm.engine.launcher import Launcher

        return Launcher(self.ports)

    def event_sender(self) -> EventSender:
        """Sends the outbox's events to `[events]` in config.toml."""
        from gpucm.engine.events import EventSender

        return EventSender(
            self.store.events, lambda: self.settings.events, transport=self.transport
        )

    async def send_events(self) -> None:
        """Deliver pending events; a failing hook (or store) is logged, never raised:
        the events wait in the outbox for the next try."""
        try:
            results = await self.event_sender().flush()
        except Exception as exc:
            log.warning("sending events failed: %s", exc)
            return
        for result in results:
            if not result.ok:
                log.warning("event to %s failed: %s", result.target, result.detail)

    @property
    def armings(self) -> Armings:
        """This user's armed watches, and the team's, in the store."""
        from gpucm.engine.armings import Armings

        return Armings(self.store.armed, who=self.who)

    def fires_watches(self) -> bool:
        """Whether this process fires armed watches now: in a team only the elected
        refresher does, so a team snipes once (each machine's request id is the
        arming's, so two firing processes would still launch it once)."""
        team = self.team
        return team is None or team.leading

    def sniper(self) -> Sniper:
        """What fires the store's armed watches, every owner's: the launch flow, and
        this process's environment for the templates' env names (the keys and the
        environment of the process that launches, as every launch)."""
        from gpucm.engine.snipe import Sniper

        return Sniper(
            self.launch_flow, self.store, armings=self.store.armed, who=self.who, env=os.environ
        )

    @property
    def instances(self) -> InstanceManager:
        from gpucm.engine.instances import InstanceManager

        return InstanceManager(self.ports)

    def is_active(self, name: str) -> bool:
        return self.source(name) is not None

    def control(self, name: str) -> InstanceControl:
        """The provider's instance operations (launch, stop, ...), if it is active."""
        from gpucm.engine.ports import ProviderNotConfigured
        from gpucm.providers.base import InstanceControl

        source = self.source(name)
        if source is None:
            raise ProviderNotConfigured(name)
        assert isinstance(source, InstanceControl)
        return source

    async def refresh(
        self, only: list[str] | None = None, *, force: bool = True
    ) -> list[RefreshOutcome]:
        """One round now. In a team only the refresher calls the providers: this
        process does if it is (or nobody is, and it becomes it for the round), else it
        asks the refresher and returns what that round landed (`by` says who)."""
        sources = [s for s in self.sources() if only is None or s.name in only]
        team = self.team
        if team is None or team.leading or not sources:
            return await self.refresher.refresh_all(sources, force=force)
        if await team.try_lead():
            try:
                return await self.refresher.refresh_all(sources, force=force)
            finally:
                await team.resign()
        return await self._ask_refresher(team, [s.name for s in sources])

    async def _ask_refresher(self, team: Team, names: list[str]) -> list[RefreshOutcome]:
        from gpucm.engine.refresher import RefreshOutcome

        landed: dict[str, RefreshOutcome] = {}
        done = asyncio.Event()
        resyncs: list[asyncio.Task[None]] = []

        def heard(event: TeamEvent) -> None:
            if event.topic == "health" and not event.own:
                for name in event.details:
                    if name in names:
                        landed[name] = RefreshOutcome(name, ok=True, by=event.by)
            elif event.topic == RESYNC:
                resyncs.append(asyncio.get_running_loop().create_task(resynced()))
            if len(landed) == len(names):
                done.set()

        async def resynced() -> None:
            # the listening session was lost and is back: a landing in the gap was said
            # to no one, and so may the request have been (the refresher's own session
            # may have been the lost one): what moved since asking has landed, the
            # rest is asked again
            try:
                health = await self.store.health()
                info = await team.refresher()
            except Exception as exc:  # away again: the next resync reads
                log.debug("could not read what landed after the resync: %s", exc)
                return
            for name in names:
                if name not in landed and health.get(name) != before.get(name):
                    landed[name] = RefreshOutcome(name, ok=True, by=info.who if info else None)
            missing = [name for name in names if name not in landed]
            if missing:
                with contextlib.suppress(Exception):  # (the timeout then says so)
                    await team.ask_refresh(missing)
            else:
                done.set()

        before = await self.store.health()
        await team.listen(heard)
        await team.ask_refresh(None if len(names) == len(self.provider_names()) else names)
        try:
            async with asyncio.timeout(ASKED_REFRESH_TIMEOUT):
                await done.wait()
        except TimeoutError:
            lost = " (the link to the team's database was lost and came back meanwhile)"
            raise StoreError(
                f"asked the team's refresher for a round; no answer within"
                f" {ASKED_REFRESH_TIMEOUT:g} s{lost if resyncs else ''} (see gpucm providers)"
            ) from None
        finally:
            for task in resyncs:
                task.cancel()
        health = await self.store.health()
        out = []
        for name in names:
            h = health.get(name)
            ok = h is not None and h.status == "ok"
            out.append(
                RefreshOutcome(
                    name,
                    ok=ok,
                    offers=h.offer_count if h else 0,
                    latency_ms=(h.latency_ms or 0.0) if h else 0.0,
                    error=None if ok or h is None else h.last_error,
                    error_kind=None if ok or h is None else h.last_error_kind,
                    by=landed[name].by,
                )
            )
        return out

    def scheduler(self, on_outcome: OutcomeHandler | None = None) -> RefreshWorkers:
        """The refresh workers, one per provider, for long-running front ends; in a
        team, workers that refresh only while this process is the team's refresher
        and otherwise hand on what the refresher landed (engine/team_refresh.py)."""
        from gpucm.engine.scheduler import RefreshScheduler

        def own() -> RefreshScheduler:
            return RefreshScheduler(
                self.refresher,
                self.store,
                self.sources,
                self.clock,
                self.refresh_interval,
                on_outcome=on_outcome,
            )

        team = self.team
        if team is None:
            return own()
        from gpucm.engine.team_refresh import TeamRefresh

        return TeamRefresh(team, self.store, own, on_outcome=on_outcome)

    def refresh_interval(self, name: str) -> float:
        settings = self.settings
        return settings.demo_refresh_interval if self.demo else settings.interval_for(name)

    async def ensure_data(self) -> list[RefreshOutcome]:
        """A never-refreshed store gets one round first, so a first command shows offers
        (in a team, by the team's refresher: `refresh`)."""
        if await self.store.has_offers() or not self.provider_names():
            return []
        return await self.refresh()

    async def aclose(self) -> None:
        for _, source in self._sources.values():
            try:
                await source.aclose()
            except Exception:  # closing must not mask what the user was doing
                log.debug("closing %s failed", source.name, exc_info=True)
        self._sources.clear()
        await self.store.close()


async def open_services(
    *,
    db: Path | str | DatabaseUrl | None = None,
    demo: bool | None = None,
    clock: Clock = utcnow,
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
    demo_latency: float = 0.0,
    transport: httpx.AsyncBaseTransport | None = None,
    offer_index: bool = True,
) -> Services:
    """`db`: --db (gpucm/db_location.py says where the store is without it).
    `offer_index`: searches from an in-memory index, for a front end that runs a
    while and searches often (the TUI, the API); off for a one-shot CLI command."""
    settings_source = SettingsSource(env, config_path)
    settings = settings_source.current()
    use_demo = demo if demo is not None else not settings.configured_providers()
    catalog_source = CatalogSource(
        paths.user_catalog_file(), parsed_cache=paths.catalog_cache_file()
    )
    configured = settings.database_url.get_secret_value() if settings.database_url else None
    location = store_location(
        db,
        demo=use_demo,
        env=os.environ if env is None else env,
        config={"database_url": configured} if configured else None,
    )
    store = await Store.open(
        location, catalog=catalog_source.current, clock=clock, offer_index=offer_index
    )
    try:
        await _check_mode(store, demo=use_demo)
    except BaseException as exc:
        await store.close()  # its connections' threads would keep the process alive
        failure = store_failure(exc, store.path) if isinstance(exc, Exception) else None
        if failure is None:
            raise
        raise failure from None

    return Services(
        settings_source=settings_source,
        catalog_source=catalog_source,
        store=store,
        clock=clock,
        demo=use_demo,
        demo_latency=demo_latency,
        transport=transport,
    )


async def _check_mode(store: Store, *, demo: bool) -> None:
    """A SQLite file is the demo's or the real market's by its name; a team store holds
    one or the other for good, so simulated offers never mix with a real provider's."""
    mode = await store.get_meta("mode")
    wanted = "demo" if demo else "live"
    if store.is_team and mode is not None and mode != wanted:
        held = "the demo market" if mode == "demo" else "real providers' data"
        raise StoreError(
            f"the team store {store.path} holds {held}; "
            + (
                "run without --demo (or set an API key)"
                if mode == "live"
                else "use --demo, or another database for real providers"
            )
        )
    # marked once; a read-only store is read as it is
    if mode != wanted and (demo or store.is_team) and not store.read_only:
        await store.set_meta("mode", wanted)
