"""The offers table: each provider's snapshot, replaced atomically by a refresh, and the
searches every front end makes over it (through the offer index when it is current)."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import aiosqlite

from gpucm.domain.catalog import Catalog
from gpucm.domain.models import Offer, SearchQuery
from gpucm.domain.pricing import HOURS_PER_MONTH
from gpucm.store import history
from gpucm.store.database import Database, SqlDatabase, fetchall, run
from gpucm.store.db import StoreError
from gpucm.store.live_index import LiveIndex
from gpucm.store.results import ProviderPrices, SearchPage, SnapshotResult
from gpucm.store.rows import insert_sql, row_to_offer
from gpucm.store.schema import OFFER_COLUMNS
from gpucm.store.search_sql import build_filter, order_by
from gpucm.store.snapshot import SnapshotBuilder, gc_paused
from gpucm.store.sql import BUMP_OFFERS_GENERATION, STALE_EXPR, offers_generation

if TYPE_CHECKING:
    from gpucm.store.offer_index import OfferIndex

CatalogGetter = Callable[[], Catalog]
T = TypeVar("T")
# the longest a refresh waits for its connection's thread to take up a statement: the
# wait only makes the hand-over sooner (~0.1 ms when the thread is idle), so the event
# loop is never held longer than this should the thread be busy with something else
_HAND_OVER_S = 0.05

_SELECT_OFFER = ", ".join(OFFER_COLUMNS)
# a refresh writing at least this many offers, and more than the other providers hold,
# rebuilds the offers' indexes after its insert rather than keeping them up to date
BULK_WRITE_ROWS = 10_000
# a refresh writing more offers than this gives back the page cache it filled
SHRINK_AFTER_ROWS = 20_000


# who offers a GPU model now, at what price (OfferReads.model_offers)
_MODEL_PRICES = (
    "SELECT provider, count(*), min(price_per_hour), max(price_per_hour),"
    " min(price_per_gpu_hour), avg(price_per_gpu_hour), max(price_per_gpu_hour)"
    " FROM offers WHERE gpu_model = ? AND available = 1"
    " GROUP BY provider ORDER BY min(price_per_gpu_hour), provider"
)


def _gpu_prices_sql(where: str) -> str:
    """The prices per GPU-hour of the offers `where` matches, cheapest first (LIMIT ?)."""
    return (
        f"SELECT price_per_gpu_hour FROM offers WHERE {where} ORDER BY price_per_gpu_hour LIMIT ?"
    )


def _provider_counts_sql(where: str) -> str:
    """How many offers `where` matches, per provider."""
    return f"SELECT provider, count(*) FROM offers WHERE {where} GROUP BY provider"


def _rows_by_rowid(raw: sqlite3.Connection, select: str, rowids: Sequence[int]) -> list[Any]:
    """Rows for a page of rowids, in the page's order (one JSON parameter, any length)."""
    if not rowids:
        return []
    sql = (
        f"SELECT {select} FROM json_each(?) AS page CROSS JOIN offers"
        " ON offers.rowid = page.value ORDER BY page.key"
    )
    return raw.execute(sql, ("[" + ",".join(map(str, rowids)) + "]",)).fetchall()


async def _exact_literal(conn: aiosqlite.Connection, value: float) -> str | None:
    """`value` as an SQL literal when SQLite reads that back as exactly the same float,
    else None: SQLite 3.40 read 30 of 200,000 random times with microseconds 1 ulp off."""
    if not math.isfinite(value):
        return None
    literal = repr(value)
    same = await fetchall(conn, f"SELECT {literal} = ?", (value,))
    return literal if same[0][0] == 1 else None


async def _while_running(
    conn: aiosqlite.Connection, statements: Sequence[str], work: Callable[[], T]
) -> T:
    """`work()` on this thread while `statements` run on the connection's: SQLite builds
    an index (and analyzes it) without the GIL, so a bulk refresh makes its history
    point (Python, ~50 ms at 100,000 offers) in the time the price index takes to build
    (~55 ms), where it made it after (bench ingest_100k_offers). The statements have
    run when this returns."""
    if not statements:
        return work()
    started = threading.Event()

    def execute_all(raw: sqlite3.Connection) -> None:
        started.set()
        for sql in statements:
            raw.execute(sql)

    running = asyncio.ensure_future(run(conn, execute_all))
    await asyncio.sleep(0)  # the task queues the statements on the connection's thread
    # Waiting here lets go of the GIL, for the connection's thread to take up the
    # statements at once: started by `work()` instead, it would wait for the GIL in
    # 5 ms turns (sys.getswitchinterval) and begin ~25 ms late. Its queue is empty (the
    # write transaction awaits each statement), so this is the time of one hand-over.
    started.wait(_HAND_OVER_S)
    try:
        return work()
    finally:
        await running


def _in_offers(columns: Iterable[str]) -> str:
    """A select list for `_rows_by_rowid`, whose list of rowids has a `value` and a
    `key` that would clash with the offers' own columns."""
    return ", ".join(STALE_EXPR if c == "stale" else f"offers.{c}" for c in columns)


_OFFER_AND_STALE = _in_offers((*OFFER_COLUMNS, "stale"))


def _check_columns(columns: Iterable[str]) -> None:
    for col in columns:
        if col not in OFFER_COLUMNS and col not in ("stale", "rowid"):
            raise StoreError(f"unknown offer column {col!r}")


class OfferReads:
    """The reads of the offers both backends answer with the same SQL."""

    def __init__(self, db: SqlDatabase, catalog: CatalogGetter) -> None:
        self._shared_db = db
        self._catalog = catalog

    def _window(
        self, query: SearchQuery, columns: Sequence[str], limit: int, offset: int
    ) -> tuple[str, tuple[Any, ...]]:
        """The SQL (and its parameters) for a window of chosen columns: `search_rows`."""
        _check_columns(columns)
        flt = build_filter(query, self._catalog())
        select = ", ".join(STALE_EXPR if c == "stale" else c for c in columns)
        sql = (
            f"SELECT {select} FROM offers WHERE {flt.where} ORDER BY {order_by(query)}"
            " LIMIT ? OFFSET ?"
        )
        return sql, (*flt.params, limit, offset)

    async def best(self, query: SearchQuery, *, disk_gb: float = 0.0) -> list[Offer]:
        """The cheapest matching offer per (GPU model, provider), by all-in price per
        GPU-hour with `disk_gb` of storage where it is billed separately: the
        cheapest-equivalent view. Ordered by model, then that price."""
        catalog = self._catalog()
        flt = build_filter(query, catalog)
        per_gpu = "(price_per_hour + coalesce(storage_price_per_gb_month, 0) * ? / ?) / gpu_count"
        sql = (
            f"SELECT {_SELECT_OFFER}, stale FROM ("
            f" SELECT {_SELECT_OFFER}, {STALE_EXPR} AS stale, {per_gpu} AS all_in,"
            f"  ROW_NUMBER() OVER (PARTITION BY gpu_model, provider"
            f"   ORDER BY {per_gpu}, rowid) AS rn"
            f" FROM offers WHERE {flt.where}) AS ranked"
            " WHERE rn = 1 ORDER BY gpu_model COLLATE NOCASE, all_in"
        )
        params = (disk_gb, HOURS_PER_MONTH, disk_gb, HOURS_PER_MONTH, *flt.params)
        rows = await self._shared_db.select(sql, params)
        n = len(OFFER_COLUMNS)
        return [row_to_offer(r[:n], catalog, stale=bool(r[n])) for r in rows]

    async def get(self, offer_id: str) -> Offer | None:
        rows = await self._shared_db.select(
            f"SELECT {_SELECT_OFFER}, {STALE_EXPR} FROM offers WHERE id = ?", (offer_id,)
        )
        if not rows:
            return None
        n = len(OFFER_COLUMNS)
        return row_to_offer(rows[0][:n], self._catalog(), stale=bool(rows[0][n]))

    # -- what the market holds ------------------------------------------------------

    async def counts(self) -> dict[str, tuple[int, int]]:
        """Per provider: (offers, available)."""
        rows = await self._shared_db.select(
            "SELECT provider, count(*), sum(available) FROM offers GROUP BY provider"
        )
        return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}

    async def provider_models(self) -> dict[str, list[str]]:
        rows = await self._shared_db.select(
            "SELECT DISTINCT provider, gpu_model FROM offers ORDER BY provider, gpu_model",
        )
        result: dict[str, list[str]] = {}
        for provider, model in rows:
            result.setdefault(provider, []).append(model)
        return result

    async def model_offers(self, gpu_model: str) -> list[ProviderPrices]:
        """Who offers this model now, at what price: per provider, over available
        offers (whole-offer and per-GPU prices)."""
        rows = await self._shared_db.select(_MODEL_PRICES, (gpu_model,))
        return [ProviderPrices(*r) for r in rows]

    async def gpu_prices(self, query: SearchQuery, *, limit: int = 20_000) -> list[float]:
        """Prices per GPU-hour of the offers a query matches (for a distribution chart);
        capped, cheapest first."""
        flt = build_filter(query, self._catalog())
        rows = await self._shared_db.select(_gpu_prices_sql(flt.where), (*flt.params, limit))
        return [r[0] for r in rows]

    async def provider_counts(self, query: SearchQuery) -> dict[str, int]:
        """How many offers each provider has among those a query matches."""
        flt = build_filter(query, self._catalog())
        rows = await self._shared_db.select(_provider_counts_sql(flt.where), flt.params)
        return {r[0]: int(r[1]) for r in rows}


class OfferTable(OfferReads):
    """The SQLite backend's offers: snapshot writes and searches (through the offer
    index when it is current)."""

    def __init__(self, db: Database, catalog: CatalogGetter, index: LiveIndex) -> None:
        super().__init__(db, catalog)
        self._db = db
        self._index = index
        self._pruned_at = 0.0

    # -- writing a snapshot ---------------------------------------------------------

    async def replace(
        self, provider: str, offers: Sequence[Offer], *, fetched_at: datetime | None = None
    ) -> SnapshotResult:
        """Replace one provider's offers atomically and append its history points."""
        when = (fetched_at or self._db.now()).timestamp()
        async with self._db.write() as tx:
            conn = tx.conn
            previous = {
                r[0]: (r[1], r[2])
                for r in await fetchall(
                    conn,
                    "SELECT id, price_per_hour, first_seen_at FROM offers WHERE provider = ?",
                    (provider,),
                )
            }
            snap = SnapshotBuilder(offers, previous, provider=provider, when=when)
            rebuilt = await self._indexes_to_rebuild(conn, len(offers), len(previous))
            for name, _ in rebuilt:
                await conn.execute(f'DROP INDEX "{name}"')
            if previous:
                await conn.execute("DELETE FROM offers WHERE provider = ?", (provider,))
            literal = await _exact_literal(conn, when)
            insert = insert_sql(provider=provider, fetched_at=literal, first_snapshot=not previous)
            with gc_paused():
                await conn.executemany(insert, snap.values(bind_when=literal is None))
            # a rebuilt index has lost its planner statistics with the old one
            rebuild = [sql for _, sql in rebuilt] + (["ANALYZE offers"] if rebuilt else [])
            points = await _while_running(conn, rebuild, snap.history)
            await history.record(tx, provider, int(when), points)
            if when - self._pruned_at >= history.PRUNE_EVERY.total_seconds():
                await history.prune(tx, when)
                self._pruned_at = when
            # else when the table's size has moved a lot (it notes the size either way)
            if await self._needs_analyze(conn) and not rebuilt:
                await conn.execute("ANALYZE offers")
            await conn.execute(BUMP_OFFERS_GENERATION)
            generation = await run(conn, offers_generation)
        self._index.build(generation)
        if snap.count > SHRINK_AFTER_ROWS:
            # give back the page cache a big refresh filled
            await self._db.on_writer("PRAGMA shrink_memory")
        return SnapshotResult(
            provider, snap.count, snap.new_offers, snap.removed, snap.price_changes
        )

    async def _indexes_to_rebuild(
        self, conn: aiosqlite.Connection, incoming: int, replaced: int
    ) -> list[tuple[str, str]]:
        """(name, CREATE statement) of the offers' indexes, when a write replaces most of
        the table: building an index once over the new rows sorts them in one go, where
        keeping it up to date inserts 100k entries one by one at random places. 100k
        offers: 1,503 -> 1,294 ms with the index built after (bench ingest_100k_offers).
        For a small provider's refresh the other providers' rows would be re-indexed
        for nothing, so then the index is kept up to date as usual."""
        if incoming < BULK_WRITE_ROWS:
            return []
        total = (await fetchall(conn, "SELECT count(*) FROM offers"))[0][0]
        if incoming < total - replaced:  # the other providers' rows outnumber these
            return []
        rows = await fetchall(
            conn,
            "SELECT name, sql FROM sqlite_master"
            " WHERE type = 'index' AND tbl_name = 'offers' AND sql IS NOT NULL",
        )
        return [(r[0], r[1]) for r in rows]

    async def _needs_analyze(self, conn: aiosqlite.Connection) -> bool:
        """Planner statistics matter (without them SQLite walks the price index for an
        unselective `price <= 10`, ten times slower than a scan), but ANALYZE costs a
        scan: run it (bounded by analysis_limit) when the table has changed size a lot."""
        rows = await fetchall(conn, "SELECT value FROM meta WHERE key = 'analyzed_rows'")
        total = (await fetchall(conn, "SELECT count(*) FROM offers"))[0][0]
        last = int(rows[0][0]) if rows else 0
        if last and 0.5 * last <= total <= 2 * last:
            return False
        await conn.execute(
            "INSERT INTO meta(key, value) VALUES ('analyzed_rows', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (str(total),),
        )
        return True

    # -- searching ------------------------------------------------------------------

    async def search(self, query: SearchQuery, *, with_total: bool = True) -> SearchPage:
        """Matching offers (query.limit/offset applied) and how many match in all
        (-1 when with_total is False: the count scans every match, the page need not)."""
        catalog = self._catalog()
        flt = build_filter(query, catalog)
        sql = (
            f"SELECT {_SELECT_OFFER}, {STALE_EXPR} FROM offers WHERE {flt.where}"
            f" ORDER BY {order_by(query)}"
        )
        params: tuple[Any, ...] = flt.params
        if query.limit is not None or query.offset:
            sql += " LIMIT ? OFFSET ?"
            params += (query.limit if query.limit is not None else -1, query.offset)
        count_sql = f"SELECT count(*) FROM offers WHERE {flt.where}"
        if query.limit is None and not query.offset:
            rows = await self._db.select(sql, params)
            total = len(rows)
        elif self._index.wanted and query.limit is not None:
            limit = query.limit

            def by_index(raw: sqlite3.Connection, index: OfferIndex) -> tuple[list[Any], int]:
                rowids, matched = index.page(
                    query, catalog, limit=limit, offset=query.offset, count=with_total
                )
                return _rows_by_rowid(raw, _OFFER_AND_STALE, rowids), matched

            def by_sql(raw: sqlite3.Connection) -> tuple[list[Any], int]:
                page = raw.execute(sql, params).fetchall()
                return page, raw.execute(count_sql, flt.params).fetchone()[0] if with_total else -1

            rows, total = await self._index.read(by_index, by_sql)
            if not with_total:
                total = -1
        elif not with_total:
            rows = await self._db.select(sql, params)
            total = -1
        else:
            rows, counted = await self._db.select_many(  # the page and its count, one snapshot
                [(sql, params), (count_sql, flt.params)]
            )
            total = counted[0][0]
        n = len(OFFER_COLUMNS)
        return SearchPage([row_to_offer(r[:n], catalog, stale=bool(r[n])) for r in rows], total)

    async def search_rows(
        self, query: SearchQuery, columns: Sequence[str], *, limit: int, offset: int = 0
    ) -> list[tuple[Any, ...]]:
        """Raw rows of chosen columns for a window: the TUI's fast path (no models)."""
        sql, params = self._window(query, columns, limit, offset)
        catalog = self._catalog()
        if not self._index.wanted:
            return [tuple(r) for r in await self._db.select(sql, params)]

        def by_index(raw: sqlite3.Connection, index: OfferIndex) -> list[Any]:
            rowids, _ = index.page(query, catalog, limit=limit, offset=offset, count=False)
            return _rows_by_rowid(raw, _in_offers(columns), rowids)

        def by_sql(raw: sqlite3.Connection) -> list[Any]:
            return raw.execute(sql, params).fetchall()

        return [tuple(r) for r in await self._index.read(by_index, by_sql)]

    def search_rows_now(
        self,
        query: SearchQuery,
        columns: Sequence[str],
        *,
        limit: int,
        offset: int = 0,
        hide: Callable[[sqlite3.Connection, SearchQuery], SearchQuery],
    ) -> list[tuple[Any, ...]] | None:
        """`search_rows` on the calling thread when the offer index can answer it at
        once (LiveIndex.read_now), else None. `hide` adds the hosts to hide, read in
        the same transaction as the page."""
        _check_columns(columns)
        catalog = self._catalog()

        def by_index(raw: sqlite3.Connection, index: OfferIndex) -> list[Any]:
            hidden = hide(raw, query)
            rowids, _ = index.page(hidden, catalog, limit=limit, offset=offset, count=False)
            return _rows_by_rowid(raw, _in_offers(columns), rowids)

        rows = self._index.read_now(by_index) if self._index.wanted else None
        return None if rows is None else [tuple(r) for r in rows]

    # the charts' and the model detail's reads, from the offer index when it is
    # current: a scan of the table costs 10-30 ms and keeps its pages mapped

    async def gpu_prices(self, query: SearchQuery, *, limit: int = 20_000) -> list[float]:
        if not self._index.wanted:
            return await super().gpu_prices(query, limit=limit)
        catalog = self._catalog()
        flt = build_filter(query, catalog)
        sql = _gpu_prices_sql(flt.where)
        return await self._index.read(
            lambda _, index: index.gpu_prices(query, catalog, limit),
            lambda raw: [r[0] for r in raw.execute(sql, (*flt.params, limit))],
        )

    async def provider_counts(self, query: SearchQuery) -> dict[str, int]:
        if not self._index.wanted:
            return await super().provider_counts(query)
        catalog = self._catalog()
        flt = build_filter(query, catalog)
        sql = _provider_counts_sql(flt.where)
        return await self._index.read(
            lambda _, index: index.provider_counts(query, catalog),
            lambda raw: {r[0]: int(r[1]) for r in raw.execute(sql, flt.params)},
        )

    async def model_offers(self, gpu_model: str) -> list[ProviderPrices]:
        if not self._index.wanted:
            return await super().model_offers(gpu_model)
        rows = await self._index.read(
            lambda _, index: index.model_prices(gpu_model),
            lambda raw: raw.execute(_MODEL_PRICES, (gpu_model,)).fetchall(),
        )
        return [ProviderPrices(*r) for r in rows]

    async def count(self, query: SearchQuery) -> int:
        catalog = self._catalog()
        flt = build_filter(query, catalog)
        sql = f"SELECT count(*) FROM offers WHERE {flt.where}"
        if not self._index.wanted:
            return int((await self._db.select(sql, flt.params))[0][0])
        return int(
            await self._index.read(
                lambda _, index: index.count(query, catalog),
                lambda raw: raw.execute(sql, flt.params).fetchone()[0],
            )
        )
