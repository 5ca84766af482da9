"""SearchQuery -> parameterised SQL over the offers table.

Filters on a field a provider does not report: `min_storage` and `min_cuda` let a
NULL pass (disk size and CUDA image are chosen at launch on RunPod, Lambda and
Paperspace), every other minimum excludes it (an unknown reliability is not >= 0.9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpucm.domain.catalog import Catalog
from gpucm.domain.models import SearchQuery, SortBy
from gpucm.domain.regions import US_GROUPS, expand_region_terms

SORT_COLUMNS: dict[SortBy, str] = {
    "price": "price_per_hour",
    "performance": "performance",
    "reliability": "reliability",
    "value": "value",
    "gpu_count": "gpu_count",
    "ram": "ram_gb",
}


@dataclass(frozen=True)
class SqlFilter:
    where: str
    params: tuple[Any, ...]


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def model_names(query: SearchQuery, catalog: Catalog) -> tuple[str, ...]:
    names: list[str] = []
    for term in query.gpu_models:
        for name in catalog.expand(term):
            if name not in names:
                names.append(name)
    return tuple(names)


def build_filter(query: SearchQuery, catalog: Catalog) -> SqlFilter:
    conds: list[str] = []
    params: list[Any] = []

    def add(cond: str, *values: Any) -> None:
        conds.append(cond)
        params.extend(values)

    if query.available:
        add("available = 1")
    models = model_names(query, catalog)
    if models:
        add(f"gpu_model IN ({_placeholders(len(models))})", *models)
    if query.gpu_category:
        add("gpu_category = ?", query.gpu_category)
    if query.providers:
        add(f"provider IN ({_placeholders(len(query.providers))})", *query.providers)
    if query.min_gpu_count is not None:
        add("gpu_count >= ?", query.min_gpu_count)
    if query.min_price is not None:
        add("price_per_hour >= ?", query.min_price)
    if query.max_price is not None:
        add("price_per_hour <= ?", query.max_price)
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
    if query.regions:
        groups, raw = expand_region_terms(query.regions)
        parts: list[str] = []
        region_params: list[Any] = []
        if groups:
            parts.append(f"region_group IN ({_placeholders(len(groups))})")
            region_params.extend(groups)
            if set(US_GROUPS) <= set(groups):
                # "somewhere in the US" with no state (", US", RunPod community) has no
                # US-* group but is still in the US
                parts.append("country = 'US'")
        for term in raw:
            parts.append("region = ? OR country = ?")
            region_params.extend((term, term))
        add("(" + " OR ".join(parts) + ")", *region_params)
    where = " AND ".join(conds) if conds else "1"
    return SqlFilter(where, tuple(params))


def order_by(query: SearchQuery) -> str:
    """ORDER BY for a query. Ties break on price, then rowid: rowid is stable for an
    offer across refreshes (snapshots upsert) and the price index carries it, so the
    default sort is read straight off the index instead of sorting every match."""
    column = SORT_COLUMNS[query.sort_by]
    direction = "DESC" if query.sort_order == "desc" else "ASC"
    if column == "price_per_hour":  # NOT NULL
        return f"price_per_hour {direction}, rowid {direction}"
    # NULLs last in both directions: an offer without a reliability is not the best one.
    return f"({column} IS NULL), {column} {direction}, price_per_hour ASC, rowid ASC"
