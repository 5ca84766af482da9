"""SearchQuery -> parameterised SQL over the offers table.

Filters on a field a provider does not report: `min_storage` and `min_cuda` let a
NULL pass (disk size and CUDA image are chosen at launch on RunPod, Lambda and
Paperspace), every other minimum excludes it (an unknown reliability is not >= 0.9).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gpucm.domain.catalog import Catalog
from gpucm.domain.models import SearchQuery, SortBy, levels_at_least
from gpucm.domain.pricing import HOURS_PER_MONTH, all_in_disk_gb
from gpucm.domain.regions import US_GROUPS, expand_region_terms
from gpucm.domain.workload_fit import need_of

SORT_COLUMNS: dict[SortBy, str] = {
    "price": "price_per_hour",
    "price_per_gpu": "price_per_gpu_hour",
    "performance": "performance",
    "reliability": "reliability",
    "value": "value",
    "gpu_count": "gpu_count",
    "ram": "ram_gb",
    "vram": "gpu_memory_gb",
    "storage": "storage_gb",
    # interruptible price: offers without one (no spot rental) sort last, as NULLs do
    "spot": "spot_price_per_hour",
}


# the order build_filter writes its terms in (see there)
_RANK_REGION, _RANK_CATEGORY, _RANK_MODEL, _RANK_MINIMUM, _RANK_AVAILABLE = range(5)


@dataclass(frozen=True)
class SqlFilter:
    """A search's WHERE clause and the parameters it binds."""

    where: str
    params: tuple[Any, ...]


# A list of values longer than this is bound as one JSON array (`json_each`) rather
# than a parameter per value: SQLite takes at most 32,766 parameters, and a long list
# of terms joined by OR nested past its expression depth limit (1,000), so a query of
# 600 regions failed. Short lists keep plain parameters, which the planner sees.
LONG_LIST = 64


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def _in(expr: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
    """`expr IN (values)`, for a list of any length (one condition, never an OR chain)."""
    if len(values) <= LONG_LIST:
        return f"{expr} IN ({_placeholders(len(values))})", tuple(values)
    return f"{expr} IN (SELECT value FROM json_each(?))", (json.dumps(list(values)),)


def model_names(query: SearchQuery, catalog: Catalog) -> tuple[str, ...]:
    names: dict[str, None] = {}  # a dict keeps the first-seen order, and looks up in O(1)
    for term in query.gpu_models:
        names.update(dict.fromkeys(catalog.expand(term)))
    return tuple(names)


@dataclass(frozen=True)
class FitFilter:
    """A `fits=` term as the store filters it: VRAM per GPU x GPU count at least
    `total_gb`, and the GPU model among `models` where the precision needs hardware."""

    total_gb: float
    models: tuple[str, ...] | None


def fit_filter(query: SearchQuery, catalog: Catalog) -> FitFilter | None:
    if query.fits is None:
        return None
    need = need_of(query.fits)
    models = None
    if need.min_compute_capability is not None:
        models = tuple(m.name for m in catalog.models if need.supports(m))
    return FitFilter(need.total_gb, models)


def build_filter(query: SearchQuery, catalog: Catalog) -> SqlFilter:
    # SQLite tests the terms of a scan in the order written and stops at the first
    # false one, so the terms that reject most rows come first: regions, then category
    # and provider, then models, then the minimums, and `available = 1` (true for about
    # nine offers in ten) last. Measured on the bench's seed filters: 10-16% off a
    # full scan with a model, region or category in it (bench search_100k_*).
    terms: list[tuple[int, str, tuple[Any, ...]]] = []

    def add(cond: str, *values: Any, rank: int = _RANK_MINIMUM) -> None:
        terms.append((rank, cond, values))

    def add_any(parts: Sequence[tuple[str, tuple[Any, ...]]], rank: int) -> None:
        """One term true when any part is (a few IN lists, never one OR per value)."""
        add(
            "(" + " OR ".join(cond for cond, _ in parts) + ")",
            *(v for _, values in parts for v in values),
            rank=rank,
        )

    if query.available:
        add("available = 1", rank=_RANK_AVAILABLE)
    models = model_names(query, catalog)
    if models:
        # catalog names compare exactly (fast); raw names the catalog does not know
        # are matched without regard to case
        known = [m for m in models if catalog.get(m) is not None]
        unknown = [m for m in models if catalog.get(m) is None]
        model_parts = [_in("gpu_model", known)] if known else []
        if unknown:
            model_parts.append(_in("gpu_model COLLATE NOCASE", unknown))
        add_any(model_parts, _RANK_MODEL)
    if query.gpu_category:
        add("gpu_category = ?", query.gpu_category, rank=_RANK_CATEGORY)
    if query.providers:
        add_any([_in("provider", query.providers)], _RANK_CATEGORY)
    if query.min_gpu_count is not None:
        add("gpu_count >= ?", query.min_gpu_count)
    # The unary + keeps the planner from looking prices up through offers_price: a
    # bound like `<= 10` matches most rows, and walking them by index is far slower
    # than a scan. Sorting by price still reads the index in order.
    if query.min_price is not None:
        add("+price_per_hour >= ?", query.min_price)
    if query.max_price is not None:
        add("+price_per_hour <= ?", query.max_price)
    if query.min_ram is not None:
        add("ram_gb >= ?", query.min_ram)
    if query.min_storage is not None:
        add("(storage_gb IS NULL OR storage_gb >= ?)", query.min_storage)
    if query.min_reliability is not None:
        add("reliability >= ?", query.min_reliability)
    if query.min_performance is not None:
        add("performance >= ?", query.min_performance)
    if query.min_gpu_memory is not None:
        add("gpu_memory_gb >= ?", query.min_gpu_memory)
    if query.min_cuda is not None:
        add("(cuda_version IS NULL OR cuda_version >= ?)", query.min_cuda)
    fit = fit_filter(query, catalog)
    if fit is not None:
        # an offer whose VRAM is not reported (NULL) does not fit
        add("gpu_memory_gb * gpu_count >= ?", fit.total_gb)
        if fit.models is not None:
            add_any([_in("gpu_model", fit.models)], _RANK_MODEL)
    if query.bad_hosts and query.hosts != "all":
        cond, values = _in("host_id", query.bad_hosts)
        add(f"NOT {cond}", *values)
    if query.min_availability is not None:
        levels = levels_at_least(query.min_availability)
        add(f"availability IN ({_placeholders(len(levels))})", *levels)
    if query.regions:
        groups, raw = expand_region_terms(query.regions)
        parts: list[tuple[str, tuple[Any, ...]]] = []
        if groups:
            parts.append(_in("region_group", groups))
            if set(US_GROUPS) <= set(groups):
                # "somewhere in the US" with no state (", US", RunPod community) has no
                # US-* group but is still in the US
                parts.append(("country = 'US'", ()))
        if raw:
            # a provider's own region, or a country code (both columns are NOCASE)
            parts += [_in("region", raw), _in("country", raw)]
        add_any(parts, _RANK_REGION)
    terms.sort(key=lambda term: term[0])  # stable: equal ranks keep their order
    where = " AND ".join(cond for _, cond, _ in terms) or "TRUE"
    return SqlFilter(where, tuple(v for _, _, values in terms for v in values))


def _walks_price_index_safely(query: SearchQuery) -> bool:
    """May the planner read offers in price order off offers_price and stop after a
    page? Only when every filter is dense (available, price bounds): for a sparse one
    (a rare model, one provider) it would look up the table for most of 100k index
    entries, up to ten times slower than a scan (bench search_100k_h100_family_4plus)."""
    sparse = (
        query.gpu_category,
        query.providers,
        query.regions,
        query.min_gpu_count,
        query.min_ram,
        query.min_storage,
        query.min_reliability,
        query.min_performance,
        query.min_gpu_memory,
        query.min_cuda,
        query.fits,
    )
    return not any(v not in (None, ()) for v in (query.gpu_models, *sparse))


def all_in_expr(disk_gb: float) -> str:
    """SQL for all-in $/h with `disk_gb` priced in, the arithmetic (and its order, so
    the floats agree) of pricing.storage_per_hour and the offer index."""
    return (
        f"(price_per_hour + coalesce(storage_price_per_gb_month, 0) * {float(disk_gb)!r}"
        f" / {HOURS_PER_MONTH!r})"
    )


def order_by(query: SearchQuery) -> str:
    """ORDER BY for a query: NULLs always last (an offer without a reliability is not
    the most reliable one), ties on price, then rowid, so pages are stable. A `fits=`
    search's price order is all-in $/h (all_in_disk_gb)."""
    column = SORT_COLUMNS[query.sort_by]
    d = "DESC" if query.sort_order == "desc" else "ASC"
    disk = all_in_disk_gb(query)
    if disk is not None:
        return f"{all_in_expr(disk)} {d}, rowid {d}"
    if column == "price_per_hour":  # NOT NULL
        # `+` hides the column from the planner, forcing a scan and a top-N sort
        price = "price_per_hour" if _walks_price_index_safely(query) else "+price_per_hour"
        return f"{price} {d}, rowid {d}"
    return f"({column} IS NULL), {column} {d}, price_per_hour ASC, rowid ASC"
