"""Market stats: per-model percentiles match a plain nearest-rank computation."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from gpucm.domain.clock import Clock
from gpucm.domain.models import SearchQuery
from gpucm.store.store import Store
from tests.offer_factory import make_offer


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


async def test_per_model_figures_match_the_offers(db_path: Path, clock: Clock) -> None:
    rng = random.Random(7)
    offers = []
    for i in range(60):
        offers.append(
            make_offer(
                "vast_ai" if i % 3 else "runpod",
                str(i),
                "RTX 4090" if i % 4 else "A100 80GB",
                price_per_hour=round(rng.uniform(0.2, 4.0), 3),
                gpu_count=rng.choice([1, 2, 4]),
                available=i % 7 != 0,
            )
        )
    store = await Store.open(db_path, clock=clock)
    try:
        for provider in ("vast_ai", "runpod"):
            await store.replace_offers(provider, [o for o in offers if o.provider == provider])
        stats = await store.stats()
        for model, entry in stats.model_stats.items():
            mine = [o for o in offers if o.gpu_model == model]
            live = [o for o in mine if o.available]
            hourly = [o.price_per_hour for o in live]
            per_gpu = [o.price_per_gpu_hour for o in live]
            assert entry.offer_count == len(mine)
            assert entry.available_count == len(live)
            assert entry.min_price == min(hourly)
            assert entry.max_price == max(hourly)
            assert entry.avg_price == pytest.approx(sum(hourly) / len(hourly))
            assert entry.p10_price == nearest_rank(hourly, 0.1)
            assert entry.median_price == nearest_rank(hourly, 0.5)
            assert entry.p90_price == nearest_rank(hourly, 0.9)
            assert entry.min_price_per_gpu == pytest.approx(min(per_gpu))
            assert entry.p10_price_per_gpu == pytest.approx(nearest_rank(per_gpu, 0.1))
            assert entry.median_price_per_gpu == pytest.approx(nearest_rank(per_gpu, 0.5))
            assert entry.p90_price_per_gpu == pytest.approx(nearest_rank(per_gpu, 0.9))
            assert entry.max_price_per_gpu == pytest.approx(max(per_gpu))
            assert entry.avg_price_per_gpu == pytest.approx(sum(per_gpu) / len(per_gpu))
            assert entry.providers == sorted({o.provider for o in live})
        assert stats.provider_stats == {
            p: sum(1 for o in offers if o.provider == p and o.available)
            for p in ("runpod", "vast_ai")
        }
        a100 = next(o.gpu_model for o in offers if o.gpu_name == "A100 80GB")
        only = await store.stats(SearchQuery(gpu_model=a100))
        assert list(only.model_stats) == [a100]
    finally:
        await store.close()


async def test_best_offers_are_the_cheapest_all_in_per_model_and_provider(
    db_path: Path, clock: Clock
) -> None:
    from gpucm.domain.pricing import INCLUDED_STORAGE_KEY, all_in

    rng = random.Random(3)
    offers = []
    for i in range(80):
        provider = ("vast_ai", "runpod", "paperspace")[i % 3]
        data = {INCLUDED_STORAGE_KEY: 10} if provider == "vast_ai" else {}
        offers.append(
            make_offer(
                provider,
                str(i),
                ("RTX 4090", "H100 SXM", "A100 80GB")[i % 4 % 3],
                price_per_hour=round(rng.uniform(0.2, 4.0), 3),
                gpu_count=rng.choice([1, 2, 8]),
                storage_price_per_gb_month=rng.choice([None, 0.05, 0.3]),
                provider_data=data,
                available=i % 9 != 0,
            )
        )
    store = await Store.open(db_path, clock=clock)
    try:
        for provider in ("vast_ai", "runpod", "paperspace"):
            await store.replace_offers(provider, [o for o in offers if o.provider == provider])
        for disk in (0.0, 10.0, 200.0):
            best = await store.best_offers(SearchQuery(), disk_gb=disk)
            expected: dict[tuple[str, str], float] = {}
            for o in offers:
                if o.available:
                    key = (o.gpu_model, o.provider)
                    price = all_in(o, disk).per_gpu_hour
                    expected[key] = min(price, expected.get(key, price))
            got = {(o.gpu_model, o.provider): all_in(o, disk).per_gpu_hour for o in best}
            assert got.keys() == expected.keys()
            for key, price in expected.items():
                assert got[key] == pytest.approx(price)
            models = [o.gpu_model.lower() for o in best]
            assert models == sorted(models)
    finally:
        await store.close()
