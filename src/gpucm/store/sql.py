"""SQL fragments shared by the store and the TUI's first screen (pure strings, so the
first screen can read a page of offers before pydantic has imported)."""

from __future__ import annotations

# Offers of a provider whose last refresh failed are shown, but marked stale.
STALE_EXPR = (
    "EXISTS (SELECT 1 FROM provider_health h WHERE h.provider = offers.provider"
    " AND h.status NOT IN ('ok', 'never'))"
)
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
