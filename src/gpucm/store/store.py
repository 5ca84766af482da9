"""The store: the single source of truth between the refresh workers and every front end.

`Store` is the store's interface: one object front ends and the composition root hold,
made of one module per concern, each over a database layer:

- offers and search: `store/offers.py` (the offer index kept current: `live_index.py`)
- stats and history: `store/stats.py`, `store/history.py`
- provider health: `store/health.py`
- instances and the launch journal: `store/instance_tables.py` (`store.instances`,
  `store.journal`)
- the spend ledger: `store/spend_ledger.py` (`store.spend`)
- watch alerts: `store/alert_table.py` (`store.alerts`)
- armed watches (snipes), every owner's: `store/armed_watches.py` (`store.armed`)
- the memory of bad hosts: `store/host_table.py` (`store.hosts`), which every search
  hides unless it asks for `hosts=all`
- events sent out: `store/event_outbox.py` (`store.events`)
- the demo market's state: `store/demo_state.py` (`store.demo_state`)

Two backends: SQLite (store/database.py, the embedded default, one user) and
PostgreSQL (store/pg/, a team: `postgresql://` locations). They share every module
but the offers' writes and searches, which each does its own fastest way; PostgreSQL
adds `store.team` (store/pg/team.py: the elected refresher and the changes other
processes make, heard as they commit). The engine sees the store only through the
Protocols in engine/ports.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpucm.database_url import DatabaseUrl, is_postgres_url
from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import Clock, utcnow
from gpucm.domain.models import MarketStats, Offer, ProviderHealth, SearchQuery
from gpucm.store.alert_table import AlertTable
from gpucm.store.armed_watches import ArmedWatchTable
from gpucm.store.database import Database, SqlDatabase
from gpucm.store.demo_state import DemoStateTable
from gpucm.store.event_outbox import EventOutbox
from gpucm.store.health import HealthTable
from gpucm.store.host_table import HostTable
from gpucm.store.instance_tables import InstanceTable, LaunchJournal
from gpucm.store.live_index import INDEX_BUILD_TASK as INDEX_BUILD_TASK
from gpucm.store.live_index import LiveIndex
from gpucm.store.offers import OfferTable
from gpucm.store.results import HistoryPoint, Resolution
from gpucm.store.results import ProviderPrices as ProviderPrices
from gpucm.store.results import SearchPage as SearchPage
from gpucm.store.results import SnapshotResult as SnapshotResult
from gpucm.store.spend_ledger import SpendLedger
from gpucm.store.stats import StatsReader

if TYPE_CHECKING:
    from gpucm.store.pg.offers import PgOfferTable
    from gpucm.store.pg.team import PgTeam

CatalogGetter = Callable[[], Catalog]


def _hiding(query: SearchQuery, bad: Sequence[str]) -> SearchQuery:
    """`query` hiding the hosts `bad` too."""
    if not bad:
        return query
    return query.model_copy(update={"bad_hosts": tuple(sorted({*query.bad_hosts, *bad}))})


class Store:
    def __init__(
        self,
        db: SqlDatabase,
        catalog: CatalogGetter,
        *,
        offers: OfferTable | PgOfferTable,
        index: LiveIndex,
        team: PgTeam | None = None,
    ) -> None:
        self.db = db
        self.path: str = getattr(db, "path", "")
        self._catalog = catalog
        self.index = index
        self.offers = offers
        self.team = team
        self.market = StatsReader(db, catalog)
        self.provider_health = HealthTable(db)
        self.instances = InstanceTable(db)
        self.journal = LaunchJournal(db)
        self.spend = SpendLedger(db)
        self.alerts = AlertTable(db, owner=team.who if team is not None else None)
        self.armed = ArmedWatchTable(db)
        self.hosts = HostTable(db, who=team.who if team is not None else None)
        self.demo_state = DemoStateTable(db)
        self.events = EventOutbox(db)

    @classmethod
    async def open(
        cls,
        path: Path | str | DatabaseUrl,
        *,
        catalog: CatalogGetter | Catalog | None = None,
        clock: Clock = utcnow,
        offer_index: bool = False,
    ) -> Store:
        """`path`: a SQLite file, or a PostgreSQL URL (a `DatabaseUrl`, or its text).
        `offer_index`: answer paged searches and counts from an in-memory column index
        (store/offer_index.py), built in the background after each change."""
        if catalog is None:
            catalog = Catalog.builtin()
        if isinstance(catalog, Catalog):
            fixed = catalog

            def getter() -> Catalog:
                return fixed
        else:
            getter = catalog
        if isinstance(path, DatabaseUrl) or (isinstance(path, str) and is_postgres_url(path)):
            url = path if isinstance(path, DatabaseUrl) else DatabaseUrl.parse(path)
            return await cls._open_postgres(url, getter, clock, offer_index)
        db = await Database.open(path, clock)
        index = LiveIndex(db, wanted=offer_index)
        return cls(db, getter, offers=OfferTable(db, getter, index), index=index)

    @classmethod
    async def _open_postgres(
        cls, url: DatabaseUrl, catalog: CatalogGetter, clock: Clock, offer_index: bool
    ) -> Store:
        # imported only for a team store: asyncpg is ~90 ms of a command's start
        from gpucm.store.pg.database import PgDatabase
        from gpucm.store.pg.offers import PgOfferTable
        from gpucm.store.pg.team import PgTeam, new_origin, whoami

        origin = new_origin()
        db = await PgDatabase.open(url, clock, origin=origin, who=whoami())
        offers = PgOfferTable(db, catalog, offer_index=offer_index)
        return cls(db, catalog, offers=offers, index=offers.index, team=PgTeam(db))

    @property
    def is_team(self) -> bool:
        """Shared by a team (PostgreSQL): one refresher, changes heard from others."""
        return self.team is not None

    async def close(self) -> None:
        await self.index.close()
        if self.team is not None:
            await self.team.close()
        await self.db.close()

    @property
    def catalog(self) -> Catalog:
        return self._catalog()

    def now(self) -> datetime:
        return self.db.now()

    @property
    def read_only(self) -> bool:
        """The file cannot be written by this process: reads work, writes are refused."""
        return self.db.read_only

    # -- meta -----------------------------------------------------------------------

    async def data_version(self) -> int:
        """A number that changes whenever anything is committed to the database, by this
        store's writer or another process: a cheap "has anything changed" for a cache
        of answers (the API's search cache)."""
        return await self.db.data_version()

    async def get_meta(self, key: str) -> str | None:
        rows = await self.db.select("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    async def set_meta(self, key: str, value: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- offers and search (store/offers.py) -----------------------------------------

    async def replace_offers(
        self, provider: str, offers: Sequence[Offer], *, fetched_at: datetime | None = None
    ) -> SnapshotResult:
        """Replace one provider's offers atomically and append its history points."""
        return await self.offers.replace(provider, offers, fetched_at=fetched_at)

    async def without_bad_hosts(self, query: SearchQuery) -> SearchQuery:
        """`query` with the hosts the memory of bad hosts holds now to hide (unless it
        asks for `hosts=all`): every search goes through here, failover's too."""
        if query.hosts == "all":
            return query
        return _hiding(query, await self.hosts.active())

    async def search(self, query: SearchQuery, *, with_total: bool = True) -> SearchPage:
        query = await self.without_bad_hosts(query)
        return await self.offers.search(query, with_total=with_total)

    async def search_rows(
        self, query: SearchQuery, columns: Sequence[str], *, limit: int, offset: int = 0
    ) -> list[tuple[Any, ...]]:
        query = await self.without_bad_hosts(query)
        return await self.offers.search_rows(query, columns, limit=limit, offset=offset)

    def search_rows_now(
        self, query: SearchQuery, columns: Sequence[str], *, limit: int, offset: int = 0
    ) -> list[tuple[Any, ...]] | None:
        """`search_rows` answered on the calling thread, about 1 ms, when the offer
        index is current (a SQLite store); else None, and the caller awaits
        `search_rows`. For the TUI's table, which paints a new query's rows at once."""
        if not isinstance(self.offers, OfferTable):
            return None
        hosts = self.hosts

        def hide(raw: sqlite3.Connection, query: SearchQuery) -> SearchQuery:
            return query if query.hosts == "all" else _hiding(query, hosts.active_on(raw))

        return self.offers.search_rows_now(query, columns, limit=limit, offset=offset, hide=hide)

    async def best_offers(self, query: SearchQuery, *, disk_gb: float = 0.0) -> list[Offer]:
        query = await self.without_bad_hosts(query)
        return await self.offers.best(query, disk_gb=disk_gb)

    async def count(self, query: SearchQuery) -> int:
        return await self.offers.count(await self.without_bad_hosts(query))

    async def get_offer(self, offer_id: str) -> Offer | None:
        return await self.offers.get(offer_id)

    async def offer_counts(self) -> dict[str, tuple[int, int]]:
        return await self.offers.counts()

    async def has_offers(self) -> bool:
        """Whether any offer is stored: one row looked at, where `offer_counts` counts
        them all (~30 ms at 100,000 offers, on every CLI command)."""
        rows = await self.db.select("SELECT EXISTS (SELECT 1 FROM offers)")
        return bool(rows[0][0])

    async def provider_models(self) -> dict[str, list[str]]:
        return await self.offers.provider_models()

    async def model_offers(self, gpu_model: str) -> list[ProviderPrices]:
        return await self.offers.model_offers(gpu_model)

    async def gpu_prices(self, query: SearchQuery, *, limit: int = 20_000) -> list[float]:
        query = await self.without_bad_hosts(query)
        return await self.offers.gpu_prices(query, limit=limit)

    async def provider_counts(self, query: SearchQuery) -> dict[str, int]:
        return await self.offers.provider_counts(await self.without_bad_hosts(query))

    @property
    def index_generation(self) -> int | None:
        return self.index.generation

    async def wait_for_index(self) -> bool:
        return await self.index.wait()

    # -- stats and history (store/stats.py) ------------------------------------------

    async def stats(self, query: SearchQuery | None = None) -> MarketStats:
        return await self.market.stats(query)

    async def stats_and_trend(
        self, query: SearchQuery | None, since: datetime, resolution: Resolution
    ) -> tuple[MarketStats, dict[str, list[float]]]:
        return await self.market.stats_and_trend(query, since, resolution)

    async def history(
        self,
        gpu_models: Iterable[str],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        providers: Iterable[str] = (),
        resolution: Resolution | None = None,
    ) -> list[HistoryPoint]:
        return await self.market.history(
            gpu_models, since=since, until=until, providers=providers, resolution=resolution
        )

    # -- provider health (store/health.py) -------------------------------------------

    async def save_health(self, health: ProviderHealth) -> None:
        await self.provider_health.save(health)

    async def health(self) -> dict[str, ProviderHealth]:
        return await self.provider_health.all()

    # -- the demo market's state (store/demo_state.py) ---------------------------------

    async def get_demo_state(self, key: str) -> Any:
        return await self.demo_state.load(key)

    async def set_demo_state(self, key: str, value: Any) -> None:
        await self.demo_state.save(key, value)
