"""SQL fragments shared by the store, its offer index and the TUI's first screen (only
the standard library, so the first screen can read a page of offers before pydantic has
imported)."""

from __future__ import annotations

import sqlite3

# Offers of a provider whose last refresh failed are shown, but marked stale.
STALE_EXPR = (
    "EXISTS (SELECT 1 FROM provider_health h WHERE h.provider = offers.provider"
    " AND h.status NOT IN ('ok', 'never'))"
)
# Bumped by every write of offers, in its transaction: the offer index is of one
# generation of the offers and answers only while that generation is the current one.
BUMP_OFFERS_GENERATION = (
    "INSERT INTO meta(key, value) VALUES ('offers_generation', '1')"
    " ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)"
)


def offers_generation(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'offers_generation'").fetchone()
    return int(row[0]) if row else 0


# What `search_sql` builds for SearchQuery(): a test keeps the two in step.
DEFAULT_WHERE = "available = 1"
DEFAULT_ORDER = "price_per_hour ASC, rowid ASC"

# Rollups rebuilt from scratch (the migration that adds them, and bulk loads). The
# hour's mean price is the available-weighted mean of its points' means, so the
# weighted sum and the weight are kept rather than a mean of means.
REBUILD_HOURLY_ROLLUP = """
DELETE FROM price_history_hourly;
INSERT INTO price_history_hourly
SELECT (ts / 3600) * 3600, provider, gpu_model, count(*), sum(offers), sum(available),
       min(min_gpu_price), coalesce(sum(avg_gpu_price * available), 0),
       sum(CASE WHEN avg_gpu_price IS NOT NULL THEN available ELSE 0 END), max(max_gpu_price)
FROM price_history GROUP BY 1, 2, 3;
"""
REBUILD_DAILY_ROLLUP = """
DELETE FROM price_history_daily;
INSERT INTO price_history_daily
SELECT (ts / 86400) * 86400, provider, gpu_model, sum(samples), sum(offers_sum),
       sum(available_sum), min(min_gpu_price), sum(price_sum), sum(price_weight),
       max(max_gpu_price)
FROM price_history_hourly GROUP BY 1, 2, 3;
"""
# The cheapest price per model per bucket, over every provider: the stats screen's trend
# column, read for every model at once.
REBUILD_CHEAPEST_ROLLUPS = """
DELETE FROM cheapest_hourly;
INSERT INTO cheapest_hourly
SELECT ts, gpu_model, min(min_gpu_price) FROM price_history_hourly
WHERE min_gpu_price IS NOT NULL GROUP BY ts, gpu_model;
DELETE FROM cheapest_daily;
INSERT INTO cheapest_daily
SELECT ts, gpu_model, min(min_gpu_price) FROM price_history_daily
WHERE min_gpu_price IS NOT NULL GROUP BY ts, gpu_model;
"""
