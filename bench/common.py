"""Shared pieces of the benchmark harness: timing, synthetic markets, the JSON line."""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gpucm.domain.catalog import Catalog
from gpucm.domain.models import Offer
from gpucm.domain.normalize import normalize_offers
from gpucm.domain.provider_names import PROVIDERS
from gpucm.providers.demo import DemoMarket

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Target:
    """What `pass` means: `field op bound`, where field is "value" or "ratio"."""

    field: str
    op: str
    bound: float
    unit: str = ""

    def met(self, value: float, ratio: float | None) -> bool:
        x = value if self.field == "value" else ratio
        if x is None:
            return False
        return x <= self.bound if self.op == "<=" else x >= self.bound

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit and self.field == "value" else ""
        return f"{self.field} {self.op} {self.bound:g}{unit}"


def emit(
    metric: str,
    value: float,
    unit: str,
    target: Target,
    *,
    baseline: float | None = None,
    ratio: float | None = None,
    old_target: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One JSON line. `old_target`: the target this line had before, for a line whose
    target changed or that is new (printed beside the new one)."""
    line = {
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": None if ratio is None else round(ratio, 3),
        "target": str(target),
        **({} if old_target is None else {"old_target": old_target}),
        "pass": target.met(value, ratio),
        **extra,
    }
    print(json.dumps(line), flush=True)
    return line


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p95_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000


async def timed_async(fn: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return samples


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def synthetic_offers(n: int, *, provider: str | None = None) -> list[Offer]:
    """n normalised offers from a scaled-up demo market (realistic models, prices,
    regions); all under one provider when `provider` is given."""
    market = DemoMarket(vast_slots=max(100, int(n * 1.12)))  # ~90% of slots are listed
    offers: list[Offer] = []
    for name in PROVIDERS:
        offers.extend(market.offers(name, 1, NOW))
    offers = offers[:n]
    if provider is not None:
        offers = [
            o.model_copy(
                update={"provider": provider, "id": f"{provider}:{i}", "provider_id": str(i)}
            )
            for i, o in enumerate(offers)
        ]
    gc.collect()
    return normalize_offers(offers, Catalog.builtin())


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
