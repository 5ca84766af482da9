"""Team-mode benchmarks on a throwaway PostgreSQL server.

- `pg_ingest`: one provider's refresh of 100,000 offers into the PostgreSQL store,
  against a bare asyncpg COPY of the same rows into a plain table (ratio >= 0.5);
- `pg_search`: the first page of each seed search at 100,000 offers, from the offer
  index as the TUI and the API answer it (<= 20 ms), against the same SELECT sent
  bare through asyncpg;
- `pg_notify`: from a refresh landing in one process (its health row committed) to
  a second process's gpucm-tui (headless, 120x40) having repainted its table with it
  (<= 1 s).

The server: GPUCM_TEST_DATABASE_URL when set (`make bench` starts one with
.ci/with-postgres), else one started here the way CI starts it (.ci/postgres.sh:
initdb into a temporary directory, loopback only, durability off: its data dies with
the run, and gpucm's figure and its baseline share that server). Each measurement runs
in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from bench.bench_store import PAGE, SEED_FILTERS, N
from bench.bench_tui import _fill
from bench.common import NOW, Target, emit, log, median_ms, p95_ms, synthetic_offers

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def server() -> Iterator[str]:
    url = os.environ.get("GPUCM_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="gpucm-bench-pg.") as tmp:
        where = str(Path(tmp) / "pg")
        started = subprocess.run(
            ["bash", str(REPO / ".ci" / "postgres.sh"), "start", where],
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode != 0:
            raise RuntimeError(f"bench: no PostgreSQL server: {started.stderr.strip()}")
        try:
            yield started.stdout.strip()
        finally:
            subprocess.run(["bash", str(REPO / ".ci" / "postgres.sh"), "stop", where], check=False)


@contextlib.asynccontextmanager
async def schema(base: str) -> AsyncIterator[str]:
    import asyncpg

    name = "bench_" + secrets.token_hex(4)
    conn = await asyncpg.connect(base)
    await conn.execute(f"CREATE SCHEMA {name}")
    await conn.close()
    try:
        yield f"{base}?search_path={name}"
    finally:
        conn = await asyncpg.connect(base)
        await conn.execute(f"DROP SCHEMA {name} CASCADE")
        await conn.close()


# -- ingest --------------------------------------------------------------------------


async def _bare_copy(base: str, rows: list[tuple[Any, ...]]) -> float:
    """The baseline: one COPY of the same rows into a plain table of the same columns
    and types (no keys, no indexes), in one transaction on an open connection."""
    import asyncpg

    from gpucm.store.schema import OFFER_COLUMNS
    from gpucm.store.store import Store

    async with schema(base) as url:
        # the store's offers table as every migration leaves it (a copy of the first
        # migration's DDL missed the columns later ones add: host_id), then a plain
        # table of its columns: LIKE takes no key, index or identity
        store = await Store.open(url, clock=lambda: NOW)
        await store.close()
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE TABLE plain (LIKE offers)")
            await conn.execute("ALTER TABLE plain DROP COLUMN rowid")
            start = time.perf_counter()
            async with conn.transaction():
                await conn.copy_records_to_table("plain", records=rows, columns=list(OFFER_COLUMNS))
            return time.perf_counter() - start
        finally:
            await conn.close()


async def _gpucm_ingest(base: str, offers: list[Any]) -> float:
    from gpucm.store.store import Store

    async with schema(base) as url:
        store = await Store.open(url, clock=lambda: NOW)
        try:
            start = time.perf_counter()
            await store.replace_offers("vast_ai", offers, fetched_at=NOW)
            return time.perf_counter() - start
        finally:
            await store.close()


def bench_pg_ingest(repeat: int = 7) -> None:
    from gpucm.store.rows import offer_to_row

    offers = synthetic_offers(N, provider="vast_ai")
    rows = [offer_to_row(o, fetched_at=NOW.timestamp()) for o in offers]
    with server() as base:
        base_s: list[float] = []
        ours: list[float] = []
        for _ in range(repeat):  # interleaved, so machine noise hits both alike
            base_s.append(asyncio.run(_bare_copy(base, rows)))
            ours.append(asyncio.run(_gpucm_ingest(base, offers)))
    b, v = median_ms(base_s), median_ms(ours)
    emit(
        "pg_ingest_100k_offers",
        v,
        "ms",
        Target("ratio", ">=", 0.5),
        baseline=b,
        ratio=b / v,
        note="ratio = bare asyncpg COPY time / gpucm replace_offers time on PostgreSQL",
    )


# -- search --------------------------------------------------------------------------


async def _search(url: str, repeat: int) -> None:
    import asyncpg

    from gpucm.domain.catalog import Catalog
    from gpucm.store.pg.database import numbered
    from gpucm.store.schema import OFFER_COLUMNS
    from gpucm.store.search_sql import build_filter, order_by
    from gpucm.store.store import Store

    await _fill(url, N)  # type: ignore[arg-type]  # a URL: the PostgreSQL store
    log(f"pg_search: {N} offers in the store")
    catalog = Catalog.builtin()
    store = await Store.open(url, catalog=catalog, clock=lambda: NOW, offer_index=True)
    start = time.perf_counter()
    if not await store.wait_for_index():
        raise RuntimeError("the offer index was not built")
    build_ms = (time.perf_counter() - start) * 1000
    bare = await asyncpg.connect(url)
    try:
        for name, query in SEED_FILTERS.items():
            q = query.model_copy(update={"limit": PAGE})
            flt = build_filter(q, catalog)
            sql = numbered(
                f"SELECT {', '.join(OFFER_COLUMNS)} FROM offers WHERE {flt.where}"
                f" ORDER BY {order_by(q)} LIMIT {PAGE}"
            )
            await store.search(q)
            await bare.fetch(sql, *flt.params)
            ours: list[float] = []
            base: list[float] = []
            counts: list[float] = []
            for _ in range(repeat):
                t = time.perf_counter()
                await store.search(q, with_total=False)
                ours.append(time.perf_counter() - t)
                t = time.perf_counter()
                await bare.fetch(sql, *flt.params)
                base.append(time.perf_counter() - t)
                t = time.perf_counter()
                await store.count(q)
                counts.append(time.perf_counter() - t)
            v, b = median_ms(ours), median_ms(base)
            emit(
                f"pg_search_100k_{name}",
                v,
                "ms",
                Target("value", "<=", 20, "ms"),
                baseline=b,
                ratio=v / b,
                p95_ms=round(p95_ms(ours), 3),
                count_ms=round(median_ms(counts), 3),
                **({"index_build_ms": round(build_ms, 1)} if name == "default" else {}),
                note="first page (50 offers as models) on PostgreSQL, from the offer index;"
                " ratio = gpucm / the same SELECT through bare asyncpg",
            )
    finally:
        await bare.close()
        await store.close()


def bench_pg_search(repeat: int = 30) -> None:
    with server() as base:

        async def run() -> None:
            async with schema(base) as url:
                await _search(url, repeat)

        asyncio.run(run())


# -- a refresh in one process, repainted in another's TUI -----------------------------

# The second process: gpucm-tui headless at 120x40 on the team store, following the
# refresher (this process). It prints "ready" once its table is up, then the wall-clock
# time each time its table's first row is drawn from a new load.
_FOLLOWER = """
import asyncio, sys, time
from gpucm.services import open_services
from gpucm.tui.app import GpucmApp
from gpucm.tui.widgets.offer_table import OfferTable

seen = {"generation": 0}
original = OfferTable.render_line

def render_line(self, y):
    strip = original(self, y)
    if y == 1 and self.loaded_generation > seen["generation"]:
        seen["generation"] = self.loaded_generation
        print("painted", repr(time.time()), flush=True)
    return strip

OfferTable.render_line = render_line

async def main():
    services = await open_services(db=sys.argv[1], demo=True)
    app = GpucmApp(services, refresh=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(1.0)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
    await services.aclose()

asyncio.run(main())
"""


async def _notify_rounds(url: str, rounds: int) -> list[float]:
    from gpucm.domain.models import ProviderHealth
    from gpucm.store.store import Store

    offers = synthetic_offers(2_000, provider="vast_ai")
    store = await Store.open(url, clock=lambda: NOW)
    assert store.team is not None
    await store.replace_offers("vast_ai", offers, fetched_at=NOW)
    await store.set_meta("mode", "demo")
    assert await store.team.try_lead()  # this process is the team's refresher
    follower = subprocess.Popen(  # noqa: ASYNC220 - started once, before the timing
        [sys.executable, "-c", _FOLLOWER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert follower.stdout is not None and follower.stdin is not None
    samples: list[float] = []
    try:
        while (line := await asyncio.to_thread(follower.stdout.readline)).strip() != "ready":
            if not line:
                raise RuntimeError("the follower's TUI did not start")
        for i in range(rounds):
            await asyncio.sleep(1.0)  # the follower idle, as a user's TUI is
            factor = 1 + (i + 1) / 100
            moved = [
                o.model_copy(update={"price_per_hour": o.price_per_hour * factor}) for o in offers
            ]
            await store.replace_offers("vast_ai", moved, fetched_at=NOW)
            landed = time.time()
            health = ProviderHealth(
                provider="vast_ai", status="ok", last_success_at=NOW, offer_count=len(moved)
            )
            await store.save_health(health)
            while True:
                line = await asyncio.to_thread(follower.stdout.readline)
                if not line:
                    raise RuntimeError("the follower's TUI stopped")
                if line.startswith("painted"):
                    samples.append(float(line.split()[1]) - landed)
                    break
    finally:
        with contextlib.suppress(OSError):
            follower.stdin.write("\n")
            follower.stdin.flush()
        try:
            follower.wait(timeout=20)
        except subprocess.TimeoutExpired:
            follower.kill()
        await store.close()
    return samples


def bench_pg_notify(rounds: int = 7) -> None:
    with server() as base:

        async def run() -> list[float]:
            async with schema(base) as url:
                return await _notify_rounds(url, rounds)

        samples = asyncio.run(run())
    ordered = sorted(samples)
    emit(
        "pg_refresh_to_other_tui_repaint",
        statistics.median(samples) * 1000,
        "ms",
        Target("value", "<=", 1000, "ms"),
        p95_ms=round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
        samples=len(samples),
        note="a refresh landing in one process (offers, then its health row, committed) until"
        " a second process's gpucm-tui (headless 120x40, following the team's refresher) has"
        " drawn its table from the new offers: NOTIFY, no polling",
    )
