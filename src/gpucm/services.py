"""The composition root: the one factory that builds gpucm's services for every front
end (CLI, TUI, API). Nothing below the front ends imports it.

Front ends get a `Services` and never build stores or providers themselves; tests pass
a fixed clock, a temporary GPUCM_HOME, or an httpx transport. The engine gets what it
needs as ports (engine/ports.py): `Services` is its provider control, and hands it the
store, the settings, the catalog and the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gpucm import paths
from gpucm.config import Settings, SettingsSource
from gpucm.domain.catalog import Catalog, CatalogSource
from gpucm.domain.clock import Clock, utcnow
from gpucm.domain.provider_names import PROVIDERS
from gpucm.store.damage import store_failure
from gpucm.store.store import Store

if TYPE_CHECKING:
    import httpx

    from gpucm.engine.instances import InstanceManager
    from gpucm.engine.launch_flow import LaunchFlow
    from gpucm.engine.launcher import Launcher
    from gpucm.engine.ports import EnginePorts
    from gpucm.engine.refresher import Refresher, RefreshOutcome
    from gpucm.engine.scheduler import OutcomeHandler, RefreshScheduler
    from gpucm.providers.base import InstanceControl, OfferSource
    from gpucm.providers.demo import DemoMarket

# A command that only reads the store (`gpucm offers` on a refreshed store) never loads
# the refresh machinery or a provider: it is imported where it is first used.


log = logging.getLogger(__name__)


@dataclass
class Services:
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
        )

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
        sources = [s for s in self.sources() if only is None or s.name in only]
        return await self.refresher.refresh_all(sources, force=force)

    def scheduler(self, on_outcome: OutcomeHandler | None = None) -> RefreshScheduler:
        """The refresh workers, one per provider, for long-running front ends."""
        from gpucm.engine.scheduler import RefreshScheduler

        return RefreshScheduler(
            self.refresher,
            self.store,
            self.sources,
            self.clock,
            self.refresh_interval,
            on_outcome=on_outcome,
        )

    def refresh_interval(self, name: str) -> float:
        settings = self.settings
        return settings.demo_refresh_interval if self.demo else settings.interval_for(name)

    async def ensure_data(self) -> list[RefreshOutcome]:
        """A never-refreshed store gets one round first, so a first command shows offers."""
        if await self.store.offer_counts() or not self.provider_names():
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
    db: Path | None = None,
    demo: bool | None = None,
    clock: Clock = utcnow,
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
    demo_latency: float = 0.0,
    transport: httpx.AsyncBaseTransport | None = None,
    offer_index: bool = True,
) -> Services:
    """`offer_index`: searches from an in-memory index, for a front end that runs a
    while and searches often (the TUI, the API); off for a one-shot CLI command."""
    settings_source = SettingsSource(env, config_path)
    settings = settings_source.current()
    use_demo = demo if demo is not None else not settings.configured_providers()
    catalog_source = CatalogSource(paths.user_catalog_file())
    store = await Store.open(
        db or paths.default_db_path(demo=use_demo),
        catalog=catalog_source.current,
        clock=clock,
        offer_index=offer_index,
    )
    try:
        # marked once; a read-only store is read as it is
        if use_demo and not store.read_only and await store.get_meta("mode") != "demo":
            await store.set_meta("mode", "demo")
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
