"""Market statistics over the offers and the price history they leave: the original
API's `/stats`, the stats screen's percentiles and trend, and the history series."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import from_epoch
from gpucm.domain.models import GpuModel, MarketStats, ModelStats, PriceRange, SearchQuery
from gpucm.store import history
from gpucm.store.database import SqlDatabase
from gpucm.store.dialect import Dialect
from gpucm.store.results import HistoryPoint, Resolution
from gpucm.store.search_sql import build_filter


class StatsReader:
    def __init__(self, db: SqlDatabase, catalog: Callable[[], Catalog]) -> None:
        self._db = db
        self._catalog = catalog
        self._model_stats_sql = _model_stats_sql(db.dialect)

    async def stats(self, query: SearchQuery | None = None) -> MarketStats:
        """The original API's marketplace stats, over the offers a query matches
        (available or not); per-model figures are over available offers."""
        catalog = self._catalog()
        rows = await self._db.select_many(self._stats_statements(query, catalog))
        return self._stats_from(rows, catalog)

    async def stats_and_trend(
        self, query: SearchQuery | None, since: datetime, resolution: Resolution
    ) -> tuple[MarketStats, dict[str, list[float]]]:
        """`stats`, and per GPU model the cheapest $/GPU-h at any provider in each
        bucket since `since` (the stats screen's trend column), in one read: one hop to
        the reader's thread instead of two (a second was queued only once the UI next
        idled: ~13 ms later while a screen is being drawn, bench
        stats_screen_10m_history_points), and both from one snapshot."""
        catalog = self._catalog()
        statements = self._stats_statements(query, catalog)
        statements.append(
            history.cheapest_by_bucket_sql(self._db.dialect, since=since, resolution=resolution)
        )
        rows = await self._db.select_many(statements)
        return self._stats_from(rows[:-1], catalog), history.cheapest_by_bucket_rows(rows[-1])

    def _stats_statements(
        self, query: SearchQuery | None, catalog: Catalog
    ) -> list[tuple[str, Sequence[Any]]]:
        flt = build_filter(
            (query or SearchQuery()).model_copy(update={"available": False}), catalog
        )
        where = flt.where
        return [
            (
                "SELECT count(*), coalesce(sum(available), 0),"
                " avg(CASE WHEN available = 1 THEN price_per_hour END),"
                " min(CASE WHEN available = 1 THEN price_per_hour END),"
                " max(CASE WHEN available = 1 THEN price_per_hour END),"
                " max(fetched_at)"
                f" FROM offers WHERE {where}",
                flt.params,
            ),
            (
                f"SELECT provider, count(*) FROM offers WHERE {where} AND available = 1"
                " GROUP BY provider ORDER BY provider",
                flt.params,
            ),
            (self._model_stats_sql.format(where=where), flt.params),
        ]

    @staticmethod
    def _stats_from(rows: Sequence[list[Any]], catalog: Catalog) -> MarketStats:
        totals_rows, per_provider, per_model = rows
        totals = totals_rows[0]
        model_stats: dict[str, ModelStats] = {}
        for row in per_model:
            (model, offers, available, pmin, pmax, pavg, p10, p50, p90) = row[:9]
            (gmin, g50, g10, g90, gmax, gavg, providers) = row[9:]
            info = catalog.get(model) or GpuModel.unknown(model)
            model_stats[model] = ModelStats(
                model=info,
                available_count=int(available or 0),
                offer_count=int(offers),
                min_price=pmin or 0.0,
                max_price=pmax or 0.0,
                avg_price=pavg or 0.0,
                median_price=p50,
                p10_price=p10,
                p90_price=p90,
                min_price_per_gpu=gmin,
                median_price_per_gpu=g50,
                p10_price_per_gpu=g10,
                p90_price_per_gpu=g90,
                max_price_per_gpu=gmax,
                avg_price_per_gpu=gavg,
                providers=sorted(set((providers or "").split(","))) if providers else [],
            )
        total, available, avg, pmin, pmax, last = totals
        avg_price = float(avg or 0.0)
        return MarketStats(
            total_instances=int(total),
            available_instances=int(available),
            model_stats=model_stats,
            provider_stats={p: int(n) for p, n in per_provider},
            average_price=avg_price,
            price_range=PriceRange(min=pmin or 0.0, max=pmax or 0.0, avg=avg_price),
            updated_at=from_epoch(last),
        )

    async def history(
        self,
        gpu_models: Iterable[str],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        providers: Iterable[str] = (),
        resolution: Resolution | None = None,
    ) -> list[HistoryPoint]:
        """Points per provider and model, oldest first; by default at the finest
        resolution the store still keeps for the span asked for."""
        if resolution is None:
            resolution = history.resolution_for(None if since is None else self._db.now() - since)
        return await history.series(
            self._db,
            tuple(gpu_models),
            since=since,
            until=until,
            providers=providers,
            resolution=resolution,
        )


# Percentiles by nearest rank, computed in SQL with window functions so per-model
# statistics never pull every offer into Python.
def _model_stats_sql(dialect: Dialect) -> str:
    def rank(fraction: float) -> str:
        return dialect.nearest_rank(fraction, "n")

    return f"""
WITH ranked AS (
    SELECT gpu_model, provider, available, price_per_hour AS p, price_per_gpu_hour AS g,
           CASE WHEN available = 1 THEN ROW_NUMBER() OVER (
               PARTITION BY gpu_model, available ORDER BY price_per_hour) END AS rn,
           CASE WHEN available = 1 THEN ROW_NUMBER() OVER (
               PARTITION BY gpu_model, available ORDER BY price_per_gpu_hour) END AS rg,
           SUM(available) OVER (PARTITION BY gpu_model) AS n
    FROM offers WHERE {{where}}
)
SELECT gpu_model,
       count(*),
       sum(available),
       min(CASE WHEN available = 1 THEN p END),
       max(CASE WHEN available = 1 THEN p END),
       avg(CASE WHEN available = 1 THEN p END),
       max(CASE WHEN rn = {rank(0.1)} THEN p END),
       max(CASE WHEN rn = {rank(0.5)} THEN p END),
       max(CASE WHEN rn = {rank(0.9)} THEN p END),
       min(CASE WHEN available = 1 THEN g END),
       max(CASE WHEN rg = {rank(0.5)} THEN g END),
       max(CASE WHEN rg = {rank(0.1)} THEN g END),
       max(CASE WHEN rg = {rank(0.9)} THEN g END),
       max(CASE WHEN available = 1 THEN g END),
       avg(CASE WHEN available = 1 THEN g END),
       {dialect.distinct_list("CASE WHEN available = 1 THEN provider END")}
FROM ranked
GROUP BY gpu_model
ORDER BY gpu_model
"""
