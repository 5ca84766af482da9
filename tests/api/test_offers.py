"""Offer search: the original curl examples' query parameters and the advanced-search
body, including `gpu_model` singular as the original Python client sends it."""

from __future__ import annotations

import itertools

import httpx
import pytest

from gpucm.domain.models import SearchQuery
from gpucm.services import Services


async def test_search_with_the_original_query_parameters(
    api: httpx.AsyncClient, services: Services
) -> None:
    r = await api.get(
        "/api/v1/offers/search",
        params={"gpu_model": "RTX 4090", "max_price": "1.0", "available": "true"},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True
    assert set(body) == {"success", "message", "data"}
    offers = body["data"]
    page = await services.store.search(
        SearchQuery(gpu_models=("RTX 4090",), max_price=1.0, limit=100)
    )
    assert [o["id"] for o in offers] == [o.id for o in page.offers]
    assert r.headers["X-Total-Count"] == str(page.total)
    assert f"Found {page.total} offers" in body["message"]
    assert offers and all(o["gpu_model"] == "RTX 4090" for o in offers)
    assert all(o["price_per_hour"] <= 1.0 and o["available"] for o in offers)
    prices = [o["price_per_hour"] for o in offers]
    assert prices == sorted(prices)
    first = offers[0]
    # the original offer shape, computed fields included
    for field in ("id", "provider", "gpu_info", "network_info", "price_per_gpu_hour", "value"):
        assert field in first
    assert first["gpu_info"]["name"] == "RTX 4090"


async def test_search_repeats_list_parameters_and_pages(api: httpx.AsyncClient) -> None:
    r = await api.get(
        "/api/v1/offers/search",
        params=[
            ("gpu_model", "H100"),
            ("gpu_model", "A100"),
            ("provider", "Lambda"),
            ("sort_by", "price"),
            ("sort_order", "desc"),
            ("limit", "3"),
            ("offset", "1"),
        ],
    )
    assert r.status_code == 200, r.text
    offers = r.json()["data"]
    assert 0 < len(offers) <= 3
    assert {o["provider"] for o in offers} == {"lambda_labs"}
    assert all(o["gpu_family"] in ("H100", "A100") for o in offers)
    prices = [o["price_per_hour"] for o in offers]
    assert prices == sorted(prices, reverse=True)


async def test_available_false_includes_offers_not_rentable_now(api: httpx.AsyncClient) -> None:
    now = await api.get("/api/v1/offers/search", params={"limit": 1000})
    every = await api.get("/api/v1/offers/search", params={"available": "false", "limit": 1000})
    assert int(every.headers["X-Total-Count"]) > int(now.headers["X-Total-Count"])
    assert any(not o["available"] for o in every.json()["data"])


async def test_advanced_search_with_the_original_body(
    api: httpx.AsyncClient, services: Services
) -> None:
    body = {
        "gpu_models": ["RTX 4090", "RTX 3090"],
        "gpu_category": "consumer",
        "min_gpu_count": 1,
        "min_price": 0.1,
        "max_price": 2.0,
        "min_ram": 16,
        "regions": ["US-East", "Europe"],
        "min_reliability": 0.9,
        "min_performance": 50,
        "sort_by": "value",
        "sort_order": "asc",
        "available": True,
    }
    r = await api.post("/api/v1/offers/search/advanced", json=body)
    assert r.status_code == 200, r.text
    offers = r.json()["data"]
    expected = await services.store.search(SearchQuery.model_validate({**body, "limit": 100}))
    assert [o["id"] for o in offers] == [o.id for o in expected.offers]
    assert offers
    for o in offers:
        assert o["gpu_model"] in ("RTX 4090", "RTX 3090")
        assert 0.1 <= o["price_per_hour"] <= 2.0
        assert o["ram_gb"] >= 16 and o["reliability"] >= 0.9
        assert o["region_group"] in ("US-East", "Europe")


async def test_advanced_search_takes_gpu_model_singular(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/api/v1/offers/search/advanced",
        json={"gpu_model": "RTX 4090", "max_price": 1.0, "available": True, "limit": 5},
    )
    assert r.status_code == 200, r.text
    offers = r.json()["data"]
    assert len(offers) == 5
    assert {o["gpu_model"] for o in offers} == {"RTX 4090"}


async def test_provider_names_are_read_like_the_cli(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/offers/search/advanced", json={"provider": "vast.ai", "limit": 2})
    assert r.status_code == 200
    assert {o["provider"] for o in r.json()["data"]} == {"vast_ai"}
    bad = await api.post("/api/v1/offers/search/advanced", json={"providers": ["nimbus"]})
    assert bad.status_code == 422
    assert "unknown provider 'nimbus'" in bad.json()["error"]


async def test_default_page_is_bounded_and_says_how_many_match(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/v1/offers/search")
    body = r.json()
    assert len(body["data"]) == 100
    assert int(r.headers["X-Total-Count"]) > 100
    assert "showing 100 from offset 0" in body["message"]
    too_many = await api.get("/api/v1/offers/search", params={"limit": 5000})
    assert too_many.status_code == 422
    assert "query.limit" in too_many.json()["error"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"min_gpu_count": 0}, "body.min_gpu_count", "greater than or equal to 1"),
        ({"sort_by": "cheapness"}, "body.sort_by", "'price'"),
        ({"gpu_category": "gaming"}, "body.gpu_category", "consumer"),
        ({"min_reliability": 2}, "body.min_reliability", "less than or equal to 1"),
        ({"max_price": "lots"}, "body.max_price", "valid number"),
        ({"colour": "blue"}, "body.colour", "Extra inputs are not permitted"),
        ({"min_price": 5, "max_price": 1}, "body", "min_price is above max_price"),
    ],
)
async def test_a_bad_body_gets_422_saying_what_is_wrong(
    api: httpx.AsyncClient, body: dict[str, object], field: str, words: str
) -> None:
    r = await api.post("/api/v1/offers/search/advanced", json=body)
    assert r.status_code == 422
    error = r.json()
    assert error["success"] is False
    assert error["error"].startswith("invalid request: ")
    assert words in error["error"]
    assert any(d["field"] == field and words in d["message"] for d in error["details"])
    assert "Traceback" not in r.text


async def test_bad_query_parameters_and_bad_json_get_422(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/v1/offers/search", params={"max_price": "cheap"})
    assert r.status_code == 422
    assert "query.max_price" in r.json()["error"]
    r = await api.get("/api/v1/offers/search", params={"min_gpu_count": "0"})
    assert r.status_code == 422
    assert "query.min_gpu_count: Input should be greater than or equal to 1" in r.json()["error"]
    r = await api.post(
        "/api/v1/offers/search/advanced",
        content=b'{"gpu_model": ',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert "not valid JSON" in r.json()["error"]


async def test_min_availability_keeps_confirmed_stock_only(api: httpx.AsyncClient) -> None:
    everything = (await api.get("/api/v1/offers/search", params={"limit": 1000})).json()["data"]
    assert {o["availability"] for o in everything} >= {"high", "medium", "unknown"}
    assert all(o["available"] == (o["availability"] != "none") for o in everything)
    r = await api.get("/api/v1/offers/search", params={"min_availability": "medium", "limit": 1000})
    assert r.status_code == 200, r.text
    offers = r.json()["data"]
    assert offers and {o["availability"] for o in offers} <= {"medium", "high"}
    assert "paperspace" not in {o["provider"] for o in offers}  # unknown is no level
    body = {"min_availability": "high", "gpu_models": ["RTX 4090"]}
    r = await api.post("/api/v1/offers/search/advanced", json=body)
    assert r.status_code == 200, r.text
    assert {o["availability"] for o in r.json()["data"]} == {"high"}
    bad = await api.get("/api/v1/offers/search", params={"min_availability": "unknown"})
    assert bad.status_code == 422


async def test_sort_by_spot_ranks_by_the_interruptible_price(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/v1/offers/search", params={"sort_by": "spot", "limit": 50})
    assert r.status_code == 200, r.text
    spots = [o["spot_price_per_hour"] for o in r.json()["data"]]
    assert spots and None not in spots  # offers without one come last
    assert spots == sorted(spots)


async def test_fits_keeps_offers_that_hold_the_workload(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/v1/offers/search", params={"fits": "70B@int4", "limit": 1000})
    assert r.status_code == 200, r.text
    offers = r.json()["data"]
    assert offers and all(o["gpu_memory_gb"] * o["gpu_count"] >= 42.0 for o in offers)
    # ranked by all-in $/h, as the CLI: the disk is the 35 GB of weights plus 50 GB
    all_in = [
        o["price_per_hour"] + (o["storage_price_per_gb_month"] or 0) * 85 / 730 for o in offers
    ]
    assert all_in == sorted(all_in)
    assert any(a["price_per_hour"] > b["price_per_hour"] for a, b in itertools.pairwise(offers))
    body = {"fits": "8b@FP8,ctx=32k"}
    r = await api.post("/api/v1/offers/search/advanced", json=body)
    assert r.status_code == 200, r.text
    # fp8 needs Ada, Hopper or newer: no Ampere
    assert not any(o["gpu_info"]["architecture"] == "Ampere" for o in r.json()["data"])
    for bad in (
        api.get("/api/v1/offers/search", params={"fits": "70B@bf17"}),
        api.post("/api/v1/offers/search/advanced", json={"fits": "lots"}),
    ):
        answer = await bad
        assert answer.status_code == 422
        assert "fits" in answer.json()["error"], answer.text


async def test_offers_on_a_bad_host_are_hidden_unless_hosts_all(
    api: httpx.AsyncClient, services: Services
) -> None:
    page = (await api.get("/api/v1/offers/search", params={"limit": 1})).json()["data"]
    [first] = page
    offer = await services.store.get_offer(first["id"])
    assert offer is not None
    await services.store.hosts.record(offer.host_id, offer.provider, "marked_bad", "dud")
    ids = {
        o["id"]
        for o in (await api.get("/api/v1/offers/search", params={"limit": 1000})).json()["data"]
    }
    assert first["id"] not in ids
    shown = await api.get("/api/v1/offers/search", params={"limit": 1000, "hosts": "all"})
    assert first["id"] in {o["id"] for o in shown.json()["data"]}
    assert (await api.get("/api/v1/offers/search", params={"hosts": "bad"})).status_code == 422
