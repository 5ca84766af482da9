"""Store benchmarks: ingest of 100,000 offers and search latency per seed filter."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import NOW, Target, emit, log, median_ms, p95_ms, synthetic_offers
from gpucm.domain.catalog import Catalog
from gpucm.domain.models import Offer, SearchQuery
from gpucm.store.rows import offer_to_row
from gpucm.store.schema import OFFER_COLUMNS
from gpucm.store.search_sql import build_filter, order_by
from gpucm.store.store import Store

N = 100_000

# The original API's example searches plus the everyday ones from the TUI.
SEED_FILTERS: dict[str, SearchQuery] = {
    "default": SearchQuery(),
    "rtx4090_under_2": SearchQuery(gpu_model="RTX 4090", max_price=2),
    "advanced_example": SearchQuery(
        gpu_models=("RTX 4090", "RTX 4080", "A100"),
        gpu_category="consumer",
        min_gpu_count=1,
        max_price=3.0,
        min_ram=16,
        regions=("US-East", "US-West"),
        min_performance=80,
    ),
    "datacenter_by_performance": SearchQuery(
        gpu_category="datacenter",
        min_performance=100,
        max_price=10,
        sort_by="performance",
        sort_order="desc",
    ),
    "reliable_best_value": SearchQuery(min_reliability=0.95, sort_by="value"),
    "europe_by_ram": SearchQuery(regions=("Europe",), sort_by="ram", sort_order="desc"),
    "h100_family_4plus": SearchQuery(gpu_model="H100", min_gpu_count=4),
    "everything_incl_unavailable": SearchQuery(available=False, sort_by="gpu_count"),
}
PAGE = 50


def _bare_table(conn: sqlite3.Connection) -> None:
    conn.execute(f"CREATE TABLE offers ({', '.join(OFFER_COLUMNS)})")


def bare_ingest_seconds(rows: list[tuple[Any, ...]], path: Path) -> float:
    """The baseline: one executemany of the same rows into a plain table of the same
    columns (no keys, no indexes) with the store's journal settings (WAL, synchronous
    NORMAL, the same page cache), in one transaction, on an already open connection."""
    conn = sqlite3.connect(path)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536"):
        conn.execute(f"PRAGMA {pragma}")
    _bare_table(conn)
    conn.commit()
    start = time.perf_counter()
    with conn:
        conn.executemany(f"INSERT INTO offers VALUES ({','.join('?' * len(OFFER_COLUMNS))})", rows)
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


async def gpucm_ingest_seconds(offers: list[Offer], path: Path) -> float:
    """gpucm's whole refresh write for a provider: rows, upsert, removals, history,
    planner statistics, all in one transaction on an open store."""
    store = await Store.open(path, clock=lambda: NOW)
    try:
        start = time.perf_counter()
        await store.replace_offers("vast_ai", offers, fetched_at=NOW)
        return time.perf_counter() - start
    finally:
        await store.close()


def bench_ingest(repeat: int = 11) -> None:
    offers = synthetic_offers(N, provider="vast_ai")
    rows = [offer_to_row(o, fetched_at=NOW.timestamp()) for o in offers]
    with tempfile.TemporaryDirectory() as tmp:
        base: list[float] = []
        ours: list[float] = []
        for i in range(repeat):  # interleaved, so machine noise hits both alike
            base.append(bare_ingest_seconds(rows, Path(tmp) / f"bare{i}.db"))
            ours.append(asyncio.run(gpucm_ingest_seconds(offers, Path(tmp) / f"ours{i}.db")))
    b, v = median_ms(base), median_ms(ours)
    emit(
        "ingest_100k_offers",
        v,
        "ms",
        Target("ratio", ">=", 0.5),
        baseline=b,
        ratio=b / v,
        note="ratio = bare sqlite3 executemany time / gpucm replace_offers time",
    )


async def _search_bench(path: Path, repeat: int) -> None:
    catalog = Catalog.builtin()
    # as the TUI and the API open it: searches answered from the offer index, which a
    # running app builds in the background after each refresh
    store = await Store.open(path, catalog=catalog, clock=lambda: NOW, offer_index=True)
    start = time.perf_counter()
    if not await store.wait_for_index():
        raise RuntimeError("the offer index was not built")
    build_ms = (time.perf_counter() - start) * 1000
    log(f"search: offer index built in {build_ms:.0f} ms (numpy import included)")
    bare = sqlite3.connect(path)
    for pragma in ("cache_size=-65536", "mmap_size=268435456"):  # the store's read settings
        bare.execute(f"PRAGMA {pragma}")
    try:
        for name, query in SEED_FILTERS.items():
            q = query.model_copy(update={"limit": PAGE})
            flt = build_filter(q, catalog)
            sql = (
                f"SELECT {', '.join(OFFER_COLUMNS)} FROM offers WHERE {flt.where}"
                f" ORDER BY {order_by(q)} LIMIT {PAGE}"
            )

            def run_bare(sql: str = sql, params: tuple[Any, ...] = flt.params) -> None:
                bare.execute(sql, params).fetchall()

            await store.search(q)  # warm the page cache once, as a running app has
            run_bare()
            ours: list[float] = []
            counts: list[float] = []
            base: list[float] = []
            for _ in range(repeat):  # interleaved, so machine noise hits both alike
                start = time.perf_counter()
                await store.search(q, with_total=False)
                ours.append(time.perf_counter() - start)
                start = time.perf_counter()
                run_bare()
                base.append(time.perf_counter() - start)
                start = time.perf_counter()
                await store.count(q)
                counts.append(time.perf_counter() - start)
            v, b = median_ms(ours), median_ms(base)
            emit(
                f"search_100k_{name}",
                v,
                "ms",
                Target("value", "<=", 20, "ms"),
                baseline=b,
                ratio=v / b,
                p95_ms=round(p95_ms(ours), 3),
                count_ms=round(median_ms(counts), 3),
                **({"index_build_ms": round(build_ms, 1)} if name == "default" else {}),
                note="first page (50 offers as models), from the offer index; ratio = gpucm"
                " / the same SELECT in bare sqlite3; count_ms = the total count, fetched"
                " separately; index_build_ms = its build after a refresh, in the background",
            )
    finally:
        bare.close()
        await store.close()


async def fill_store(path: Path, n: int = N) -> int:
    """A store of n synthetic offers over the four providers; how many were written."""
    # the synthetic offers live only while they are written: an app searching does not
    # hold 100,000 Offer objects for the collector to walk
    offers = synthetic_offers(n)
    store = await Store.open(path, clock=lambda: NOW)
    try:
        for provider in {o.provider for o in offers}:
            await store.replace_offers(
                provider, [o for o in offers if o.provider == provider], fetched_at=NOW
            )
    finally:
        await store.close()
    return len(offers)


def bench_search(repeat: int = 30) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "search.db"
        log(f"search: {asyncio.run(fill_store(path))} offers in the store")
        asyncio.run(_search_bench(path, repeat))
