from __future__ import annotations

from collections import Counter

from gpucm.domain.catalog import Catalog
from gpucm.domain.provider_names import PROVIDERS
from gpucm.providers.demo import BASE_GPU_PRICE, DemoMarket
from tests.conftest import FIXED_NOW

CATALOG = Catalog.builtin()


def test_same_seed_and_tick_give_the_same_market() -> None:
    a, b = DemoMarket(), DemoMarket()
    for provider in PROVIDERS:
        assert a.offers(provider, 7, FIXED_NOW) == b.offers(provider, 7, FIXED_NOW)
    assert DemoMarket(seed=1).offers("vast_ai", 7, FIXED_NOW) != a.offers("vast_ai", 7, FIXED_NOW)


def test_market_size_and_every_provider() -> None:
    market = DemoMarket()
    counts = {p: len(market.offers(p, 1, FIXED_NOW)) for p in PROVIDERS}
    assert sum(counts.values()) >= 1000
    assert all(n > 20 for n in counts.values()), counts


def test_every_demo_gpu_is_a_catalog_model() -> None:
    for name in BASE_GPU_PRICE:
        assert CATALOG.get(name) is not None, name
    market = DemoMarket()
    for provider in PROVIDERS:
        for offer in market.offers(provider, 3, FIXED_NOW):
            assert not CATALOG.resolve(offer.gpu_name, offer.gpu_memory_gb).is_unknown


def test_market_moves_between_ticks() -> None:
    market = DemoMarket()
    before = {o.id: o for o in market.offers("vast_ai", 10, FIXED_NOW)}
    after = {o.id: o for o in market.offers("vast_ai", 11, FIXED_NOW)}
    common = before.keys() & after.keys()
    moved = sum(before[i].price_per_hour != after[i].price_per_hour for i in common)
    assert moved > len(common) // 2
    assert before.keys() - after.keys(), "some offers should vanish"
    later = {o.id for o in market.offers("vast_ai", 40, FIXED_NOW)}
    assert later - before.keys(), "some offers should appear"


def test_prices_are_plausible_per_model() -> None:
    market = DemoMarket()
    per_gpu: dict[str, list[float]] = {}
    for provider in PROVIDERS:
        for o in market.offers(provider, 5, FIXED_NOW):
            per_gpu.setdefault(o.gpu_name, []).append(o.price_per_hour / o.gpu_count)
    cheapest_4090 = min(per_gpu["RTX 4090"])
    cheapest_h100 = min(per_gpu["H100"])
    assert 0.2 < cheapest_4090 < 0.6
    assert 1.2 < cheapest_h100 < 3.5
    assert Counter(o.available for o in market.offers("lambda_labs", 5, FIXED_NOW))[False] > 0
