"""Price history: raw points per refresh, exact hourly and daily rollups, retention."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gpucm.domain.clock import Clock, fixed_clock
from gpucm.domain.models import SearchQuery
from gpucm.store import history
from gpucm.store.db import connect, migrate
from gpucm.store.history import resolution_for
from gpucm.store.schema import MIGRATIONS
from gpucm.store.store import Store
from tests.conftest import FIXED_NOW
from tests.offer_factory import make_offer

HOUR_START = FIXED_NOW  # 12:00:00, the start of an hour and 12 h into a day


def _market(cheap: float, dear: float, *, dear_available: bool = True) -> list:
    return [
        make_offer(provider_id="a", price_per_hour=cheap),
        make_offer(provider_id="b", price_per_hour=dear, available=dear_available),
        make_offer(provider_id="c", gpu_name="H100 SXM", price_per_hour=3.0),
    ]


async def test_hourly_rollup_is_the_exact_aggregate_of_its_points(
    db_path: Path, clock: Clock
) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        await store.replace_offers("vast_ai", _market(1.0, 2.0), fetched_at=HOUR_START)
        await store.replace_offers(
            "vast_ai", _market(0.6, 2.0), fetched_at=HOUR_START + timedelta(minutes=20)
        )
        await store.replace_offers(
            "vast_ai",
            _market(0.8, 3.0, dear_available=False),
            fetched_at=HOUR_START + timedelta(minutes=40),
        )
        raw = await store.history(["RTX 4090"], resolution="raw")
        assert len(raw) == 3
        (hour,) = await store.history(["RTX 4090"], resolution="hourly")
        assert hour.ts == HOUR_START
        assert hour.samples == 3
        assert hour.offers == 2
        assert hour.available == pytest.approx(5 / 3)
        assert hour.min_gpu_price == pytest.approx(0.6)
        assert hour.max_gpu_price == pytest.approx(2.0)
        # mean over every available offer seen in the hour, not a mean of means
        assert hour.avg_gpu_price == pytest.approx((1.0 + 2.0 + 0.6 + 2.0 + 0.8) / 5)
        (day,) = await store.history(["RTX 4090"], resolution="daily")
        assert day.ts == HOUR_START - timedelta(hours=12)
        assert (day.samples, day.min_gpu_price, day.max_gpu_price) == (3, 0.6, 2.0)
        assert day.avg_gpu_price == pytest.approx(hour.avg_gpu_price)
    finally:
        await store.close()


async def test_a_refresh_repeated_in_the_same_second_is_not_counted_twice(
    db_path: Path, clock: Clock
) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        await store.replace_offers("vast_ai", _market(1.0, 2.0), fetched_at=HOUR_START)
        await store.replace_offers("vast_ai", _market(0.5, 2.0), fetched_at=HOUR_START)
        (hour,) = await store.history(["RTX 4090"], resolution="hourly")
        assert hour.samples == 1
        assert hour.min_gpu_price == pytest.approx(0.5)  # the later snapshot wins
    finally:
        await store.close()


async def test_days_roll_up_from_their_hours_per_provider(db_path: Path, clock: Clock) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        for hours, price in ((0, 1.0), (3, 0.7), (30, 0.9)):
            await store.replace_offers(
                "vast_ai", _market(price, 2.0), fetched_at=HOUR_START + timedelta(hours=hours)
            )
        await store.replace_offers(
            "runpod", [make_offer("runpod", "x", price_per_hour=0.4)], fetched_at=HOUR_START
        )
        days = await store.history(["RTX 4090"], resolution="daily")
        by = {(p.provider, p.ts): p for p in days}
        day0 = HOUR_START - timedelta(hours=12)
        assert set(by) == {
            ("vast_ai", day0),
            ("vast_ai", day0 + timedelta(days=1)),
            ("runpod", day0),
        }
        assert by["vast_ai", day0].samples == 2
        assert by["vast_ai", day0].min_gpu_price == pytest.approx(0.7)
        assert by["vast_ai", day0 + timedelta(days=1)].min_gpu_price == pytest.approx(0.9)
        assert by["runpod", day0].min_gpu_price == pytest.approx(0.4)
        only_runpod = await store.history(["RTX 4090"], resolution="daily", providers=["runpod"])
        assert [p.provider for p in only_runpod] == ["runpod"]
    finally:
        await store.close()


async def _refreshed_now_and_at(db_path: Path, later: datetime) -> Store:
    """A store refreshed at HOUR_START and again at `later`, its clock moved on with it
    (so the second refresh prunes what has aged out)."""
    now = {"t": HOUR_START}
    store = await Store.open(db_path, clock=lambda: now["t"])
    await store.replace_offers("vast_ai", _market(1.0, 2.0), fetched_at=HOUR_START)
    now["t"] = later
    await store.replace_offers("vast_ai", _market(0.9, 2.0), fetched_at=later)
    return store


async def test_old_raw_points_are_pruned_but_rollups_keep_the_trend(db_path: Path) -> None:
    later = HOUR_START + history.RAW_RETENTION + timedelta(hours=2)
    store = await _refreshed_now_and_at(db_path, later)
    try:
        raw = await store.history(["RTX 4090"], resolution="raw")
        assert [p.ts for p in raw] == [later]
        hourly = await store.history(["RTX 4090"], resolution="hourly")
        assert [p.ts for p in hourly] == [HOUR_START, later]
        # a span the raw points no longer cover is answered from the rollups
        week = await store.history(["RTX 4090"], since=later - timedelta(days=7))
        assert [p.samples for p in week] == [1, 1]
        assert [p.ts for p in week] == [HOUR_START, later]
    finally:
        await store.close()


def test_resolution_follows_the_span() -> None:
    assert resolution_for(None) == "raw"
    assert resolution_for(timedelta(hours=24)) == "raw"
    assert resolution_for(timedelta(days=7)) == "hourly"
    assert resolution_for(timedelta(days=30)) == "hourly"
    assert resolution_for(timedelta(days=365)) == "daily"


async def test_since_includes_the_bucket_it_falls_in(db_path: Path, clock: Clock) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        await store.replace_offers(
            "vast_ai", _market(1.0, 2.0), fetched_at=HOUR_START + timedelta(minutes=10)
        )
        points = await store.history(
            ["RTX 4090"], since=HOUR_START + timedelta(minutes=30), resolution="hourly"
        )
        assert [p.ts for p in points] == [HOUR_START]
    finally:
        await store.close()


async def test_cheapest_trend_is_the_min_across_providers_per_bucket(
    db_path: Path, clock: Clock
) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        await store.replace_offers("vast_ai", _market(1.0, 2.0), fetched_at=HOUR_START)
        await store.replace_offers(
            "runpod", [make_offer("runpod", "x", price_per_hour=0.7)], fetched_at=HOUR_START
        )
        await store.replace_offers(
            "vast_ai", _market(0.5, 2.0), fetched_at=HOUR_START + timedelta(hours=1)
        )
        # the trend is over every provider whatever the stats' filter, read beside them
        runpod_only = SearchQuery(providers=("runpod",))
        stats, trend = await store.stats_and_trend(
            runpod_only, HOUR_START - timedelta(days=1), "hourly"
        )
        # oldest hour first
        assert trend["RTX 4090"] == [0.7, 0.5]
        assert trend["H100"] == [3.0, 3.0]
        assert stats == await store.stats(runpod_only)
        assert stats.total_instances == 1
    finally:
        await store.close()


async def test_cheapest_trend_keeps_odd_names_and_prices(db_path: Path, clock: Clock) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        _, trend = await store.stats_and_trend(None, HOUR_START, "hourly")
        assert trend == {}
        odd = "Odd, GPU 8 [x]"
        prices = (1 / 3, 0.25, 1e-05)
        for hour, price in enumerate(prices):
            await store.replace_offers(
                "vast_ai",
                [make_offer("vast_ai", "w", odd, price_per_hour=price)],
                fetched_at=HOUR_START + timedelta(hours=hour),
            )
        _, trend = await store.stats_and_trend(None, HOUR_START, "hourly")
        assert list(trend) == [odd]
        assert trend[odd] == pytest.approx(prices, rel=1e-12)
    finally:
        await store.close()


def test_cheapest_buckets_read_out_of_time_order_come_back_in_order() -> None:
    # SQLite's aggregate sees the rows in time order; one that did not still gets
    # every model's prices oldest first
    rows = [("b\na\nb\na", "7200\n3600\n3600\n0", "4.0\n2.0\n3.0\n1.0")]
    assert history.cheapest_by_bucket_rows(rows) == {"a": [1.0, 2.0], "b": [3.0, 4.0]}
    assert history.cheapest_by_bucket_rows([(None, None, None)]) == {}


@pytest.mark.sqlite_only
async def test_migration_backfills_rollups_from_existing_points(db_path: Path) -> None:
    conn = await connect(db_path)
    try:
        await migrate(conn, MIGRATIONS[:1])
        ts = int(HOUR_START.timestamp())
        await conn.executemany(
            history.INSERT_RAW,
            [
                (ts, "vast_ai", "RTX 4090", 2, 2, 0.5, 0.75, 1.0),
                (ts + 600, "vast_ai", "RTX 4090", 2, 1, 0.9, 0.9, 0.9),
                (ts + 7200, "vast_ai", "RTX 4090", 1, 0, None, None, None),
            ],
        )
        await conn.commit()
        await migrate(conn, MIGRATIONS)
        async with conn.execute(
            "SELECT ts, samples, available_sum, min_gpu_price, price_sum / price_weight"
            " FROM price_history_hourly ORDER BY ts"
        ) as cur:
            rows = [tuple(r) for r in await cur.fetchall()]
        assert rows[0][:4] == (ts, 2, 3, 0.5)
        assert rows[0][4] == pytest.approx((0.75 * 2 + 0.9) / 3)
        assert rows[1][:4] == (ts + 7200, 1, 0, None)
        async with conn.execute("SELECT samples FROM price_history_daily") as cur:
            assert [r[0] for r in await cur.fetchall()] == [3]
    finally:
        await conn.close()


@pytest.mark.sqlite_only
async def test_rebuild_matches_what_refreshes_maintained(db_path: Path, clock: Clock) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        for minutes, price in ((0, 1.0), (25, 0.8), (70, 1.2), (1500, 0.6)):
            await store.replace_offers(
                "vast_ai", _market(price, 2.0), fetched_at=HOUR_START + timedelta(minutes=minutes)
            )
        before = {
            r: await store.history(["RTX 4090", "H100"], resolution=r) for r in ("hourly", "daily")
        }
    finally:
        await store.close()
    with sqlite3.connect(db_path) as raw:
        raw.execute("DELETE FROM price_history_hourly")
        raw.execute("DELETE FROM price_history_daily")
    store = await Store.open(db_path, clock=fixed_clock(FIXED_NOW))
    try:
        async with store.db.write() as conn:
            await history.rebuild_rollups(conn)
        for resolution, points in before.items():
            assert await store.history(["RTX 4090", "H100"], resolution=resolution) == points
    finally:
        await store.close()


async def _cheapest_rows(db_path: Path | str) -> dict[str, list[tuple[object, ...]]]:
    """The cheapest rollups as kept, and as computed afresh from the per-provider ones
    (through the store's own database layer: either backend)."""
    out: dict[str, list[tuple[object, ...]]] = {}
    store = await Store.open(db_path)
    try:
        for kept, source in (
            ("cheapest_hourly", "price_history_hourly"),
            ("cheapest_daily", "price_history_daily"),
        ):
            rows = await store.db.select(
                f"SELECT ts, gpu_model, min_gpu_price FROM {kept} ORDER BY ts, gpu_model"
            )
            out[kept] = [tuple(r) for r in rows]
            rows = await store.db.select(
                f"SELECT ts, gpu_model, min(min_gpu_price) FROM {source}"
                " WHERE min_gpu_price IS NOT NULL GROUP BY ts, gpu_model ORDER BY ts, gpu_model"
            )
            out[source] = [tuple(r) for r in rows]
    finally:
        await store.close()
    return out


async def test_cheapest_rollups_follow_every_refresh(db_path: Path, clock: Clock) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        steps = [
            ("vast_ai", 0, _market(1.0, 2.0)),
            ("runpod", 5, [make_offer("runpod", "x", price_per_hour=0.7)]),
            ("vast_ai", 20, _market(0.6, 2.0)),
            # runpod's RTX 4090 is gone later in the day; the hour's cheapest stays 0.6
            ("runpod", 70, [make_offer("runpod", "y", "H100 SXM", price_per_hour=2.5)]),
            ("vast_ai", 75, _market(1.4, 2.0, dear_available=False)),
            # an hour in which no RTX 4090 can be rented: no price, so no cheapest row
            ("vast_ai", 130, [make_offer(provider_id="a", price_per_hour=1.0, available=False)]),
            ("vast_ai", 1500, _market(0.9, 2.0)),
        ]
        for provider, minutes, offers in steps:
            await store.replace_offers(
                provider, offers, fetched_at=HOUR_START + timedelta(minutes=minutes)
            )
    finally:
        await store.close()
    rows = await _cheapest_rows(db_path)
    assert rows["cheapest_hourly"] == rows["price_history_hourly"]
    assert rows["cheapest_daily"] == rows["price_history_daily"]
    start = int(HOUR_START.timestamp())
    assert (start, "RTX 4090", 0.6) in rows["cheapest_hourly"]
    assert (start + 3600, "H100", 2.5) in rows["cheapest_hourly"]  # runpod's, not 3.0
    assert not [r for r in rows["cheapest_hourly"] if r[0] == start + 7200]
    assert len(rows["cheapest_daily"]) == 4  # two days, two models


@pytest.mark.sqlite_only
async def test_cheapest_rollups_are_backfilled_and_rebuilt(db_path: Path, clock: Clock) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        for minutes, price in ((0, 1.0), (70, 0.8), (1500, 0.6)):
            await store.replace_offers(
                "vast_ai", _market(price, 2.0), fetched_at=HOUR_START + timedelta(minutes=minutes)
            )
    finally:
        await store.close()
    kept = await _cheapest_rows(db_path)
    # a database from before migration 4: no cheapest tables at all (nor what the
    # migrations after it add)
    with sqlite3.connect(db_path) as raw:
        raw.executescript(
            "DROP TABLE cheapest_hourly; DROP TABLE cheapest_daily;"
            " ALTER TABLE launch_journal DROP COLUMN fingerprint;"
            " ALTER TABLE launch_journal DROP COLUMN reserved_per_hour;"
            " ALTER TABLE offers DROP COLUMN availability;"
            " ALTER TABLE offers DROP COLUMN min_bid_per_gpu_hour;"
            " ALTER TABLE offers DROP COLUMN host_id; DROP TABLE bad_hosts;"
            " DROP TABLE spend_intervals;"
            " DROP TABLE event_outbox; DROP TABLE armed_watches;"
            " PRAGMA user_version = 3;"
        )
    store = await Store.open(db_path, clock=clock)
    await store.close()
    assert await _cheapest_rows(db_path) == kept
    # and rebuilt with the other rollups after a bulk load
    with sqlite3.connect(db_path) as raw:
        raw.execute("DELETE FROM cheapest_hourly")
    store = await Store.open(db_path, clock=clock)
    try:
        async with store.db.write() as conn:
            await history.rebuild_rollups(conn)
    finally:
        await store.close()
    assert await _cheapest_rows(db_path) == kept


async def test_old_cheapest_hours_are_pruned_with_their_rollups(db_path: Path) -> None:
    later = HOUR_START + history.HOURLY_RETENTION + timedelta(days=1)
    await (await _refreshed_now_and_at(db_path, later)).close()
    rows = await _cheapest_rows(db_path)
    assert {r[0] for r in rows["cheapest_hourly"]} == {int(later.timestamp())}
    assert rows["cheapest_hourly"] == rows["price_history_hourly"]
    assert len(rows["cheapest_daily"]) == 4  # days are kept for ever
