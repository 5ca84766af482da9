"""The store: the single source of truth between the refresh workers and every front end.

Two connections: writes (refresh snapshots, health, journal) go through one, reads
through the other, so with WAL a reader never waits for a refresh and always sees a
whole snapshot, old or new, never a mix.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiosqlite

from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import Clock, from_epoch, utcnow
from gpucm.domain.models import (
    GpuModel,
    MarketStats,
    ModelStats,
    Offer,
    PriceRange,
    ProviderHealth,
    SearchQuery,
)
from gpucm.domain.pricing import HOURS_PER_MONTH
from gpucm.store import history
from gpucm.store.alert_table import AlertTable
from gpucm.store.damage import store_failure
from gpucm.store.db import StoreError, can_write, connect, migrate, run_on_connection
from gpucm.store.history import HistoryPoint, Resolution
from gpucm.store.instance_tables import InstanceTable, LaunchJournal
from gpucm.store.rows import row_to_offer
from gpucm.store.schema import OFFER_COLUMNS
from gpucm.store.search_sql import build_filter, order_by
from gpucm.store.snapshot import SnapshotBuilder, gc_paused
from gpucm.store.sql import BUMP_OFFERS_GENERATION, STALE_EXPR, offers_generation

if TYPE_CHECKING:
    from gpucm.store.offer_index import OfferIndex

log = logging.getLogger(__name__)
T = TypeVar("T")
CatalogGetter = Callable[[], Catalog]

_SELECT_OFFER = ", ".join(OFFER_COLUMNS)
_STALE_EXPR = STALE_EXPR
_INSERT = f"INSERT INTO offers ({_SELECT_OFFER}) VALUES ({','.join('?' * len(OFFER_COLUMNS))})"
# a refresh writing at least this many offers, and more than the other providers hold,
# rebuilds the offers' indexes after its insert rather than keeping them up to date
BULK_WRITE_ROWS = 10_000
# the name of the store's background task that builds the offer index
INDEX_BUILD_TASK = "gpucm: offer index build"


def _rows_by_rowid(raw: sqlite3.Connection, select: str, rowids: Sequence[int]) -> list[Any]:
    """Rows for a page of rowids, in the page's order (one JSON parameter, any length)."""
    if not rowids:
        return []
    sql = (
        f"SELECT {select} FROM json_each(?) AS page CROSS JOIN offers"
        " ON offers.rowid = page.value ORDER BY page.key"
    )
    return raw.execute(sql, ("[" + ",".join(map(str, rowids)) + "]",)).fetchall()


def _in_offers(columns: Iterable[str]) -> str:
    """A select list for `_rows_by_rowid`, whose list of rowids has a `value` and a
    `key` that would clash with the offers' own columns."""
    return ", ".join(_STALE_EXPR if c == "stale" else f"offers.{c}" for c in columns)


_OFFER_AND_STALE = _in_offers((*OFFER_COLUMNS, "stale"))


@dataclass(frozen=True)
class SnapshotResult:
    provider: str
    offers: int
    added: int
    removed: int
    price_changes: int


@dataclass(frozen=True)
class SearchPage:
    offers: list[Offer]
    total: int


@dataclass(frozen=True)
class ProviderPrices:
    provider: str
    offers: int
    min_price: float
    max_price: float
    min_gpu_price: float
    avg_gpu_price: float
    max_gpu_price: float


class Store:
    def __init__(
        self,
        path: str,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        catalog: CatalogGetter,
        clock: Clock,
        *,
        offer_index: bool = False,
        read_only: bool = False,
    ) -> None:
        self.path = path
        # a file this process may not write (permissions, immutable, a read-only mount):
        # reads work, every write is refused with one line before SQLite is asked
        self.read_only = read_only
        self._writer = writer
        self._reader = reader
        self._catalog = catalog
        self._clock = clock
        self._write_lock = asyncio.Lock()
        self._pruned_at = 0.0
        # the offer index: on for the long-running front ends (TUI, API), which search
        # on every keystroke; a one-shot CLI search would pay its build for one answer
        self._index_wanted = offer_index and path != ":memory:"
        self._index: OfferIndex | None = None
        self._index_task: asyncio.Task[None] | None = None
        self._index_target = 0  # the newest generation a read or write has seen
        self._index_failed = -1  # a generation whose build failed: not retried
        self._closing = threading.Event()
        self.instances = InstanceTable(self)
        self.journal = LaunchJournal(self)
        self.alerts = AlertTable(self)

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        catalog: CatalogGetter | Catalog | None = None,
        clock: Clock = utcnow,
        offer_index: bool = False,
    ) -> Store:
        """`offer_index`: answer paged searches and counts from an in-memory column
        index (store/offer_index.py), built in the background after each change."""
        if catalog is None:
            catalog = Catalog.builtin()
        if isinstance(catalog, Catalog):
            fixed = catalog

            def getter() -> Catalog:
                return fixed
        else:
            getter = catalog
        read_only = not can_write(path)
        writer = await connect(path, readonly=read_only)
        try:
            await migrate(writer)
            reader = await connect(path, readonly=read_only)
        except BaseException as exc:
            await writer.close()
            failure = store_failure(exc, path) if isinstance(exc, Exception) else None
            if failure is None:
                raise
            raise failure from None
        return cls(
            str(path), writer, reader, getter, clock, offer_index=offer_index, read_only=read_only
        )

    async def close(self) -> None:
        self._closing.set()
        if self._index_task is not None:
            self._index_task.cancel()
            # asyncio.wait, not awaiting the task: a cancellation of close() itself must
            # not be swallowed with the build's own
            await asyncio.wait([self._index_task])
        for conn in (self._reader, self._writer):
            with contextlib.suppress(ValueError):  # already closed
                await conn.close()

    @property
    def catalog(self) -> Catalog:
        return self._catalog()

    def now(self) -> datetime:
        return self._clock()

    # -- transactions -------------------------------------------------------------

    # aiosqlite runs each statement on its connection's own thread, in order, even when
    # the awaiting task is cancelled (the TUI cancels stale reads all the time). So a
    # transaction is always closed by queueing its end statement, never by asking
    # `in_transaction`, which may not yet reflect a BEGIN still in the queue.

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        if self.read_only:
            raise StoreError(
                f"the database {self.path} is read-only: what was asked needs to write to "
                "it (reading works); point --db at a writable file"
            )
        async with self._write_lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
                yield self._writer
            except BaseException:
                await _end(self._writer, "ROLLBACK")
                raise
            await self._writer.execute("COMMIT")

    # Reads. Every await on aiosqlite is a hop to the connection's thread, and that
    # thread needs the GIL, which a busy UI thread (a screen being composed and drawn)
    # hands over only when it idles. So every read is exactly one hop: a single
    # statement runs as its own read transaction (no BEGIN and COMMIT hops), execute
    # and fetch go together, and statements that must see one snapshot go over as one
    # call (`_select_many`). With no read spanning hops, reads need no lock either:
    # several issued at once queue back to back on the reader's thread, without waiting
    # for the UI in between. The stats screen went from 31 hops in a row to 3 rounds
    # (bench stats_screen_10m_history_points).

    async def _select(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._fetchall(self._reader, sql, params)

    async def _select_many(
        self, statements: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[list[Any]]:
        """Several SELECTs in one read transaction, so all see the same snapshot. The
        transaction opens and closes inside the one call, so a cancelled caller can
        never leave it open."""

        def read(raw: sqlite3.Connection) -> list[list[Any]]:
            raw.execute("BEGIN")
            try:
                return [raw.execute(sql, params).fetchall() for sql, params in statements]
            finally:
                raw.execute("COMMIT")

        return await run_on_connection(self._reader, read)

    async def _fetchall(
        self, conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
    ) -> list[Any]:
        return list(await conn.execute_fetchall(sql, params))

    # -- the offer index ----------------------------------------------------------

    async def _indexed(
        self,
        by_index: Callable[[sqlite3.Connection, OfferIndex], T],
        by_sql: Callable[[sqlite3.Connection], T],
    ) -> T:
        """One read, answered from the offer index when it is of the current generation
        of the offers, else with SQL (and an index build is started). Either way one
        hop, in one read transaction: the page's rows are read in the snapshot whose
        generation was checked."""
        index = self._index

        def read(raw: sqlite3.Connection) -> tuple[T, int]:
            raw.execute("BEGIN")
            try:
                generation = offers_generation(raw)
                if index is not None and index.generation == generation:
                    return by_index(raw, index), generation
                return by_sql(raw), generation
            finally:
                raw.execute("COMMIT")

        answer, generation = await run_on_connection(self._reader, read)
        self._build_index(generation)
        return answer

    def _build_index(self, generation: int) -> None:
        """Bring the offer index up to `generation`, which a read or a write has just
        seen: start a build in the background, or have a running one go again once
        done if what it read is older."""
        built = self.index_generation
        if (
            not self._index_wanted
            or self._closing.is_set()
            or (built is not None and generation <= built)
            or generation == self._index_failed
        ):
            return
        self._index_target = max(self._index_target, generation)
        if self._index_task is None or self._index_task.done():
            self._index_task = asyncio.get_running_loop().create_task(
                self._index_builds(), name=INDEX_BUILD_TASK
            )

    async def _index_builds(self) -> None:
        while True:
            try:
                generation, index, error = await asyncio.to_thread(
                    _read_offer_index, self.path, self._closing.is_set
                )
            except Exception:  # a bug, not the data: say so, and keep searching with SQL
                log.exception("offer index build failed; searching with SQL")
                self._index_wanted = False
                return
            if error:
                # a value SQL holds but the index cannot: searches stay on SQL, right
                # either way, until the offers change (or for good, when the file
                # cannot even be opened for the build)
                self._index_failed = generation
                self._index_wanted = generation >= 0
                log.warning("offer index not built, searching with SQL: %s", error)
                return
            if index is not None:
                self._index = index
            if self._closing.is_set() or self._index_target <= generation:
                return

    @property
    def index_generation(self) -> int | None:
        """The generation of the offers the index holds (None before the first build)."""
        return self._index.generation if self._index is not None else None

    async def wait_for_index(self) -> bool:
        """Build the offer index if it is not of the current offers, and wait for it:
        True once it is (benchmarks and tests measure the steady state with it),
        False when the store has no index or it cannot be built."""
        for _ in range(3):  # the offers may change while it builds; then it goes again
            if not self._index_wanted or self._closing.is_set():
                return False
            current = await run_on_connection(self._reader, offers_generation)
            if self.index_generation == current:
                return True
            if self._index_failed == current:
                return False
            self._build_index(current)
            if self._index_task is not None:
                await asyncio.shield(self._index_task)
        return False

    # -- meta ---------------------------------------------------------------------

    async def data_version(self) -> int:
        """A number that changes whenever anything is committed to the database, by this
        store's writer or another process: a cheap "has anything changed" for a cache
        of answers (the API's search cache)."""
        return int((await self._select("PRAGMA data_version"))[0][0])

    async def get_meta(self, key: str) -> str | None:
        rows = await self._select("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    async def set_meta(self, key: str, value: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- offers -------------------------------------------------------------------

    async def replace_offers(
        self, provider: str, offers: Sequence[Offer], *, fetched_at: datetime | None = None
    ) -> SnapshotResult:
        """Replace one provider's offers atomically and append its history points."""
        when = (fetched_at or self._clock()).timestamp()
        async with self._write() as conn:
            previous = {
                r[0]: (r[1], r[2])
                for r in await self._fetchall(
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
            with gc_paused():
                await conn.executemany(_INSERT, snap.rows())
            for _, sql in rebuilt:
                await conn.execute(sql)
            await history.record(conn, provider, int(when), snap.history())
            if when - self._pruned_at >= history.PRUNE_EVERY.total_seconds():
                await history.prune(conn, when)
                self._pruned_at = when
            # a rebuilt index has lost its planner statistics with the old one
            if await self._needs_analyze(conn) or rebuilt:
                await conn.execute("ANALYZE offers")
            await conn.execute(BUMP_OFFERS_GENERATION)
            generation = await run_on_connection(conn, offers_generation)
        self._build_index(generation)
        if snap.count > 20_000:
            # give back the page cache a big refresh filled
            async with self._write_lock:
                await self._writer.execute("PRAGMA shrink_memory")
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
        total = (await self._fetchall(conn, "SELECT count(*) FROM offers"))[0][0]
        if incoming < total - replaced:  # the other providers' rows outnumber these
            return []
        rows = await self._fetchall(
            conn,
            "SELECT name, sql FROM sqlite_master"
            " WHERE type = 'index' AND tbl_name = 'offers' AND sql IS NOT NULL",
        )
        return [(r[0], r[1]) for r in rows]

    async def _needs_analyze(self, conn: aiosqlite.Connection) -> bool:
        """Planner statistics matter (without them SQLite walks the price index for an
        unselective `price <= 10`, ten times slower than a scan), but ANALYZE costs a
        scan: run it (bounded by analysis_limit) when the table has changed size a lot."""
        rows = await self._fetchall(conn, "SELECT value FROM meta WHERE key = 'analyzed_rows'")
        total = (await self._fetchall(conn, "SELECT count(*) FROM offers"))[0][0]
        last = int(rows[0][0]) if rows else 0
        if last and 0.5 * last <= total <= 2 * last:
            return False
        await conn.execute(
            "INSERT INTO meta(key, value) VALUES ('analyzed_rows', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (str(total),),
        )
        return True

    async def search(self, query: SearchQuery, *, with_total: bool = True) -> SearchPage:
        """Matching offers (query.limit/offset applied) and how many match in all
        (-1 when with_total is False: the count scans every match, the page need not)."""
        catalog = self._catalog()
        flt = build_filter(query, catalog)
        sql = (
            f"SELECT {_SELECT_OFFER}, {_STALE_EXPR} FROM offers WHERE {flt.where}"
            f" ORDER BY {order_by(query)}"
        )
        params: tuple[Any, ...] = flt.params
        if query.limit is not None or query.offset:
            sql += " LIMIT ? OFFSET ?"
            params += (query.limit if query.limit is not None else -1, query.offset)
        count_sql = f"SELECT count(*) FROM offers WHERE {flt.where}"
        if query.limit is None and not query.offset:
            rows = await self._select(sql, params)
            total = len(rows)
        elif self._index_wanted and query.limit is not None:
            limit = query.limit

            def by_index(raw: sqlite3.Connection, index: OfferIndex) -> tuple[list[Any], int]:
                rowids, matched = index.page(query, catalog, limit=limit, offset=query.offset)
                return _rows_by_rowid(raw, _OFFER_AND_STALE, rowids), matched

            def by_sql(raw: sqlite3.Connection) -> tuple[list[Any], int]:
                page = raw.execute(sql, params).fetchall()
                return page, raw.execute(count_sql, flt.params).fetchone()[0] if with_total else -1

            rows, total = await self._indexed(by_index, by_sql)
            if not with_total:
                total = -1
        elif not with_total:
            rows = await self._select(sql, params)
            total = -1
        else:
            rows, counted = await self._select_many(  # the page and its count, one snapshot
                [(sql, params), (count_sql, flt.params)]
            )
            total = counted[0][0]
        n = len(OFFER_COLUMNS)
        return SearchPage([row_to_offer(r[:n], catalog, stale=bool(r[n])) for r in rows], total)

    async def search_rows(
        self, query: SearchQuery, columns: Sequence[str], *, limit: int, offset: int = 0
    ) -> list[tuple[Any, ...]]:
        """Raw rows of chosen columns for a window: the TUI's fast path (no models)."""
        for col in columns:
            if col not in OFFER_COLUMNS and col not in ("stale", "rowid"):
                raise StoreError(f"unknown offer column {col!r}")
        catalog = self._catalog()
        flt = build_filter(query, catalog)
        select = ", ".join(_STALE_EXPR if c == "stale" else c for c in columns)
        sql = (
            f"SELECT {select} FROM offers WHERE {flt.where} ORDER BY {order_by(query)}"
            " LIMIT ? OFFSET ?"
        )
        params = (*flt.params, limit, offset)
        if not self._index_wanted:
            return [tuple(r) for r in await self._select(sql, params)]

        def by_index(raw: sqlite3.Connection, index: OfferIndex) -> list[Any]:
            rowids, _ = index.page(query, catalog, limit=limit, offset=offset)
            return _rows_by_rowid(raw, _in_offers(columns), rowids)

        def by_sql(raw: sqlite3.Connection) -> list[Any]:
            return raw.execute(sql, params).fetchall()

        return [tuple(r) for r in await self._indexed(by_index, by_sql)]

    async def best_offers(self, query: SearchQuery, *, disk_gb: float = 0.0) -> list[Offer]:
        """The cheapest matching offer per (GPU model, provider), by all-in price per
        GPU-hour with `disk_gb` of storage where it is billed separately: the
        cheapest-equivalent view. Ordered by model, then that price."""
        catalog = self._catalog()
        flt = build_filter(query, catalog)
        per_gpu = "(price_per_hour + coalesce(storage_price_per_gb_month, 0) * ? / ?) / gpu_count"
        sql = (
            f"SELECT {_SELECT_OFFER}, stale FROM ("
            f" SELECT {_SELECT_OFFER}, {_STALE_EXPR} AS stale, {per_gpu} AS all_in,"
            f"  ROW_NUMBER() OVER (PARTITION BY gpu_model, provider"
            f"   ORDER BY {per_gpu}, rowid) AS rn"
            f" FROM offers WHERE {flt.where})"
            " WHERE rn = 1 ORDER BY gpu_model COLLATE NOCASE, all_in"
        )
        params = (disk_gb, HOURS_PER_MONTH, disk_gb, HOURS_PER_MONTH, *flt.params)
        rows = await self._select(sql, params)
        n = len(OFFER_COLUMNS)
        return [row_to_offer(r[:n], catalog, stale=bool(r[n])) for r in rows]

    async def count(self, query: SearchQuery) -> int:
        catalog = self._catalog()
        flt = build_filter(query, catalog)
        sql = f"SELECT count(*) FROM offers WHERE {flt.where}"
        if not self._index_wanted:
            return int((await self._select(sql, flt.params))[0][0])
        return int(
            await self._indexed(
                lambda _, index: index.count(query, catalog),
                lambda raw: raw.execute(sql, flt.params).fetchone()[0],
            )
        )

    async def get_offer(self, offer_id: str) -> Offer | None:
        rows = await self._select(
            f"SELECT {_SELECT_OFFER}, {_STALE_EXPR} FROM offers WHERE id = ?", (offer_id,)
        )
        if not rows:
            return None
        n = len(OFFER_COLUMNS)
        return row_to_offer(rows[0][:n], self._catalog(), stale=bool(rows[0][n]))

    async def offer_counts(self) -> dict[str, tuple[int, int]]:
        """Per provider: (offers, available)."""
        rows = await self._select(
            "SELECT provider, count(*), sum(available) FROM offers GROUP BY provider"
        )
        return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}

    async def provider_models(self) -> dict[str, list[str]]:
        rows = await self._select(
            "SELECT DISTINCT provider, gpu_model FROM offers ORDER BY provider, gpu_model",
        )
        result: dict[str, list[str]] = {}
        for provider, model in rows:
            result.setdefault(provider, []).append(model)
        return result

    async def model_offers(self, gpu_model: str) -> list[ProviderPrices]:
        """Who offers this model now, at what price: per provider, over available
        offers (whole-offer and per-GPU prices)."""
        rows = await self._select(
            "SELECT provider, count(*), min(price_per_hour), max(price_per_hour),"
            " min(price_per_gpu_hour), avg(price_per_gpu_hour), max(price_per_gpu_hour)"
            " FROM offers WHERE gpu_model = ? AND available = 1"
            " GROUP BY provider ORDER BY min(price_per_gpu_hour)",
            (gpu_model,),
        )
        return [ProviderPrices(*r) for r in rows]

    async def gpu_prices(self, query: SearchQuery, *, limit: int = 20_000) -> list[float]:
        """Prices per GPU-hour of the offers a query matches (for a distribution chart);
        capped, cheapest first."""
        flt = build_filter(query, self._catalog())
        rows = await self._select(
            f"SELECT price_per_gpu_hour FROM offers WHERE {flt.where}"
            " ORDER BY price_per_gpu_hour LIMIT ?",
            (*flt.params, limit),
        )
        return [r[0] for r in rows]

    async def provider_counts(self, query: SearchQuery) -> dict[str, int]:
        """How many offers each provider has among those a query matches."""
        flt = build_filter(query, self._catalog())
        rows = await self._select(
            f"SELECT provider, count(*) FROM offers WHERE {flt.where} GROUP BY provider",
            flt.params,
        )
        return {r[0]: int(r[1]) for r in rows}

    # -- stats --------------------------------------------------------------------

    async def stats(self, query: SearchQuery | None = None) -> MarketStats:
        """The original API's marketplace stats, over the offers a query matches
        (available or not); per-model figures are over available offers."""
        catalog = self._catalog()
        rows = await self._select_many(self._stats_statements(query, catalog))
        return self._stats_from(rows, catalog)

    async def stats_and_trend(
        self, query: SearchQuery | None, since: datetime, resolution: Resolution
    ) -> tuple[MarketStats, dict[str, list[tuple[int, float]]]]:
        """`stats`, and per GPU model the cheapest $/GPU-h at any provider in each
        bucket since `since` (the stats screen's trend column), in one read: one hop to
        the reader's thread instead of two (a second was queued only once the UI next
        idled: ~13 ms later while a screen is being drawn, bench
        stats_screen_10m_history_points), and both from one snapshot."""
        catalog = self._catalog()
        statements = self._stats_statements(query, catalog)
        statements.append(history.cheapest_by_bucket_sql(since=since, resolution=resolution))
        rows = await self._select_many(statements)
        return self._stats_from(rows[:-1], catalog), history.cheapest_by_bucket_rows(rows[-1])

    def _stats_statements(
        self, query: SearchQuery | None, catalog: Catalog
    ) -> list[tuple[str, Sequence[Any]]]:
        flt = build_filter(
            (query or SearchQuery()).model_copy(update={"available": False}), catalog
        )
        where = flt.where
        return [
            (
                "SELECT count(*), coalesce(sum(available), 0),"
                " avg(CASE WHEN available THEN price_per_hour END),"
                " min(CASE WHEN available THEN price_per_hour END),"
                " max(CASE WHEN available THEN price_per_hour END),"
                " max(fetched_at)"
                f" FROM offers WHERE {where}",
                flt.params,
            ),
            (
                f"SELECT provider, count(*) FROM offers WHERE {where} AND available = 1"
                " GROUP BY provider ORDER BY provider",
                flt.params,
            ),
            (_MODEL_STATS_SQL.format(where=where), flt.params),
        ]

    @staticmethod
    def _stats_from(rows: Sequence[list[Any]], catalog: Catalog) -> MarketStats:
        totals_rows, per_provider, per_model = rows
        totals = totals_rows[0]
        model_stats: dict[str, ModelStats] = {}
        for row in per_model:
            (model, offers, available, pmin, pmax, pavg, p10, p50, p90) = row[:9]
            (gmin, g50, g10, g90, gmax, gavg, providers) = row[9:]
            info = catalog.get(model) or GpuModel.unknown(model)
            model_stats[model] = ModelStats(
                model=info,
                available_count=int(available or 0),
                offer_count=int(offers),
                min_price=pmin or 0.0,
                max_price=pmax or 0.0,
                avg_price=pavg or 0.0,
                median_price=p50,
                p10_price=p10,
                p90_price=p90,
                min_price_per_gpu=gmin,
                median_price_per_gpu=g50,
                p10_price_per_gpu=g10,
                p90_price_per_gpu=g90,
                max_price_per_gpu=gmax,
                avg_price_per_gpu=gavg,
                providers=sorted(set((providers or "").split(","))) if providers else [],
            )
        total, available, avg, pmin, pmax, last = totals
        avg_price = float(avg or 0.0)
        return MarketStats(
            total_instances=int(total),
            available_instances=int(available),
            model_stats=model_stats,
            provider_stats={p: int(n) for p, n in per_provider},
            average_price=avg_price,
            price_range=PriceRange(min=pmin or 0.0, max=pmax or 0.0, avg=avg_price),
            updated_at=from_epoch(last),
        )

    # -- history ------------------------------------------------------------------

    async def history(
        self,
        gpu_models: Iterable[str],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        providers: Iterable[str] = (),
        resolution: Resolution | None = None,
    ) -> list[HistoryPoint]:
        """Points per provider and model, oldest first; by default at the finest
        resolution the store still keeps for the span asked for."""
        if resolution is None:
            resolution = history.resolution_for(None if since is None else self._clock() - since)
        return await history.series(
            self._reader,
            tuple(gpu_models),
            since=since,
            until=until,
            providers=providers,
            resolution=resolution,
        )

    # -- provider health ----------------------------------------------------------

    async def save_health(self, health: ProviderHealth) -> None:
        def ts(value: datetime | None) -> float | None:
            return value.timestamp() if value else None

        async with self._write() as conn:
            await conn.execute(
                "INSERT OR REPLACE INTO provider_health (provider, status, last_attempt_at,"
                " last_success_at, last_error, last_error_kind, latency_ms, offer_count,"
                " consecutive_failures, next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    health.provider,
                    health.status,
                    ts(health.last_attempt_at),
                    ts(health.last_success_at),
                    health.last_error,
                    health.last_error_kind,
                    health.latency_ms,
                    health.offer_count,
                    health.consecutive_failures,
                    ts(health.next_attempt_at),
                ),
            )

    async def health(self) -> dict[str, ProviderHealth]:
        rows = await self._select(
            "SELECT provider, status, last_attempt_at, last_success_at, last_error,"
            " last_error_kind, latency_ms, offer_count, consecutive_failures,"
            " next_attempt_at FROM provider_health ORDER BY provider",
        )
        return {
            r[0]: ProviderHealth(
                provider=r[0],
                status=r[1],
                last_attempt_at=from_epoch(r[2]),
                last_success_at=from_epoch(r[3]),
                last_error=r[4],
                last_error_kind=r[5],
                latency_ms=r[6],
                offer_count=r[7],
                consecutive_failures=r[8],
                next_attempt_at=from_epoch(r[9]),
            )
            for r in rows
        }

    # -- demo state ---------------------------------------------------------------

    async def get_demo_state(self, key: str) -> Any:
        rows = await self._select("SELECT value FROM demo_state WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    async def set_demo_state(self, key: str, value: Any) -> None:
        async with self._write() as conn:
            await conn.execute(
                "INSERT INTO demo_state(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )


async def _end(conn: aiosqlite.Connection, statement: str) -> None:
    """End a transaction; fine if none is open (its BEGIN failed)."""
    try:
        await conn.execute(statement)
    except sqlite3.OperationalError as exc:
        if "no transaction is active" not in str(exc):
            raise


# Percentiles by nearest rank, computed in SQL with window functions so per-model
# statistics never pull every offer into Python.
_MODEL_STATS_SQL = """
WITH ranked AS (
    SELECT gpu_model, provider, available, price_per_hour AS p, price_per_gpu_hour AS g,
           CASE WHEN available THEN ROW_NUMBER() OVER (
               PARTITION BY gpu_model, available ORDER BY price_per_hour) END AS rn,
           CASE WHEN available THEN ROW_NUMBER() OVER (
               PARTITION BY gpu_model, available ORDER BY price_per_gpu_hour) END AS rg,
           SUM(available) OVER (PARTITION BY gpu_model) AS n
    FROM offers WHERE {where}
)
SELECT gpu_model,
       count(*),
       sum(available),
       min(CASE WHEN available THEN p END),
       max(CASE WHEN available THEN p END),
       avg(CASE WHEN available THEN p END),
       max(CASE WHEN rn = max(1, CAST(0.1 * n + 0.9999999 AS INTEGER)) THEN p END),
       max(CASE WHEN rn = max(1, CAST(0.5 * n + 0.9999999 AS INTEGER)) THEN p END),
       max(CASE WHEN rn = max(1, CAST(0.9 * n + 0.9999999 AS INTEGER)) THEN p END),
       min(CASE WHEN available THEN g END),
       max(CASE WHEN rg = max(1, CAST(0.5 * n + 0.9999999 AS INTEGER)) THEN g END),
       max(CASE WHEN rg = max(1, CAST(0.1 * n + 0.9999999 AS INTEGER)) THEN g END),
       max(CASE WHEN rg = max(1, CAST(0.9 * n + 0.9999999 AS INTEGER)) THEN g END),
       max(CASE WHEN available THEN g END),
       avg(CASE WHEN available THEN g END),
       group_concat(DISTINCT CASE WHEN available THEN provider END)
FROM ranked
GROUP BY gpu_model
ORDER BY gpu_model
"""


def _read_offer_index(path: str, stop: Callable[[], bool]) -> tuple[int, OfferIndex | None, str]:
    # imported here, on the build's thread: numpy's import is ~70 ms of a UI's time
    from gpucm.store.offer_index import read_offer_index

    return read_offer_index(path, stop)
