from __future__ import annotations

from collections import Counter

import pytest

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
    # Paperspace: the catalogue's 13 GPU machine types in the one region it confirms
    assert counts.pop("paperspace") == 13
    assert all(n > 20 for n in counts.values()), counts


def test_each_provider_reports_stock_as_the_real_one_does() -> None:
    market = DemoMarket()
    levels = {
        p: Counter(o.availability for t in range(0, 12) for o in market.offers(p, t, FIXED_NOW))
        for p in PROVIDERS
    }
    assert set(levels["vast_ai"]) == {"high", "none"}  # a host is there or rented
    assert set(levels["lambda_labs"]) == {"medium", "none"}  # capacity yes or no
    assert set(levels["runpod"]) == {"high", "medium", "low", "none"}  # per data centre
    assert set(levels["paperspace"]) == {"unknown"}  # no API says
    for provider in PROVIDERS:
        for o in market.offers(provider, 3, FIXED_NOW):
            assert o.available == (o.availability != "none")


def test_spot_prices_and_minimum_bids_where_the_provider_rents_spot() -> None:
    market = DemoMarket()
    for provider in PROVIDERS:
        offers = market.offers(provider, 3, FIXED_NOW)
        spot = provider in ("vast_ai", "runpod")
        assert all((o.spot_price_per_hour is not None) == spot for o in offers), provider
        for o in offers:
            if spot:
                assert o.spot_price_per_hour is not None and o.min_bid_per_gpu_hour is not None
                assert o.spot_price_per_hour < o.price_per_hour
                assert o.min_bid_per_gpu_hour * o.gpu_count == pytest.approx(
                    o.spot_price_per_hour, abs=0.001
                )


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
