"""Market trends from the store's price history, shared by the stats screen and the CLI.

A trend compares the cheapest $/GPU-h at any provider now (the live offers) with the
cheapest in the first bucket of the window, so it reads "what has the best price done
since then" even when the user only refreshed a few times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from gpucm.domain.models import MarketStats, SearchQuery
from gpucm.engine.ports import MarketStore
from gpucm.store.results import HistoryPoint, Resolution, resolution_for

WINDOWS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
_BLOCKS = "▁▂▃▄▅▆▇█"


def trend_resolution(window: timedelta) -> Resolution:
    """Rollups only: the trend column covers every model at once."""
    return "daily" if window > timedelta(days=7) else "hourly"


@dataclass(frozen=True)
class ModelTrend:
    prices: tuple[float, ...]  # cheapest $/GPU-h per bucket, oldest first, then now
    change: float | None  # fraction since the window's first bucket

    def sparkline(self, width: int = 8) -> str:
        return sparkline(self.prices, width)


def sparkline(values: Sequence[float], width: int) -> str:
    """The whole series in at most `width` block characters, scaled between their min
    and max: a longer series is cut into `width` equal stretches of time, each drawn
    at its mean, so a 7-day trend of hourly buckets shows the 7 days, not the last
    few hours."""
    shown = _stretches(values, width)
    if len(shown) < 2:
        return ""
    lo, hi = min(shown), max(shown)
    if hi <= lo:
        return _BLOCKS[3] * len(shown)
    top = len(_BLOCKS) - 1
    return "".join(_BLOCKS[round((v - lo) / (hi - lo) * top)] for v in shown)


def _stretches(values: Sequence[float], width: int) -> list[float]:
    n = len(values)
    if n <= width:
        return list(values)
    out = []
    for i in range(width):
        part = values[i * n // width : (i + 1) * n // width]
        out.append(sum(part) / len(part))
    return out


async def stats_and_trend_buckets(
    store: MarketStore, query: SearchQuery | None, window: timedelta, now: datetime
) -> tuple[MarketStats, dict[str, list[float]]]:
    """The market's stats over `query`, and per model the cheapest price per bucket
    since now - window, oldest first: read together, in one hop."""
    return await store.stats_and_trend(query, now - window, trend_resolution(window))


def model_trends(
    buckets: Mapping[str, Sequence[float]], live: Mapping[str, float | None]
) -> dict[str, ModelTrend]:
    """Per model: the cheapest price per bucket (`stats_and_trend_buckets`), ending with the live
    cheapest price (`live`, from the current offers) where there is one."""
    out: dict[str, ModelTrend] = {}
    for model in set(buckets) | {m for m, p in live.items() if p is not None}:
        series = list(buckets.get(model, ()))
        current = live.get(model)
        if current is not None:
            series.append(current)
        change = None
        if len(series) >= 2 and series[0] > 0:
            change = series[-1] / series[0] - 1
        out[model] = ModelTrend(tuple(series), change)
    return out


def series_by_provider(
    points: Sequence[HistoryPoint], value: str = "min_gpu_price"
) -> dict[str, list[tuple[datetime, float]]]:
    """One line per provider of a point attribute (min_gpu_price, available, ...),
    leaving out points where it is missing."""
    out: dict[str, list[tuple[datetime, float]]] = {}
    for p in sorted(points, key=lambda p: p.ts):
        y = getattr(p, value)
        if y is not None:
            out.setdefault(p.provider, []).append((p.ts, float(y)))
    return out


async def model_history(
    store: MarketStore, model: str, window: timedelta, now: datetime
) -> list[HistoryPoint]:
    """A model's points over the window, at the finest resolution kept for it."""
    return await store.history([model], since=now - window, resolution=resolution_for(window))
