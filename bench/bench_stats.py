"""The stats screen over 10 million price-history points: from opening the screen to its
table filled and the highlighted model's charts plotted, headless.

The points are written by SQL (a recursive series crossed with the catalog's models and
the four providers: 30 days at one refresh every ~80 s) and rolled up once, as a month
of refreshes would have left them. The baseline is the same screen over the same offers
with one refresh of history.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.common import NOW, Target, emit, log
from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import fixed_clock
from gpucm.domain.provider_names import PROVIDERS
from gpucm.services import open_services
from gpucm.store import history

POINTS = 10_000_000
DAYS = 30


def _fill_history(db: Path, points: int) -> int:
    models = [m.name for m in Catalog.builtin().models]
    series = len(models) * len(PROVIDERS)
    steps = points // series
    step_seconds = DAYS * 86400 // steps
    start = int((NOW - timedelta(days=DAYS)).timestamp())
    conn = sqlite3.connect(db)
    try:
        conn.execute("CREATE TEMP TABLE m (gpu_model TEXT, base REAL)")
        conn.executemany(
            "INSERT INTO m VALUES (?, ?)",
            [(n, 0.1 + (i % 40) * 0.07) for i, n in enumerate(models)],
        )
        conn.execute("CREATE TEMP TABLE p (provider TEXT, k REAL)")
        conn.executemany(
            "INSERT INTO p VALUES (?, ?)", [(p, 1 + i * 0.1) for i, p in enumerate(PROVIDERS)]
        )
        conn.execute("DELETE FROM price_history")
        # PK order (model, provider, ts): the b-tree is appended to, never split mid-page
        conn.execute(
            """
            WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
            INSERT INTO price_history
            SELECT ? + i * ?, provider, gpu_model, 20 + i % 7, 15 + i % 5,
                   base * k * (0.9 + (i % 97) / 500.0),
                   base * k * (1.1 + (i % 89) / 500.0),
                   base * k * (1.6 + (i % 83) / 500.0)
            FROM m, p, s ORDER BY gpu_model, provider, i
            """,
            (steps - 1, start, step_seconds),
        )
        conn.commit()
        written = conn.execute("SELECT count(*) FROM price_history").fetchone()[0]
    finally:
        conn.close()
    return int(written)


async def _rebuild(db: Path) -> None:
    from gpucm.store.store import Store

    store = await Store.open(db, clock=fixed_clock(NOW))
    try:
        async with store._write() as conn:
            await history.rebuild_rollups(conn)
    finally:
        await store.close()


async def _screen_times(db: Path, rounds: int) -> list[float]:
    from textual.app import App

    from gpucm.tui.screens.stats import StatsScreen

    services = await open_services(db=db, demo=True, clock=fixed_clock(NOW))
    samples: list[float] = []

    class Host(App[None]):
        pass

    try:
        app = Host()
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(rounds + 1):
                screen = StatsScreen(services)
                started = time.perf_counter()
                await app.push_screen(screen)
                await screen.loaded.wait()
                await app.workers.wait_for_complete()
                await pilot.pause()  # one paint of what landed
                samples.append(time.perf_counter() - started)
                assert screen.model is not None and "trend" in screen.plotted
                app.pop_screen()
                await pilot.pause()
    finally:
        await services.aclose()
    return samples[1:]  # the first pays for imports and CSS parsing


def bench_stats(rounds: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "stats.db"

        async def seed() -> None:
            services = await open_services(db=db, demo=True, clock=fixed_clock(NOW))
            try:
                await services.refresh()
            finally:
                await services.aclose()

        asyncio.run(seed())
        base = statistics.median(asyncio.run(_screen_times(db, rounds)))
        log(f"bench stats: writing {POINTS:,} history points ...")
        started = time.perf_counter()
        written = _fill_history(db, POINTS)
        asyncio.run(_rebuild(db))
        log(f"bench stats: {written:,} points and rollups in {time.perf_counter() - started:.0f} s")
        value = statistics.median(asyncio.run(_screen_times(db, rounds)))
    emit(
        "stats_screen_10m_history_points",
        value * 1000,
        "ms",
        Target("value", "<=", 200, "ms"),
        baseline=base * 1000,
        ratio=value / base,
        history_points=written,
    )
