"""Price history: one raw point per (provider, GPU model) per refresh, rolled up by hour
and by day so a 30-day chart reads a few hundred rows however often the workers refresh.

Rollups are recomputed for the touched hour (from raw) and day (from hourly) inside the
refresh's own transaction. Recomputing, rather than adding the new point to a running
sum, keeps them exact when a refresh lands twice in one second (the raw point is
replaced, not added) and makes the maintenance idempotent.

Retention: raw points for RAW_RETENTION (charts up to a day or two read them), hourly
for HOURLY_RETENTION, daily for ever: a year of daily rows for 80 models at four
providers is about 120,000 small rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gpucm.domain.clock import from_epoch
from gpucm.store.results import HOURLY_RETENTION as HOURLY_RETENTION
from gpucm.store.results import RAW_RETENTION as RAW_RETENTION
from gpucm.store.results import RESOLUTIONS as RESOLUTIONS
from gpucm.store.results import HistoryPoint as HistoryPoint
from gpucm.store.results import Resolution as Resolution
from gpucm.store.results import resolution_for as resolution_for
from gpucm.store.sql import (
    REBUILD_CHEAPEST_ROLLUPS,
    REBUILD_DAILY_ROLLUP,
    REBUILD_HOURLY_ROLLUP,
)

if TYPE_CHECKING:
    from gpucm.store.database import SqlDatabase, Tx
    from gpucm.store.dialect import Dialect

PRUNE_EVERY = timedelta(hours=1)
HOUR = 3600
DAY = 86400

INSERT_RAW = (
    "INSERT INTO price_history (ts, provider, gpu_model, offers, available,"
    " min_gpu_price, avg_gpu_price, max_gpu_price) VALUES (?,?,?,?,?,?,?,?)"
    " ON CONFLICT (gpu_model, provider, ts) DO UPDATE SET offers = excluded.offers,"
    " available = excluded.available, min_gpu_price = excluded.min_gpu_price,"
    " avg_gpu_price = excluded.avg_gpu_price, max_gpu_price = excluded.max_gpu_price"
)
_ROLLUP_UPDATE = (
    " ON CONFLICT (gpu_model, provider, ts) DO UPDATE SET samples = excluded.samples,"
    " offers_sum = excluded.offers_sum, available_sum = excluded.available_sum,"
    " min_gpu_price = excluded.min_gpu_price, price_sum = excluded.price_sum,"
    " price_weight = excluded.price_weight, max_gpu_price = excluded.max_gpu_price"
)

# avg_gpu_price is a mean over `available` offers, so the hour's mean is the
# available-weighted mean of the points: keep the weighted sum and the weight.
_ROLL_HOUR = (
    """
INSERT INTO price_history_hourly
SELECT CAST(?1 AS BIGINT), provider, gpu_model, count(*), sum(offers), sum(available),
       min(min_gpu_price), coalesce(sum(avg_gpu_price * available), 0),
       sum(CASE WHEN avg_gpu_price IS NOT NULL THEN available ELSE 0 END), max(max_gpu_price)
FROM price_history
WHERE ts >= ?1 AND ts < ?1 + 3600 AND provider = ?2
GROUP BY provider, gpu_model
"""
    + _ROLLUP_UPDATE
)

_ROLL_DAY = (
    """
INSERT INTO price_history_daily
SELECT CAST(?1 AS BIGINT), provider, gpu_model, sum(samples), sum(offers_sum),
       sum(available_sum), min(min_gpu_price), sum(price_sum), sum(price_weight),
       max(max_gpu_price)
FROM price_history_hourly
WHERE ts >= ?1 AND ts < ?1 + 86400 AND provider = ?2
GROUP BY provider, gpu_model
"""
    + _ROLLUP_UPDATE
)

# every provider's rollup for the bucket is up to date by now: take the cheapest of them
_ROLL_CHEAPEST_SQL = """
INSERT INTO {cheapest}
SELECT CAST(?1 AS BIGINT), gpu_model, min(min_gpu_price) FROM {rollup}
WHERE ts = ?1 AND min_gpu_price IS NOT NULL
GROUP BY gpu_model
"""
_CHEAPEST_OF: tuple[tuple[Resolution, str, str], ...] = (
    ("hourly", "cheapest_hourly", "price_history_hourly"),
    ("daily", "cheapest_daily", "price_history_daily"),
)
_CHEAPEST: dict[Resolution, str] = {res: cheapest for res, cheapest, _ in _CHEAPEST_OF}
_ROLL_CHEAPEST: dict[Resolution, str] = {
    res: _ROLL_CHEAPEST_SQL.format(cheapest=cheapest, rollup=rollup)
    for res, cheapest, rollup in _CHEAPEST_OF
}

_RAW_SELECT = (
    "SELECT ts, provider, gpu_model, offers, available, min_gpu_price, avg_gpu_price,"
    " max_gpu_price, 1 FROM price_history"
)


def _rollup_select(table: str) -> str:
    return (
        "SELECT ts, provider, gpu_model, CAST(offers_sum AS DOUBLE PRECISION) / samples,"
        " CAST(available_sum AS DOUBLE PRECISION) / samples, min_gpu_price,"
        " CASE WHEN price_weight > 0 THEN price_sum / price_weight END, max_gpu_price,"
        f" samples FROM {table}"
    )


_SELECTS: dict[Resolution, str] = {
    "raw": _RAW_SELECT,
    "hourly": _rollup_select("price_history_hourly"),
    "daily": _rollup_select("price_history_daily"),
}


async def record(conn: Tx, provider: str, ts: int, points: Sequence[tuple[Any, ...]]) -> None:
    """Append one refresh's points and bring the hour's and the day's rollups up to date."""
    await conn.executemany(INSERT_RAW, points)
    hour, day = ts - ts % HOUR, ts - ts % DAY
    await conn.execute(_ROLL_HOUR, (hour, provider))
    await conn.execute(_ROLL_DAY, (day, provider))
    # A model whose price went NULL in this bucket at every provider keeps its previous
    # cheapest row: delete the bucket's rows first, so the rebuild is exact.
    buckets: tuple[tuple[Resolution, int], ...] = (("hourly", hour), ("daily", day))
    for resolution, bucket in buckets:
        await conn.execute(f"DELETE FROM {_CHEAPEST[resolution]} WHERE ts = ?", (bucket,))
        await conn.execute(_ROLL_CHEAPEST[resolution], (bucket,))


async def prune(conn: Tx, now: float) -> None:
    await conn.execute(
        "DELETE FROM price_history WHERE ts < ?", (int(now - RAW_RETENTION.total_seconds()),)
    )
    for table in ("price_history_hourly", _CHEAPEST["hourly"]):
        await conn.execute(
            f"DELETE FROM {table} WHERE ts < ?", (int(now - HOURLY_RETENTION.total_seconds()),)
        )


async def rebuild_rollups(conn: Tx) -> None:
    """Recompute every rollup from the raw points (for points written in bulk, as the
    benchmark does; refreshes maintain the rollups as they go)."""
    # statement by statement: executescript would COMMIT the caller's transaction
    for script in (REBUILD_HOURLY_ROLLUP, REBUILD_DAILY_ROLLUP, REBUILD_CHEAPEST_ROLLUPS):
        for statement in script.split(";"):
            if statement.strip():
                await conn.execute(statement)


async def series(
    db: SqlDatabase,
    models: Sequence[str],
    *,
    since: datetime | None,
    until: datetime | None,
    providers: Iterable[str],
    resolution: Resolution,
) -> list[HistoryPoint]:
    provs = tuple(providers)
    conds = [f"gpu_model IN ({','.join('?' * len(models))})"] if models else []
    params: list[Any] = list(models)
    if since is not None:
        # a bucket that began before `since` still overlaps it
        start = int(since.timestamp())
        if resolution == "hourly":
            start -= start % HOUR
        elif resolution == "daily":
            start -= start % DAY
        conds.append("ts >= ?")
        params.append(start)
    if until is not None:
        conds.append("ts <= ?")
        params.append(int(until.timestamp()))
    if provs:
        conds.append(f"provider IN ({','.join('?' * len(provs))})")
        params.extend(provs)
    where = " AND ".join(conds) or "TRUE"
    rows = await db.select(
        f"{_SELECTS[resolution]} WHERE {where} ORDER BY ts, provider, gpu_model", params
    )
    return [HistoryPoint(from_epoch(r[0]), *r[1:]) for r in rows]  # type: ignore[arg-type]


# Provider text is stored without control characters: a newline never splits a name.
_LIST_SEP = "\n"


def cheapest_by_bucket_sql(
    dialect: Dialect, *, since: datetime, resolution: Resolution
) -> tuple[str, tuple[object, ...]]:
    """Per GPU model, the cheapest $/GPU-h at any provider in each bucket since `since`,
    for every model in one grouped read; its rows go to `cheapest_by_bucket_rows`."""
    if resolution == "raw":
        raise ValueError("the cheapest per bucket is read from rollups, not raw points")
    start = int(since.timestamp())
    start -= start % (DAY if resolution == "daily" else HOUR)
    # The ~12,000 buckets of a 7-day trend come back as one row of three texts (models,
    # times, prices). Fetched row by row, each row took the GIL back from the UI thread
    # (a 20 ms read took 65 ms and more while a screen was drawn); as one JSON array of
    # arrays, decoding it made 12,000 lists, and their allocations ran the garbage
    # collector ~3x as often while the stats screen opened; split texts make none
    # (bench stats_screen_10m_history_points).
    columns = ", ".join(dialect.text_list(c, "?") for c in ("gpu_model", "ts", "min_gpu_price"))
    return (
        f"SELECT {columns} FROM {_CHEAPEST[resolution]} WHERE ts >= ?",
        (_LIST_SEP, _LIST_SEP, _LIST_SEP, start),
    )


def cheapest_by_bucket_rows(rows: Sequence[Any]) -> dict[str, list[float]]:
    """Per model, the cheapest price of each bucket, oldest first."""
    if not rows or rows[0][0] is None:
        return {}
    models_text, times_text, prices_text = rows[0]
    models = models_text.split(_LIST_SEP)
    prices = [float(p) for p in prices_text.split(_LIST_SEP)]
    times = [int(t) for t in times_text.split(_LIST_SEP)]
    if times != sorted(times):
        # the aggregate saw them out of time order (SQLite scans them in order)
        order = sorted(range(len(times)), key=times.__getitem__)
        models = [models[i] for i in order]
        prices = [prices[i] for i in order]
    out: dict[str, list[float]] = {}
    for model, price in zip(models, prices, strict=True):
        bucket = out.get(model)
        if bucket is None:
            bucket = out[model] = []
        bucket.append(price)
    return out
