"""The Vast.ai adapter against the recorded fixtures (API_NOTES.md section 1); no network."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from gpucm.config import ProviderSettings
from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import fixed_clock
from gpucm.domain.models import INSTANCE_STATUSES, Offer
from gpucm.domain.pricing import egress_per_gb
from gpucm.providers.base import InstanceControl, LaunchSpec, OfferSource
from gpucm.providers.errors import (
    AuthError,
    BadResponse,
    CapacityError,
    InvalidRequest,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Unsupported,
)
from gpucm.providers.vastai import DEFAULT_FILTERS, META, VastAiAdapter
from gpucm.providers.vastai_parse import (
    STATUS_TABLE,
    instance_status,
    normalise_status,
    parse_instance,
    parse_offers,
)
from tests.conftest import FIXED_NOW, FIXTURES

KEY = "test-key-vast_ai-123456"
DIR = FIXTURES / "vastai"
CATALOG = Catalog.builtin()


def load(name: str) -> Any:
    return json.loads((DIR / name).read_text())


Responder = Callable[[httpx.Request], httpx.Response]


class FakeVast:
    """A scripted Vast.ai: answers are queued per (method, path); every request is kept."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], list[Responder]] = {}

    def add(self, method: str, path: str, *answers: Responder) -> None:
        self.routes.setdefault((method, path), []).extend(answers)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.routes.get((request.method, request.url.path))
        if not queue:
            return httpx.Response(599, text=f"unexpected {request.method} {request.url.path}")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return answer(request)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def reply(status: int = 200, body: Any = None, text: str | None = None) -> Responder:
    def answer(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text)
        return httpx.Response(status, json=body)

    return answer


class Sleeps(list[float]):
    async def __call__(self, delay: float) -> None:
        self.append(delay)


def far_apart() -> Callable[[], float]:
    """A monotonic clock where every call is 100 s after the last: pacing never waits."""
    now = [0.0]

    def tick() -> float:
        now[0] += 100.0
        return now[0]

    return tick


@pytest.fixture
def vast() -> FakeVast:
    return FakeVast()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def adapter(vast: FakeVast, sleeps: Sleeps) -> AsyncIterator[VastAiAdapter]:
    made = VastAiAdapter(
        ProviderSettings(api_key=KEY),
        transport=httpx.MockTransport(vast.handler),
        sleep=sleeps,
        monotonic=far_apart(),
        rand=lambda: 0.5,  # no jitter: backoff delays are exact
        clock=fixed_clock(FIXED_NOW),
    )
    yield made
    await made.aclose()


def offers_by_id() -> dict[str, Offer]:
    return {o.provider_id: o for o in parse_offers(load("search_offers.json"), FIXED_NOW)}


def spec_for(offer: Offer, **changes: Any) -> LaunchSpec:
    fields: dict[str, Any] = {
        "offer": offer,
        "label": "gpucm-abc123 ft-run",
        "request_id": "req-1",
        "image": "pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime",
        "environment": (("HF_TOKEN", "hf_secret_value"), ("MODE", "train")),
        "ports": ((8080, "tcp"), (5353, "udp")),
        "disk_gb": 40.0,
        "onstart_script": "echo hello",
    }
    fields.update(changes)
    return LaunchSpec(**fields)


# -- protocol and metadata -------------------------------------------------------------


def test_adapter_implements_both_protocols(adapter: VastAiAdapter) -> None:
    assert isinstance(adapter, OfferSource)
    assert isinstance(adapter, InstanceControl)
    assert adapter.name == "vast_ai"
    assert adapter.meta is META
    assert META.capabilities.logs is False
    assert META.capabilities.stop_start
    assert META.capabilities.restart
    assert META.capabilities.storage_billed_separately


# -- offers ------------------------------------------------------------------------------


def test_search_offers_fixture_parses_to_offers() -> None:
    offers = offers_by_id()
    assert len(offers) == 10

    o = offers["24871034"]
    assert o.id == "vast_ai:24871034"
    assert o.provider == "vast_ai"
    assert o.gpu_name == "RTX 4090"
    assert o.gpu_count == 1
    assert o.gpu_memory_gb == pytest.approx(23.99)
    assert o.price_per_hour == pytest.approx(0.40208333)
    # interruptible at the minimum bid, storage included as in price_per_hour
    assert o.spot_price_per_hour == pytest.approx(0.2667 + 0.0020833333)
    assert o.min_bid_per_gpu_hour == pytest.approx(0.2667)
    assert o.availability == "high"
    assert o.storage_price_per_gb_month == pytest.approx(0.15)
    assert o.vcpus == 8.0
    assert o.ram_gb == pytest.approx(128700 * 8 / 32 / 1024, abs=0.01)
    assert o.storage_gb == pytest.approx(250.3)
    assert o.region == "Texas, US"
    assert o.country == "US"
    assert o.reliability == pytest.approx(0.9963145)
    assert o.network_info.download_mbps == pytest.approx(1812.6)
    assert o.network_info.upload_mbps == pytest.approx(903.4)
    assert o.cuda_version == pytest.approx(12.8)
    assert o.verified is True
    assert o.available is True
    assert o.fetched_at == FIXED_NOW
    assert o.provider_data["ask_id"] == 24871034
    assert o.provider_data["allocated_storage_gb"] == 10.0
    # egress is billed by the GB out of the machine (its inet_up_cost, $/GB)
    assert egress_per_gb(o) == pytest.approx(0.00390625)
    # the machine is the host the memory of bad hosts names; the host (owner) is data
    assert o.host_id == "vast_ai:machine:31877"
    assert o.provider_data["host_id"] == 100412
    json.dumps(o.provider_data)  # must be JSON-serialisable
    # The adapter leaves the canonical fields to domain.normalize.
    assert o.gpu_model == ""
    assert o.region_group is None
    assert o.performance is None

    h100 = offers["25110420"]
    assert (h100.gpu_count, h100.region, h100.country) == (8, "Florida, US", "US")
    assert h100.price_per_hour == pytest.approx(14.403472222)
    assert h100.spot_price_per_hour == pytest.approx(9.6 + 0.0034722222)
    assert h100.min_bid_per_gpu_hour == pytest.approx(9.6 / 8)  # min_bid is per offer
    assert h100.vcpus == 224.0
    assert h100.ram_gb == pytest.approx(2063730 / 1024, abs=0.01)

    unverified = offers["25233981"]
    assert unverified.verified is False
    assert unverified.country == "CA"


def test_every_offer_resolves_to_the_expected_catalog_model() -> None:
    expected = {
        "24871034": "RTX 4090",
        "23901877": "RTX 3090",
        "25110420": "H100",
        "24410033": "A100 40GB SXM",
        "24912376": "RTX A6000",
        "25020411": "L40S",
        "25233981": "RTX 5090",
        "22187310": "V100 16GB",
        "24733102": "RTX 4090",
        "24501190": "A100 80GB SXM",
    }
    offers = offers_by_id()
    assert set(offers) == set(expected)
    for pid, model in expected.items():
        offer = offers[pid]
        assert CATALOG.resolve(offer.gpu_name, offer.gpu_memory_gb).name == model, pid


async def test_fetch_offers_sends_the_cli_search(adapter: VastAiAdapter, vast: FakeVast) -> None:
    vast.add(
        "POST",
        "/api/v0/bundles/",
        reply(body=load("search_offers.json")),
        reply(body=load("search_offers_bid.json")),
    )
    offers = await adapter.fetch_offers()
    assert len(offers) == 10

    request, bid_request = vast.requests
    assert request.method == "POST"
    assert str(request.url) == "https://console.vast.ai/api/v0/bundles/"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["User-Agent"].startswith("gpucm/")
    assert request.headers["Content-Type"] == "application/json"
    assert "api_key" not in str(request.url)

    sent = json.loads(request.content)
    recorded = load("search_offers_request.json")
    for name, op in DEFAULT_FILTERS.items():
        assert sent[name] == op == recorded[name]
    assert sent["type"] == recorded["type"] == "on-demand"
    # the whole market, a page at a time in id order (the search has no offset)
    assert sent["order"] == [["id", "asc"]]
    assert sent["num_gpus"] == recorded["num_gpus"]
    assert sent["allocated_storage"] == recorded["allocated_storage"] == 10.0
    assert sent["limit"] == VastAiAdapter.OFFER_PAGE_SIZE == 5000
    # gpucm filters reliability itself (min_reliability), so every host comes back.
    assert set(sent) == set(recorded) - {"reliability2"}
    # then the same search priced for bidding
    bid_sent = json.loads(bid_request.content)
    recorded_bid = load("search_offers_bid_request.json")
    assert bid_sent["type"] == recorded_bid["type"] == "bid"
    assert {k: v for k, v in bid_sent.items() if k != "type"} == {
        k: v for k, v in sent.items() if k != "type"
    }


async def test_bid_search_prices_merge_onto_the_on_demand_offers(
    adapter: VastAiAdapter, vast: FakeVast
) -> None:
    vast.add(
        "POST",
        "/api/v0/bundles/",
        reply(body=load("search_offers.json")),
        reply(body=load("search_offers_bid.json")),
    )
    offers = {o.provider_id: o for o in await adapter.fetch_offers()}
    # The bid search's own price wins: this ask's minimum bid moved between the searches.
    moved = offers["24871034"]
    assert moved.spot_price_per_hour == pytest.approx(0.27 + 0.0020833333)
    assert moved.min_bid_per_gpu_hour == pytest.approx(0.27)
    assert moved.price_per_hour == pytest.approx(0.40208333)  # on-demand untouched
    # an ask the bid search left out keeps the price its own row's min_bid gives
    assert offers["22187310"].spot_price_per_hour == pytest.approx(0.12 + 0.0013888889)
    # an ask only the bid search lists is no on-demand offer: not added
    assert "25999001" not in offers
    assert {o.availability for o in offers.values()} == {"high"}


async def test_a_failed_bid_search_keeps_the_market(
    adapter: VastAiAdapter, vast: FakeVast, caplog: pytest.LogCaptureFixture
) -> None:
    vast.add(
        "POST",
        "/api/v0/bundles/",
        reply(body=load("search_offers.json")),
        reply(400, body={"success": False, "error": "invalid_args", "msg": "bad type"}),
    )
    caplog.set_level(logging.INFO)
    offers = {o.provider_id: o for o in await adapter.fetch_offers()}
    assert len(offers) == 10
    assert offers["24871034"].spot_price_per_hour == pytest.approx(0.2667 + 0.0020833333)
    assert "no interruptible prices this refresh" in caplog.text


async def offers_in_pages_of(size: int, vast: FakeVast) -> list[Offer]:
    """fetch_offers of an adapter that asks `size` asks a page."""

    class Small(VastAiAdapter):
        OFFER_PAGE_SIZE = size

    adapter = Small(
        ProviderSettings(api_key=KEY),
        transport=httpx.MockTransport(vast.handler),
        monotonic=far_apart(),
        clock=fixed_clock(FIXED_NOW),
    )
    try:
        return await adapter.fetch_offers()
    finally:
        await adapter.aclose()


async def test_the_whole_market_is_paged_by_id(vast: FakeVast) -> None:
    rows = load("search_offers.json")["offers"]  # ids ascending below
    rows = sorted(rows, key=lambda r: r["id"])

    def page(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        after = sent.get("id", {}).get("gt", 0)
        chosen = [r for r in rows if r["id"] > after][: sent["limit"]]
        if sent["type"] == "bid":
            chosen = []
        return httpx.Response(200, json={"offers": chosen})

    vast.add("POST", "/api/v0/bundles/", page)
    offers = await offers_in_pages_of(4, vast)
    assert sorted(int(o.provider_id) for o in offers) == [r["id"] for r in rows]
    on_demand = [json.loads(r.content) for r in vast.requests]
    on_demand = [b for b in on_demand if b["type"] == "on-demand"]
    # 10 asks, 4 a page: 4, 4, 2 (a short page is the last)
    assert [b.get("id") for b in on_demand] == [
        None,
        {"gt": rows[3]["id"]},
        {"gt": rows[7]["id"]},
    ]


async def test_paging_stops_when_a_server_ignores_the_id_filter(vast: FakeVast) -> None:
    rows = load("search_offers.json")["offers"][:2]
    vast.add("POST", "/api/v0/bundles/", reply(body={"offers": rows}))
    offers = await offers_in_pages_of(2, vast)
    assert len(offers) == 2
    # one full page, the same page again (its ids do not move on): stop; then the bids
    assert len(vast.requests) == 2 + 2


def test_price_fallbacks_and_unpriced_rows(caplog: pytest.LogCaptureFixture) -> None:
    base = load("search_offers.json")["offers"][0]
    no_total = copy.deepcopy(base) | {"id": 1, "dph_total": None}
    only_parts = {k: v for k, v in copy.deepcopy(base).items() if k not in ("dph_total", "search")}
    only_parts["id"] = 2
    only_base = {k: v for k, v in only_parts.items() if k != "storage_total_cost"} | {"id": 3}
    unpriced = {k: v for k, v in only_parts.items() if k != "dph_base"} | {"id": 4}
    negative = copy.deepcopy(base) | {"id": 5, "dph_total": -1, "search": None, "dph_base": None}
    caplog.set_level(logging.DEBUG)
    offers = {
        o.provider_id: o
        for o in parse_offers(
            {"offers": [no_total, only_parts, only_base, unpriced, negative]}, FIXED_NOW
        )
    }
    assert offers["1"].price_per_hour == pytest.approx(base["search"]["totalHour"])
    assert offers["2"].price_per_hour == pytest.approx(0.4 + 0.0020833333)
    assert offers["3"].price_per_hour == pytest.approx(0.4)
    assert "4" not in offers
    assert "5" not in offers
    assert "offer 4 has no price" in caplog.text


def test_ram_share_and_nullable_fields() -> None:
    base = load("search_offers.json")["offers"][0]
    sliced = copy.deepcopy(base) | {"id": 7, "cpu_cores": None, "gpu_frac": 0.25}
    bare = {
        "id": 8,
        "gpu_name": "RTX 3090",
        "num_gpus": 2,
        "dph_total": "0.5",  # numbers sometimes arrive as strings
        "geolocation": None,
        "reliability2": None,
        "reliability": 0.9,
        "cuda_max_good": None,
        "inet_down": None,
    }
    norway = {"id": 9, "gpu_name": "RTX 3090", "num_gpus": 1, "dph_total": 0.2}
    norway["geolocation"] = "Norway"
    bare_us = {"id": 10, "gpu_name": "RTX 3090", "num_gpus": 1, "dph_total": 0.2}
    bare_us["geolocation"] = ", US"
    offers = {
        o.provider_id: o
        for o in parse_offers({"offers": [sliced, bare, norway, bare_us]}, FIXED_NOW)
    }
    assert offers["7"].ram_gb == pytest.approx(128700 * 0.25 / 1024, abs=0.01)
    b = offers["8"]
    assert b.price_per_hour == 0.5
    assert (b.region, b.country) == ("", None)
    assert b.reliability == 0.9
    assert b.gpu_memory_gb is None
    assert b.ram_gb is None
    assert b.vcpus is None
    assert b.cuda_version is None
    assert b.verified is None
    assert b.spot_price_per_hour is None
    assert b.network_info.download_mbps is None
    assert b.available is True
    # No comma: the domain layer turns "Norway" into a code, so no country is guessed here.
    assert (offers["9"].region, offers["9"].country) == ("Norway", None)
    assert offers["10"].country == "US"


def test_availability_and_verification_string() -> None:
    base = load("search_offers.json")["offers"][0]
    rented = copy.deepcopy(base) | {"id": 11, "rented": True}
    unrentable = copy.deepcopy(base) | {"id": 12, "rentable": False}
    by_string = {k: v for k, v in copy.deepcopy(base).items() if k != "verified"}
    by_string |= {"id": 13, "verification": "deverified"}
    offers = {
        o.provider_id: o
        for o in parse_offers({"offers": [rented, unrentable, by_string]}, FIXED_NOW)
    }
    assert offers["11"].available is False
    assert offers["12"].available is False
    assert offers["13"].verified is False


def test_malformed_rows_are_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    good = load("search_offers.json")["offers"][0]
    rows = [
        "not an object",
        None,
        {"gpu_name": "RTX 4090", "num_gpus": 1, "dph_total": 0.3},  # no id
        copy.deepcopy(good) | {"id": 21, "gpu_name": None},
        copy.deepcopy(good) | {"id": 22, "num_gpus": 0},
        copy.deepcopy(good) | {"id": 23, "num_gpus": "two"},
        copy.deepcopy(good) | {"id": 24, "reliability2": 7, "reliability": 7},
        copy.deepcopy(good) | {"id": 25, "cpu_ram": [1], "inet_up": {"x": 1}, "gpu_ram": True},
        copy.deepcopy(good) | {"id": 26, "dph_total": float("nan"), "search": {}},
        good,
        good,  # duplicate
    ]
    caplog.set_level(logging.DEBUG)
    offers = {o.provider_id: o for o in parse_offers({"offers": rows}, FIXED_NOW)}
    assert set(offers) == {"24", "25", "26", "24871034"}
    assert offers["24"].reliability is None
    assert offers["25"].ram_gb is None
    assert offers["25"].gpu_memory_gb is None
    assert offers["26"].price_per_hour == pytest.approx(0.40208333)  # dph_base + storage
    for reason in ("not an object", "no usable 'id'", "no gpu_name", "no usable num_gpus"):
        assert reason in caplog.text
    assert "duplicate id 24871034" in caplog.text


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "a list, not a JSON object"),
        ({"success": True}, "no 'offers' list"),
        ({"offers": {"id": 1}}, "'offers' is an object, not a list"),
        ({"offers": None}, "'offers' is null, not a list"),
        ("offers", "a string, not a JSON object"),
    ],
)
def test_wrong_shape_offer_bodies_raise_bad_response(body: Any, words: str) -> None:
    with pytest.raises(BadResponse) as info:
        parse_offers(body, FIXED_NOW)
    assert words in str(info.value)


async def test_non_json_and_empty_answers(adapter: VastAiAdapter, vast: FakeVast) -> None:
    vast.add("POST", "/api/v0/bundles/", reply(text="<html>maintenance</html>"), reply(text=""))
    with pytest.raises(BadResponse, match="not JSON"):
        await adapter.fetch_offers()
    with pytest.raises(BadResponse, match="empty body"):
        await adapter.fetch_offers()


async def test_quote_asks_for_one_offer(adapter: VastAiAdapter, vast: FakeVast) -> None:
    row = load("search_offers.json")["offers"][0]
    moved = copy.deepcopy(row) | {"dph_total": 0.5}
    bid_row = load("search_offers_bid.json")["offers"][0]
    vast.add(
        "POST",
        "/api/v0/bundles/",
        reply(body={"offers": [moved]}),
        reply(body={"offers": [bid_row]}),
        reply(body={"offers": []}),
        reply(body={"offers": [load("search_offers.json")["offers"][1]]}),
    )
    old = offers_by_id()["24871034"]
    fresh = await adapter.quote(old)
    assert fresh is not None
    assert fresh.id == old.id
    assert fresh.price_per_hour == 0.5
    assert fresh.spot_price_per_hour == pytest.approx(0.27 + 0.0020833333)  # bid search
    assert fresh.fetched_at == FIXED_NOW
    sent, bid_sent = (json.loads(r.content) for r in vast.requests)
    assert sent["id"] == bid_sent["id"] == {"eq": 24871034}
    for name, op in DEFAULT_FILTERS.items():
        assert sent[name] == op
    assert (sent["type"], bid_sent["type"]) == ("on-demand", "bid")
    assert sent["allocated_storage"] == 10.0

    assert await adapter.quote(old) is None  # gone
    assert await adapter.quote(old) is None  # a different ask is not this offer
    assert len(vast.requests) == 4  # no bid search for an offer that is gone


# -- launch ------------------------------------------------------------------------------


async def test_launch_sends_the_create_body(adapter: VastAiAdapter, vast: FakeVast) -> None:
    vast.add("PUT", "/api/v0/asks/24871034/", reply(body=load("create_instance.json")))
    offer = offers_by_id()["24871034"]
    instance = await adapter.launch(spec_for(offer))

    (request,) = vast.requests
    assert request.method == "PUT"
    assert request.url.path == "/api/v0/asks/24871034/"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "client_id": "me",
        "image": "pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime",
        "disk": 40,
        "label": "gpucm-abc123 ft-run",
        "env": {
            "HF_TOKEN": "hf_secret_value",
            "MODE": "train",
            "-p 8080:8080": "1",
            "-p 5353:5353/udp": "1",
        },
        "runtype": "ssh_direct",
        "cancel_unavail": True,
        "onstart": "echo hello",
    }

    assert instance.id == "vast_ai:12345678"
    assert instance.provider_id == "12345678"
    assert instance.status == "provisioning"
    assert instance.name == "gpucm-abc123 ft-run"
    assert (instance.gpu_name, instance.gpu_count) == ("RTX 4090", 1)
    assert instance.price_per_hour == pytest.approx(0.40208333)
    assert instance.offer_id == "vast_ai:24871034"
    assert instance.request_id == "req-1"
    assert instance.created_at == FIXED_NOW
    assert instance.storage_gb == 40.0
    # The per-instance API key in the answer is a credential: never kept.
    assert "d15a" not in instance.model_dump_json()
    assert "hf_secret_value" not in instance.model_dump_json()


async def test_launch_defaults(adapter: VastAiAdapter, vast: FakeVast) -> None:
    vast.add("PUT", "/api/v0/asks/22187310/", reply(body=load("create_instance.json")))
    offer = offers_by_id()["22187310"]
    spec = LaunchSpec(offer=offer, label="gpucm-x", request_id="r")
    await adapter.launch(spec)
    body = json.loads(vast.requests[0].content)
    assert body["image"] == VastAiAdapter.DEFAULT_IMAGE
    assert body["disk"] == 20
    assert body["env"] == {}
    assert "onstart" not in body


async def test_launch_is_never_retried(adapter: VastAiAdapter, vast: FakeVast) -> None:
    vast.add("PUT", "/api/v0/asks/24871034/", reply(503, text="upstream busy"))
    with pytest.raises(ProviderUnavailable):
        await adapter.launch(spec_for(offers_by_id()["24871034"]))
    assert len(vast.requests) == 1


@pytest.mark.parametrize("status", [404, 410])
async def test_launch_on_a_gone_offer_is_a_capacity_error(
    adapter: VastAiAdapter, vast: FakeVast, status: int
) -> None:
    vast.add("PUT", "/api/v0/asks/24871034/", reply(status, load("error_offer_unavailable.json")))
    with pytest.raises(CapacityError) as info:
        await adapter.launch(spec_for(offers_by_id()["24871034"]))
    assert "offer is gone" in str(info.value)
    assert "Instance type 1234567 is no longer available" in str(info.value)
    assert info.value.status == status


async def test_launch_plain_404_is_a_capacity_error(adapter: VastAiAdapter, vast: FakeVast) -> None:
    vast.add("PUT", "/api/v0/asks/24871034/", reply(404, text="Not Found"))
    with pytest.raises(CapacityError, match="offer is gone"):
        await adapter.launch(spec_for(offers_by_id()["24871034"]))


async def test_launch_invalid_args(adapter: VastAiAdapter, vast: FakeVast) -> None:
    body = {"success": False, "error": "invalid_args", "msg": "disk must be at least 8 GB"}
    vast.add("PUT", "/api/v0/asks/24871034/", reply(400, body))
    with pytest.raises(InvalidRequest) as info:
        await adapter.launch(spec_for(offers_by_id()["24871034"]))
    assert "disk must be at least 8 GB" in str(info.value)
    assert info.value.status == 400


async def test_launch_failure_inside_a_200(adapter: VastAiAdapter, vast: FakeVast) -> None:
    body = {"success": False, "error": "no_such_ask", "msg": "ask 24871034 is gone"}
    vast.add("PUT", "/api/v0/asks/24871034/", reply(200, body))
    with pytest.raises(CapacityError, match="ask 24871034 is gone"):
        await adapter.launch(spec_for(offers_by_id()["24871034"]))


async def test_launch_answer_without_contract(adapter: VastAiAdapter, vast: FakeVast) -> None:
    vast.add("PUT", "/api/v0/asks/24871034/", reply(body={"success": True}))
    with pytest.raises(BadResponse, match="new_contract"):
        await adapter.launch(spec_for(offers_by_id()["24871034"]))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"environment": (("-v /:/host", "1"),)}, "not a valid environment variable name"),
        ({"environment": (("1ABC", "x"),)}, "not a valid environment variable name"),
        ({"disk_gb": 5000.0}, "only 250.3 GB of disk"),
        ({"disk_gb": 0.0}, "above 0 GB"),
        ({"onstart_script": "x" * 5000}, "onstart script is over 4 KB"),
        ({"ports": ((70000, "tcp"),)}, "not between 1 and 65535"),
    ],
)
async def test_bad_launch_specs_are_refused_before_sending(
    adapter: VastAiAdapter, vast: FakeVast, changes: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidRequest, match=words):
        await adapter.launch(spec_for(offers_by_id()["24871034"], **changes))
    assert vast.requests == []


async def test_bid_launch_sends_the_bid_for_the_whole_offer(
    adapter: VastAiAdapter, vast: FakeVast
) -> None:
    vast.add("PUT", "/api/v0/asks/24871034/", reply(body=load("create_instance.json")))
    offer = offers_by_id()["24871034"]  # min bid $0.2667/GPU-h
    instance = await adapter.launch(spec_for(offer, interruptible=True, bid_per_gpu=0.3))
    (request,) = vast.requests
    assert json.loads(request.content) == load("create_instance_bid_request.json")
    assert instance.interruptible is True
    # what it bills: the bid plus the storage the on-demand price folds in
    assert instance.price_per_hour == pytest.approx(0.3 + 0.0020833333)
    assert instance.provider_data["bid"] == 0.3


async def test_bid_launch_defaults_to_the_minimum_bid_per_machine(
    adapter: VastAiAdapter, vast: FakeVast
) -> None:
    vast.add("PUT", "/api/v0/asks/25110420/", reply(body=load("create_instance.json")))
    h100 = offers_by_id()["25110420"]  # 8 GPUs, min_bid 9.6 for the whole offer
    await adapter.launch(spec_for(h100, interruptible=True, image=None))
    assert json.loads(vast.requests[0].content)["price"] == pytest.approx(9.6)


@pytest.mark.parametrize(
    ("bid", "words"),
    [(0.1, "below the minimum"), (20.0, "outside what Vast.ai takes")],
)
async def test_bad_bids_are_refused_before_sending(
    adapter: VastAiAdapter, vast: FakeVast, bid: float, words: str
) -> None:
    h100 = offers_by_id()["25110420"]  # 20 x 8 GPUs = $160/h, over Vast's $128 cap
    with pytest.raises(InvalidRequest, match=words):
        await adapter.launch(spec_for(h100, interruptible=True, bid_per_gpu=bid, image=None))
    assert vast.requests == []


async def test_an_image_needing_newer_cuda_than_the_host_is_refused(
    adapter: VastAiAdapter, vast: FakeVast
) -> None:
    offer = offers_by_id()["24871034"]  # cuda_max_good 12.8
    with pytest.raises(InvalidRequest, match=r"needs CUDA 13\.0.*12\.8"):
        await adapter.launch(spec_for(offer, image="vllm/vllm-openai:v0.11.0-cu130"))
    assert vast.requests == []


async def test_file_systems_are_unsupported(adapter: VastAiAdapter, vast: FakeVast) -> None:
    offer = offers_by_id()["24871034"]
    with pytest.raises(Unsupported, match="no shared filesystems"):
        await adapter.launch(spec_for(offer, file_systems=("data",)))


def test_interruptible_instances_and_an_outbid_stop() -> None:
    rows = load("instances_interruptible.json")["instances"]
    outbid, running = (parse_instance(r) for r in rows)
    assert outbid.interruptible and running.interruptible
    assert (outbid.status, outbid.status_reason) == ("stopped", "outbid")
    assert (running.status, running.status_reason) == ("running", None)
    # an on-demand instance is never outbid, whatever it says
    plain = parse_instance(load("instances.json")["instances"][0])
    assert (plain.interruptible, plain.status_reason) == (False, None)
    # a stop the renter asked for is no outbid
    asked = parse_instance(rows[0] | {"intended_status": "stopped", "status_msg": ""})
    assert (asked.status, asked.status_reason) == ("stopped", None)


async def test_launch_refuses_foreign_offers(adapter: VastAiAdapter, vast: FakeVast) -> None:
    offer = offers_by_id()["24871034"].model_copy(
        update={"provider": "runpod", "id": "runpod:x", "provider_id": "x", "provider_data": {}}
    )
    with pytest.raises(InvalidRequest, match=r"not a Vast\.ai offer"):
        await adapter.launch(spec_for(offer))
    assert vast.requests == []


# -- instances ---------------------------------------------------------------------------


async def test_list_instances_fixture(adapter: VastAiAdapter, vast: FakeVast) -> None:
    vast.add("GET", "/api/v1/instances/", reply(body=load("instances.json")))
    instances = {i.provider_id: i for i in await adapter.list_instances()}
    assert set(instances) == {"27110345", "27111288", "26980014"}

    run = instances["27110345"]
    assert run.id == "vast_ai:27110345"
    assert (run.status, run.raw_status) == ("running", "running")
    assert run.name == "ft-llama-run1"
    assert (run.ssh_host, run.ssh_port, run.ssh_user) == ("ssh5.vast.ai", 30344, "root")
    assert run.public_ip == "68.206.112.44"
    assert run.price_per_hour == pytest.approx(0.40833333)
    assert (run.gpu_name, run.gpu_count) == ("RTX 4090", 1)
    assert run.region == "Texas, US"
    assert run.image == "pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime"
    assert run.created_at == datetime.fromtimestamp(1761208813.4413102, UTC)
    assert run.cpu_count == 8.0
    assert run.storage_gb == 40.0
    assert run.provider_data["direct_ssh_host"] == "68.206.112.44"
    assert run.provider_data["direct_ssh_port"] == 40101

    loading = instances["27111288"]
    assert (loading.status, loading.raw_status) == ("provisioning", "loading")
    assert (loading.gpu_name, loading.gpu_count) == ("H100 SXM", 8)
    assert "Pulling image" in loading.provider_data["status_msg"]

    stopped = instances["26980014"]
    # The user stopped it: the container reports `exited`, the intent is `stopped`.
    assert (stopped.status, stopped.raw_status) == ("stopped", "exited")
    assert stopped.name == ""
    assert (stopped.gpu_name, stopped.gpu_count) == ("RTX 3090", 2)

    dumped = json.dumps([i.model_dump(mode="json") for i in instances.values()])
    for secret in ("b0b2d7c1f0a94b7c", "/workspace/hf", "grep _ >> /etc/environment"):
        assert secret not in dumped

    (request,) = vast.requests
    assert request.method == "GET"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    params = request.url.params
    assert params["limit"] == "25"
    assert json.loads(params["order_by"]) == [{"col": "id", "dir": "asc"}]
    assert json.loads(params["select_filters"]) == {}
    assert "after_token" not in params


async def test_list_instances_follows_next_token(adapter: VastAiAdapter, vast: FakeVast) -> None:
    fixture = load("instances.json")
    first = fixture | {"instances": fixture["instances"][:2], "next_token": "tok-2"}
    second = fixture | {"instances": fixture["instances"][2:], "next_token": None}
    vast.add("GET", "/api/v1/instances/", reply(body=first), reply(body=second))
    instances = await adapter.list_instances()
    assert [i.provider_id for i in instances] == ["27110345", "27111288", "26980014"]
    assert len(vast.requests) == 2
    assert "after_token" not in vast.requests[0].url.params
    assert vast.requests[1].url.params["after_token"] == "tok-2"
    assert vast.requests[1].url.params["limit"] == "25"


async def test_list_instances_stops_on_a_repeated_token(
    adapter: VastAiAdapter, vast: FakeVast
) -> None:
    page = load("instances.json") | {"next_token": "same"}
    vast.add("GET", "/api/v1/instances/", reply(body=page))
    with pytest.raises(BadResponse, match="repeats a page token"):
        await adapter.list_instances()
    assert len(vast.requests) == 2


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "a list, not a JSON object"),
        ({"success": True}, "no 'instances' list"),
        ({"instances": {"id": 1}}, "'instances' is an object"),
        ({"instances": [], "next_token": {"a": 1}}, "'next_token' is not a string"),
    ],
)
async def test_wrong_shape_instance_lists(
    adapter: VastAiAdapter, vast: FakeVast, body: Any, words: str
) -> None:
    vast.add("GET", "/api/v1/instances/", reply(body=body))
    with pytest.raises(BadResponse, match=words):
        await adapter.list_instances()


async def test_bad_instance_rows_are_skipped(
    adapter: VastAiAdapter, vast: FakeVast, caplog: pytest.LogCaptureFixture
) -> None:
    good = load("instances.json")["instances"][0]
    rows = [None, {"id": "x"}, {"id": 5, "actual_status": None, "num_gpus": None}, good]
    vast.add("GET", "/api/v1/instances/", reply(body={"instances": rows, "next_token": None}))
    caplog.set_level(logging.DEBUG)
    instances = {i.provider_id: i for i in await adapter.list_instances()}
    assert set(instances) == {"5", "27110345"}
    bare = instances["5"]
    assert bare.status == "provisioning"
    assert bare.raw_status is None
    assert bare.gpu_count == 0
    assert bare.ssh_host is None
    assert bare.created_at is None
    assert "skipped instance row 0" in caplog.text


def test_instance_fixture_object_shape() -> None:
    instance = parse_instance(load("instance.json")["instances"])
    assert instance.id == "vast_ai:27110345"
    assert instance.status == "running"
    assert (instance.ssh_host, instance.ssh_port) == ("ssh5.vast.ai", 30344)


def test_status_table_covers_every_documented_status() -> None:
    documented = {
        None: "provisioning",
        "created": "provisioning",
        "loading": "provisioning",
        "running": "running",
        "stopped": "stopped",
        "frozen": "stopped",
        "exited": "error",
        "rebooting": "provisioning",
        "restarting": "provisioning",
        "unknown": "error",
        "offline": "error",
        "destroyed": "terminated",
        "terminated": "terminated",
    }
    for raw, status in documented.items():
        assert normalise_status(raw) == status, raw
    assert set(STATUS_TABLE) >= set(documented)
    assert set(STATUS_TABLE.values()) <= set(INSTANCE_STATUSES)
    assert normalise_status("RUNNING ") == "running"
    assert normalise_status("") == "provisioning"
    assert normalise_status("some_new_state") == "error"


def test_intent_settles_ambiguous_states() -> None:
    assert instance_status({"actual_status": "exited", "intended_status": "stopped"}) == "stopped"
    assert instance_status({"actual_status": None, "intended_status": "stopped"}) == "stopped"
    assert instance_status({"actual_status": "exited", "intended_status": "running"}) == "error"
    assert instance_status({"actual_status": "offline", "intended_status": "stopped"}) == "error"


@pytest.mark.parametrize(
    ("action", "method", "path", "body", "answer"),
    [
        ("start", "PUT", "/api/v0/instances/27110345/", {"state": "running"}, "manage"),
        ("stop", "PUT", "/api/v0/instances/27110345/", {"state": "stopped"}, "manage"),
        ("restart", "PUT", "/api/v0/instances/reboot/27110345/", {}, "manage"),
        ("terminate", "DELETE", "/api/v0/instances/27110345/", None, "destroy"),
    ],
)
async def test_instance_actions_send_the_documented_requests(
    adapter: VastAiAdapter,
    vast: FakeVast,
    action: str,
    method: str,
    path: str,
    body: Any,
    answer: str,
) -> None:
    fixture = "manage_instance.json" if answer == "manage" else "destroy_instance.json"
    vast.add(method, path, reply(body=load(fixture)))
    await getattr(adapter, action)("27110345")
    (request,) = vast.requests
    assert (request.method, request.url.path) == (method, path)
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["User-Agent"].startswith("gpucm/")
    assert (json.loads(request.content) if request.content else None) == body


async def test_instance_actions_accept_qualified_ids(
    adapter: VastAiAdapter, vast: FakeVast
) -> None:
    vast.add("DELETE", "/api/v0/instances/27110345/", reply(body=load("destroy_instance.json")))
    await adapter.terminate("vast_ai:27110345")
    assert vast.requests[0].url.path == "/api/v0/instances/27110345/"


@pytest.mark.parametrize("bad", ["", "abc", "../asks/1", "12/../../x", "-5", "0"])
async def test_instance_actions_refuse_odd_ids(
    adapter: VastAiAdapter, vast: FakeVast, bad: str
) -> None:
    with pytest.raises(InvalidRequest, match=r"not a Vast\.ai instance id"):
        await adapter.stop(bad)
    assert vast.requests == []


async def test_action_failure_inside_a_200(adapter: VastAiAdapter, vast: FakeVast) -> None:
    body = {"success": False, "error": "no_such_instance", "msg": "Instance 1 not found."}
    vast.add("PUT", "/api/v0/instances/1/", reply(200, body))
    with pytest.raises(NotFound, match="Instance 1 not found"):
        await adapter.stop("1")


async def test_unknown_instance_404(adapter: VastAiAdapter, vast: FakeVast) -> None:
    vast.add("DELETE", "/api/v0/instances/9/", reply(404, {"detail": "Not found."}))
    with pytest.raises(NotFound, match="Not found"):
        await adapter.terminate("9")


async def test_logs_are_unsupported(adapter: VastAiAdapter, vast: FakeVast) -> None:
    with pytest.raises(Unsupported) as info:
        await adapter.logs("27110345")
    assert "vastai logs" in str(info.value)
    assert vast.requests == []


# -- errors, retries, pacing -------------------------------------------------------------


async def test_auth_error_fixture(adapter: VastAiAdapter, vast: FakeVast) -> None:
    vast.add("POST", "/api/v0/bundles/", reply(401, load("error_auth.json")))
    with pytest.raises(AuthError) as info:
        await adapter.fetch_offers()
    text = str(info.value)
    assert "Invalid user key" in text
    assert "VAST_AI_API_KEY" in text
    assert info.value.status == 401
    assert len(vast.requests) == 1


async def test_an_error_bodys_escape_sequences_never_reach_the_message(
    adapter: VastAiAdapter, vast: FakeVast
) -> None:
    """Vast's own words go into the message: a "msg" holding an escape sequence was
    printed as is on stderr by `gpucm refresh` (ESC[2J clears the terminal)."""
    body = {**load("error_auth.json"), "msg": "Invalid \x1b[2J\x1b]0;pwned\x07user\x9b31m key"}
    vast.add("POST", "/api/v0/bundles/", reply(401, body))
    with pytest.raises(AuthError) as info:
        await adapter.fetch_offers()
    assert info.value.message.startswith("the API key was rejected (HTTP 401): Invalid user key")
    assert str(info.value).isprintable() and info.value.args[0].isprintable()


async def test_invalid_user_key_as_404_is_an_auth_error(
    adapter: VastAiAdapter, vast: FakeVast
) -> None:
    vast.add("GET", "/api/v1/instances/", reply(404, load("error_auth.json")))
    with pytest.raises(AuthError):
        await adapter.list_instances()


async def test_auth_error_as_detail(adapter: VastAiAdapter, vast: FakeVast) -> None:
    vast.add("POST", "/api/v0/bundles/", reply(403, {"detail": "Permission denied"}))
    with pytest.raises(AuthError, match="Permission denied"):
        await adapter.fetch_offers()


async def test_plain_text_429_is_retried_then_succeeds(
    adapter: VastAiAdapter, vast: FakeVast, sleeps: Sleeps
) -> None:
    vast.add(
        "POST",
        "/api/v0/bundles/",
        reply(429, text="API requests too frequent: endpoint threshold=1.0"),
        reply(429, text="API requests too frequent: endpoint threshold=1.0"),
        reply(body=load("search_offers.json")),
        reply(body=load("search_offers_bid.json")),
    )
    offers = await adapter.fetch_offers()
    assert len(offers) == 10
    assert len(vast.requests) == 4  # two refused, the search, the bid search
    assert sleeps == [0.5, 1.0]  # backoff, no Retry-After from Vast


async def test_plain_text_429_that_keeps_failing(
    adapter: VastAiAdapter, vast: FakeVast, sleeps: Sleeps
) -> None:
    vast.add("GET", "/api/v1/instances/", reply(429, text="API requests too frequent"))
    with pytest.raises(RateLimited) as info:
        await adapter.list_instances()
    assert "API requests too frequent" in str(info.value)
    assert len(vast.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]


async def test_json_429_fixture(adapter: VastAiAdapter, vast: FakeVast, sleeps: Sleeps) -> None:
    vast.add("GET", "/api/v1/instances/", reply(429, load("error_rate_limited.json")))
    with pytest.raises(RateLimited, match=r"endpoint threshold=1\.0"):
        await adapter.list_instances()
    assert len(sleeps) == 3


async def test_requests_are_paced(vast: FakeVast) -> None:
    sleeps = Sleeps()
    adapter = VastAiAdapter(
        ProviderSettings(api_key=KEY),
        transport=httpx.MockTransport(vast.handler),
        sleep=sleeps,
        monotonic=lambda: 50.0,
    )
    vast.add("POST", "/api/v0/bundles/", reply(body={"offers": []}))
    await adapter.fetch_offers()  # the search and the bid search, one second apart
    assert sleeps == [VastAiAdapter.request_interval]
    await adapter.aclose()


async def test_the_key_never_shows(
    adapter: VastAiAdapter, vast: FakeVast, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"success": False, "error": "auth_error", "msg": f"Invalid user key {KEY}"}
    vast.add(
        "POST",
        "/api/v0/bundles/",
        reply(401, echo),
        reply(400, text=f"bad request for key {KEY}"),
        reply(200, {"success": False, "error": "invalid_args", "msg": f"key={KEY}"}),
        reply(429, text=f"API requests too frequent for {KEY}"),
    )
    vast.add("PUT", "/api/v0/asks/24871034/", reply(410, load("error_offer_unavailable.json")))
    errors: list[ProviderError] = []
    for _ in range(3):
        with pytest.raises(ProviderError) as info:
            await adapter.fetch_offers()
        errors.append(info.value)
    vast.routes[("POST", "/api/v0/bundles/")] = [reply(429, text=f"too frequent for {KEY}")]
    with pytest.raises(RateLimited) as limited:
        await adapter.fetch_offers()
    errors.append(limited.value)
    with pytest.raises(CapacityError) as gone:
        await adapter.launch(spec_for(offers_by_id()["24871034"]))
    errors.append(gone.value)
    assert [type(e) for e in errors] == [
        AuthError,
        InvalidRequest,
        InvalidRequest,
        RateLimited,
        CapacityError,
    ]
    for error in errors:
        assert KEY not in str(error)
        assert KEY not in repr(error)
        assert KEY not in error.message
    assert KEY not in repr(adapter)
    assert KEY not in repr(adapter.http)
    assert KEY not in caplog.text
    assert "hf_secret_value" not in caplog.text


def test_instances_say_what_they_bill_for_the_spend_ledger() -> None:
    """`dph_total` is the instance's billed $/h, storage included; `storage_total_cost`
    its disk's $/h, which Vast bills while the instance is stopped too."""
    row = load("instances.json")["instances"][0]
    instance = parse_instance(row)
    assert instance.price_per_hour == pytest.approx(row["dph_total"]) and instance.rate_reported
    assert instance.stopped_per_hour == pytest.approx(row["storage_total_cost"])
    assert instance.stopped_reported
    bare = parse_instance(
        {k: v for k, v in row.items() if k not in ("dph_total", "storage_total_cost")}
    )
    assert not bare.rate_reported and bare.stopped_per_hour is None
