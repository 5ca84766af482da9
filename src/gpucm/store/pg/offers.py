"""The PostgreSQL store's offers: each provider's snapshot replaced in one transaction
with COPY, and the searches every front end makes, through the offer index
(store/offer_index.py) while it is current.

A refresh's write: the provider's current prices (for moves and first-seen times),
DELETE of its rows, a binary COPY of the new ones (the same rows SQLite's executemany
binds, store/snapshot.py), its history points and rollups, and the offers' generation
bumped, in one transaction. Readers (MVCC) see the old snapshot or the new one, never
half. Other processes hear of it by NOTIFY when it commits.

Searches: a server-side search is a scan and a sort of 100,000 rows (25-35 ms on a
2-core machine) for most filters, over the 20 ms a keystroke may take. So the running
front ends (TUI, API) answer pages from the offer index, built on a thread of its own
from a REPEATABLE READ snapshot, and read the page's rows by their `rowid` identity in
the same transaction that checks the generation (`unnest ... WITH ORDINALITY`), so a
page is always of one snapshot. Until the index holds the current generation (after
a refresh, by this process or any other), SQL answers, as on SQLite. The CLI searches
in SQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from gpucm.domain.models import Offer, SearchQuery
from gpucm.store import history
from gpucm.store.db import StoreError
from gpucm.store.live_index import LiveIndex
from gpucm.store.offers import CatalogGetter, OfferReads
from gpucm.store.pg.database import Conn, PgDatabase, _connect, numbered
from gpucm.store.results import SearchPage, SnapshotResult
from gpucm.store.rows import row_to_offer
from gpucm.store.schema import OFFER_COLUMNS
from gpucm.store.search_sql import build_filter, order_by
from gpucm.store.snapshot import SnapshotBuilder, gc_paused
from gpucm.store.sql import BUMP_OFFERS_GENERATION, STALE_EXPR

if TYPE_CHECKING:
    from gpucm.store.offer_index import OfferIndex

T = TypeVar("T")

_SELECT_OFFER = ", ".join(OFFER_COLUMNS)
_GENERATION_SQL = "SELECT value FROM meta WHERE key = 'offers_generation'"
_CHUNK = 2048  # rows fetched at a time while building the index


def _in_offers(columns: Sequence[str]) -> str:
    return ", ".join(STALE_EXPR if c == "stale" else f"offers.{c}" for c in columns)


def _page_sql(select: str) -> str:
    """Rows for a page of rowids, in the page's order."""
    return (
        f"SELECT {select} FROM unnest($1::bigint[]) WITH ORDINALITY AS page(rid, ord)"
        " JOIN offers ON offers.rowid = page.rid ORDER BY page.ord"
    )


_PAGE_OFFERS = _page_sql(_in_offers((*OFFER_COLUMNS, "stale")))


async def _generation(conn: Conn) -> int:
    value = await conn.fetchval(_GENERATION_SQL)
    return int(value) if value is not None else 0


class PgOfferTable(OfferReads):
    def __init__(self, db: PgDatabase, catalog: CatalogGetter, *, offer_index: bool) -> None:
        super().__init__(db, catalog)
        self._db = db
        self._pruned_at = 0.0

        async def generation() -> int:
            return await db.read(_generation)

        def reader(stop: Callable[[], bool]) -> tuple[int, OfferIndex | None, str]:
            return _read_offer_index(db, stop)

        self.index = LiveIndex(None, wanted=offer_index, generation=generation, reader=reader)

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
                for r in await conn.fetch(
                    "SELECT id, price_per_hour, first_seen_at FROM offers WHERE provider = $1",
                    provider,
                )
            }
            snap = SnapshotBuilder(offers, previous, provider=provider, when=when)
            if previous:
                await conn.execute("DELETE FROM offers WHERE provider = $1", provider)
            with gc_paused():
                await conn.copy_records_to_table(
                    "offers", records=snap.rows(), columns=list(OFFER_COLUMNS)
                )
            await history.record(tx, provider, int(when), snap.history())
            if when - self._pruned_at >= history.PRUNE_EVERY.total_seconds():
                await history.prune(tx, when)
                self._pruned_at = when
            generation = int(await conn.fetchval(BUMP_OFFERS_GENERATION + " RETURNING value"))
            tx.changed("offers", provider)
        # No ANALYZE here: over 100,000 offers it took 0.75-1 s (the case-insensitive
        # columns' statistics compare with ICU), longer than the write itself. The
        # server's autovacuum analyzes the table in the background after big changes,
        # and the plans that depend on it (a CLI search: a scan either way) barely do.
        self.index.build(generation)
        return SnapshotResult(
            provider, snap.count, snap.new_offers, snap.removed, snap.price_changes
        )

    # -- searching ------------------------------------------------------------------

    async def search(self, query: SearchQuery, *, with_total: bool = True) -> SearchPage:
        """Matching offers (query.limit/offset applied) and how many match in all
        (-1 when with_total is False)."""
        catalog = self._catalog()
        flt = build_filter(query, catalog)
        sql = (
            f"SELECT {_SELECT_OFFER}, {STALE_EXPR} FROM offers WHERE {flt.where}"
            f" ORDER BY {order_by(query)}"
        )
        params: tuple[Any, ...] = flt.params
        if query.limit is not None or query.offset:
            sql += " LIMIT ? OFFSET ?"
            params += (query.limit, query.offset)
        count_sql = f"SELECT count(*) FROM offers WHERE {flt.where}"
        limit = query.limit

        async def read(conn: Conn) -> tuple[list[Any], int]:
            index = self.index.current(await _generation(conn)) if self.index.wanted else None
            if index is not None and limit is not None:
                rowids, matched = index.page(query, catalog, limit=limit, offset=query.offset)
                return list(await conn.fetch(_PAGE_OFFERS, rowids)), matched
            rows = list(await conn.fetch(numbered(sql), *params))
            if not with_total:
                return rows, -1
            if limit is None and not query.offset:
                return rows, len(rows)
            return rows, int(await conn.fetchval(numbered(count_sql), *flt.params))

        rows, total = await self._read(read)
        n = len(OFFER_COLUMNS)
        offers = [row_to_offer(r[:n], catalog, stale=bool(r[n])) for r in rows]
        return SearchPage(offers, total if with_total else -1)

    async def search_rows(
        self, query: SearchQuery, columns: Sequence[str], *, limit: int, offset: int = 0
    ) -> list[tuple[Any, ...]]:
        """Raw rows of chosen columns for a window: the TUI's fast path (no models)."""
        sql, params = self._window(query, columns, limit, offset)
        sql = numbered(sql)
        catalog = self._catalog()

        async def read(conn: Conn) -> list[Any]:
            index = self.index.current(await _generation(conn)) if self.index.wanted else None
            if index is not None:
                rowids, _ = index.page(query, catalog, limit=limit, offset=offset)
                return list(await conn.fetch(_page_sql(_in_offers(columns)), rowids))
            return list(await conn.fetch(sql, *params))

        return [tuple(r) for r in await self._read(read)]

    async def count(self, query: SearchQuery) -> int:
        catalog = self._catalog()
        flt = build_filter(query, catalog)
        sql = numbered(f"SELECT count(*) FROM offers WHERE {flt.where}")

        async def read(conn: Conn) -> int:
            index = self.index.current(await _generation(conn)) if self.index.wanted else None
            if index is not None:
                return index.count(query, catalog)
            return int(await conn.fetchval(sql, *flt.params))

        return await self._read(read)

    async def _read(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        return await self._db.read(fn)


def _read_offer_index(
    db: PgDatabase, stop: Callable[[], bool]
) -> tuple[int, OfferIndex | None, str]:
    """(generation, the index or None, why not), on a worker thread: a private event
    loop and a connection of its own, so the build never queues in front of the UI's
    reads nor holds its loop while 100,000 rows are decoded; the rows stream in
    chunks, so few live at a time."""
    # imported here, on the build's thread: numpy's import is ~70 ms of a UI's time
    from gpucm.store.offer_index import (
        COLUMNS_SQL,
        BuildStopped,
        OfferIndex,
        give_back_freed_memory,
    )

    loop = asyncio.new_event_loop()
    generation = -1
    try:
        conn = loop.run_until_complete(_connect(db.url))
    except StoreError as exc:
        loop.close()
        return generation, None, str(exc)
    try:
        transaction = conn.transaction(isolation="repeatable_read", readonly=True)
        loop.run_until_complete(transaction.start())
        generation = loop.run_until_complete(_generation(conn))
        n = int(loop.run_until_complete(conn.fetchval("SELECT count(*) FROM offers")))
        cursor = loop.run_until_complete(conn.cursor(COLUMNS_SQL))

        def chunks() -> Iterator[list[Any]]:
            while batch := loop.run_until_complete(cursor.fetch(_CHUNK)):
                yield batch

        return generation, OfferIndex.from_chunks(n, chunks(), generation, stop), ""
    except BuildStopped:
        return generation, None, ""
    except (asyncpg.PostgresError, OSError, ValueError, TypeError, OverflowError) as exc:
        return generation, None, str(exc)
    finally:
        loop.run_until_complete(conn.close())
        loop.close()
        give_back_freed_memory()
