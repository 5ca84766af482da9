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
