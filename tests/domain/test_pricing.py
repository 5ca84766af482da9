"""All-in prices: storage billed separately is added for the disk asked for, less what
the quoted price already includes."""

from __future__ import annotations

import pytest

from gpucm.domain.pricing import (
    DEFAULT_DISK_GB,
    EGRESS_PER_GB_KEY,
    HOURS_PER_MONTH,
    INCLUDED_STORAGE_KEY,
    all_in,
    egress_per_gb,
    planned_disk_gb,
)
from tests.offer_factory import make_offer


def test_storage_billed_by_the_gb_month_is_added_and_marked_estimated() -> None:
    offer = make_offer("runpod", "x", price_per_hour=0.7, storage_price_per_gb_month=0.1)
    cost = all_in(offer, 100)
    assert cost.storage_per_hour == pytest.approx(0.1 * 100 / HOURS_PER_MONTH)
    assert cost.per_hour == pytest.approx(0.7 + 10 / HOURS_PER_MONTH)
    assert cost.estimated
    assert cost.for_hours(24) == pytest.approx(cost.per_hour * 24)


def test_storage_the_price_includes_is_not_paid_twice() -> None:
    offer = make_offer(
        price_per_hour=0.5,
        gpu_count=2,
        storage_price_per_gb_month=0.2,
        provider_data={INCLUDED_STORAGE_KEY: 10},
    )
    assert all_in(offer, 10).storage_per_hour == 0
    assert not all_in(offer, 10).estimated
    cost = all_in(offer, 60)
    assert cost.storage_per_hour == pytest.approx(0.2 * 50 / HOURS_PER_MONTH)
    assert cost.per_gpu_hour == pytest.approx(cost.per_hour / 2)


def test_no_storage_rate_means_compute_only() -> None:
    cost = all_in(make_offer(price_per_hour=1.1), 500)
    assert (cost.per_hour, cost.estimated) == (1.1, False)


def test_planned_disk_follows_the_search() -> None:
    assert planned_disk_gb(None) == DEFAULT_DISK_GB
    assert planned_disk_gb(200) == 200


def test_offer_detail_shows_the_all_in_price_and_costs() -> None:
    from rich.console import Console

    from gpucm import formatting as fmt
    from gpucm.tui.screens.offer_detail import offer_facts

    offer = make_offer(
        "runpod", "x", price_per_hour=1.4, gpu_count=2, storage_price_per_gb_month=0.1
    )
    console = Console(width=160, record=True)
    console.print(offer_facts(offer, "fetched now", 100))
    text = console.export_text()
    cost = all_in(offer, 100)
    assert f"{fmt.price(cost.per_hour)}/h with 100 GB of disk (storage estimated" in text
    assert f"{fmt.price(cost.per_gpu_hour)} per GPU-hour" in text
    assert f"1 day {fmt.price(cost.for_hours(24))}*" in text


def test_egress_billed_by_the_gb_is_added_for_the_gb_sent_out_per_hour() -> None:
    vast = make_offer("vast_ai", "e", price_per_hour=0.4, provider_data={EGRESS_PER_GB_KEY: 0.004})
    assert all_in(vast, 0).per_hour == pytest.approx(0.4)  # 0 GB out: not counted
    cost = all_in(vast, 0, gb_out_per_hour=50)
    assert cost.egress_per_hour == pytest.approx(0.2)
    assert cost.per_hour == pytest.approx(0.6)
    # a provider without a per-GB rate adds nothing, whatever is sent
    runpod = make_offer("runpod", "e", price_per_hour=0.4)
    assert egress_per_gb(runpod) is None
    assert all_in(runpod, 0, gb_out_per_hour=50).per_hour == pytest.approx(0.4)
    # a nonsense rate is no rate
    odd = make_offer("vast_ai", "o", provider_data={EGRESS_PER_GB_KEY: -1})
    assert egress_per_gb(odd) is None


def test_a_fits_search_prices_in_the_weights_plus_the_default_disk() -> None:
    from gpucm.domain.models import SearchQuery
    from gpucm.domain.pricing import all_in_disk_gb, search_disk_gb

    fits = SearchQuery(fits="70B@bf16")  # 140 GB of weights
    assert all_in_disk_gb(fits) == search_disk_gb(fits) == 190.0
    assert all_in_disk_gb(SearchQuery(fits="8B@int4")) == 4.0 + 50.0
    # storage>= is the disk when the search names one
    assert all_in_disk_gb(SearchQuery(fits="70B@bf16", min_storage=500)) == 500.0
    assert all_in_disk_gb(SearchQuery(fits="70B@bf16", sort_order="desc")) == 190.0
    # only the price order is all-in, and only under fits=
    assert all_in_disk_gb(SearchQuery(fits="70B@bf16", sort_by="value")) is None
    assert search_disk_gb(SearchQuery(fits="70B@bf16", sort_by="value")) == 190.0
    assert all_in_disk_gb(SearchQuery(min_storage=80)) is None
    assert search_disk_gb(SearchQuery(min_storage=80)) == 80.0
