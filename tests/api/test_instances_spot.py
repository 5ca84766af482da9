"""The create body's `interruptible` and `bid_price_per_gpu`, and the equivalents the
API offers (409) or takes (`failover: true`) when the offer is gone or over the
maximum: the same flow as the CLI and the TUI, on the demo market."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gpucm.domain.models import Offer, SearchQuery
from gpucm.domain.pricing import default_bid
from gpucm.providers.demo import DemoProvider
from gpucm.services import Services
from tests.api.test_instances import create_body, instance_count, offer_at


async def test_an_interruptible_create_bids_and_says_so(
    api: httpx.AsyncClient, services: Services
) -> None:
    offer = await offer_at(services, "vast_ai")
    assert offer.min_bid_per_gpu_hour is not None
    r = await api.post("/api/v1/instances", json=create_body(offer, interruptible=True))
    assert r.status_code == 201, r.text
    data, message = r.json()["data"], r.json()["message"]
    bid = default_bid(offer.min_bid_per_gpu_hour)
    assert data["interruptible"] is True
    assert data["price_per_hour"] == pytest.approx(bid * offer.gpu_count)
    assert f"interruptible, bid ${bid:g}/GPU·h" in message
    assert "stops when outbid" in message


async def test_an_explicit_bid_and_its_refusals(api: httpx.AsyncClient, services: Services) -> None:
    offer = await offer_at(services, "runpod")
    assert offer.min_bid_per_gpu_hour is not None
    low = create_body(offer, interruptible=True, bid_price_per_gpu=offer.min_bid_per_gpu_hour / 2)
    r = await api.post("/api/v1/instances", json=low)
    assert r.status_code == 409 and "below the minimum" in r.json()["error"]
    r = await api.post("/api/v1/instances", json=create_body(offer, bid_price_per_gpu=1.0))
    assert r.status_code == 422
    assert "bid_price_per_gpu is for interruptible launches" in r.json()["error"]
    r = await api.post(
        "/api/v1/instances", json=create_body(offer, interruptible=True, bid_price_per_gpu=0)
    )
    assert r.status_code == 422 and "bid_price_per_gpu" in r.json()["error"]
    assert await instance_count(services) == 0
    bid = round(offer.min_bid_per_gpu_hour * 1.4, 4)
    good = create_body(offer, interruptible=True, bid_price_per_gpu=bid)
    r = await api.post("/api/v1/instances", json=good, headers={"Idempotency-Key": "sp"})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["price_per_hour"] == pytest.approx(bid * offer.gpu_count)
    # the same key for the same offer on demand is another request
    again = await api.post(
        "/api/v1/instances", json=create_body(offer), headers={"Idempotency-Key": "sp"}
    )
    assert again.status_code == 422 and "first used for" in again.json()["error"]


async def test_spot_at_a_provider_without_it_is_a_422(
    api: httpx.AsyncClient, services: Services
) -> None:
    offer = await offer_at(services, "lambda_labs")
    r = await api.post("/api/v1/instances", json=create_body(offer, interruptible=True))
    assert r.status_code == 422
    assert "Lambda Cloud rents no interruptible (spot) machines" in r.json()["error"]
    assert await instance_count(services) == 0


def _gone(monkeypatch: pytest.MonkeyPatch, offer_id: str) -> None:
    real = DemoProvider.quote

    async def quote(self: DemoProvider, offer: Offer) -> Offer | None:
        return None if offer.id == offer_id else await real(self, offer)

    monkeypatch.setattr(DemoProvider, "quote", quote)


async def test_a_gone_offer_lists_equivalents_or_fails_over(
    api: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = await services.store.search(SearchQuery(gpu_models=("RTX 4090",), limit=50))
    offer = next(o for o in page.offers if o.gpu_count == 1)
    _gone(monkeypatch, offer.id)
    body: dict[str, Any] = create_body(offer, max_price_per_hour=offer.price_per_hour * 3)
    r = await api.post("/api/v1/instances", json=body)
    assert r.status_code == 409
    error = r.json()["error"]
    assert "the offer is gone" in error and "equivalent offers available now:" in error
    assert await instance_count(services) == 0
    r = await api.post("/api/v1/instances", json={**body, "failover": True})
    assert r.status_code == 201, r.text
    data, message = r.json()["data"], r.json()["message"]
    assert data["offer_id"] != offer.id and data["gpu_model"] == "RTX 4090"
    assert "which is gone" in message


async def test_over_the_maximum_lists_cheaper_equivalents(
    api: httpx.AsyncClient, services: Services
) -> None:
    page = await services.store.search(SearchQuery(gpu_models=("RTX 4090",), limit=300))
    ones = [o for o in page.offers if o.gpu_count == 1]
    cheap, dear = ones[0], ones[-1]
    maximum = cheap.price_per_hour * 1.5
    body = create_body(dear, max_price_per_hour=maximum)
    body["resources"] = {}
    r = await api.post("/api/v1/instances", json=body)
    assert r.status_code == 409
    error = r.json()["error"]
    assert "over your maximum" in error and "equivalent offers available now:" in error
    assert await instance_count(services) == 0
