"""RunPod adapter over REST API v2 (API_NOTES.md section 2): the requests it sends, the
recorded v2 shapes it reads, its errors; GraphQL only for spot. No network."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from gpucm.config import ProviderSettings
from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import fixed_clock
from gpucm.domain.models import Offer
from gpucm.providers.base import InstanceControl, LaunchSpec, OfferSource
from gpucm.providers.errors import (
    AuthError,
    BadResponse,
    CapacityError,
    InvalidRequest,
    NotFound,
    ProviderError,
    RateLimited,
    Unsupported,
)
from gpucm.providers.http import USER_AGENT
from gpucm.providers.runpod import (
    CATALOG_REQUESTS_AT_ONCE,
    DEFAULT_CONTAINER_DISK_GB,
    DEFAULT_IMAGE,
    GRAPHQL_RETIRED,
    META,
    RENT_INTERRUPTABLE_MUTATION,
    SPOT_PRICES_QUERY,
    RunPodAdapter,
    ports_list,
)
from gpucm.providers.runpod_parse import (
    INTERRUPTIBLE_ENV,
    STATUS_TABLE,
    STORAGE_PRICE_PER_GB_MONTH,
    normalise_status,
    parse_catalog,
    parse_logs,
    parse_pods,
    parse_spot_prices,
)
from tests.conftest import FIXED_NOW, FIXTURES

FIX = FIXTURES / "runpod"
KEY = "test-key-runpod-123456"
BASE = "https://api.runpod.io"
CATALOG = Catalog.builtin()
CLOUDS = ("SECURE", "COMMUNITY")
COUNTS = (1, 2, 4, 8)


def load(name: str) -> Any:
    return json.loads((FIX / name).read_text())


def catalog_answers() -> list[tuple[str, int, Any]]:
    return [
        (cloud, count, load(f"v2_catalog_gpus_{cloud.lower()}_{count}.json"))
        for cloud in CLOUDS
        for count in COUNTS
    ]


def spot_prices() -> Any:
    return parse_spot_prices(load("graphql_spot_prices.json"))


def all_offers() -> dict[str, Offer]:
    offers = parse_catalog(catalog_answers(), FIXED_NOW, spot_prices())
    return {o.provider_id: o for o in offers}


Reply = tuple[int, Any] | Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeRunPod:
    """Answers v2 by (method, path); the catalogue by its cloud and count query; GraphQL
    from a queue. Every request is kept."""

    routes: dict[tuple[str, str], Reply] = field(default_factory=dict)
    graphql: list[tuple[int, Any]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    now: float = 0.0

    def __post_init__(self) -> None:
        self.routes.setdefault(("GET", "/v2/catalog/gpus"), self.catalog)
        self.graphql.append((200, load("graphql_spot_prices.json")))

    def catalog(self, request: httpx.Request) -> httpx.Response:
        q = request.url.params
        assert (q["include"], q["product"]) == ("AVAILABILITY", "POD"), q
        name = f"v2_catalog_gpus_{q['cloud'].lower()}_{q['count']}.json"
        return httpx.Response(200, json=load(name))

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = unquote(request.url.path)
        if path == "/graphql":
            status, body = self.graphql.pop(0) if len(self.graphql) > 1 else self.graphql[0]
            return _response(status, body)
        route = self.routes.get((request.method, path))
        if route is None:
            return httpx.Response(
                404, json={"title": "Not Found", "status": 404, "detail": "no route in the fake"}
            )
        if callable(route):
            return route(request)
        return _response(*route)

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay

    def monotonic(self) -> float:
        return self.now

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and unquote(r.url.path) == path]

    def graphql_bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.sent("POST", "/graphql")]


def _response(status: int, body: Any) -> httpx.Response:
    if body is None:
        return httpx.Response(status)
    if isinstance(body, str):
        return httpx.Response(status, text=body)
    return httpx.Response(status, json=body)


Make = Callable[..., tuple[RunPodAdapter, FakeRunPod]]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    adapters: list[RunPodAdapter] = []

    def build(
        fake: FakeRunPod | None = None, settings: ProviderSettings | None = None
    ) -> tuple[RunPodAdapter, FakeRunPod]:
        fake = fake or FakeRunPod()
        adapter = RunPodAdapter(
            settings or ProviderSettings(api_key=KEY),
            transport=httpx.MockTransport(fake.handler),
            sleep=fake.sleep,
            monotonic=fake.monotonic,
            clock=fixed_clock(FIXED_NOW),
            rand=lambda: 0.5,
        )
        adapters.append(adapter)
        return adapter, fake

    yield build
    for adapter in adapters:
        await adapter.aclose()


def spec_for(offer: Offer, **kw: Any) -> LaunchSpec:
    return LaunchSpec(
        offer=offer, label=kw.pop("label", "gpucm-test-g1a2b3c4"), request_id="req-1", **kw
    )


# -- meta -------------------------------------------------------------------------------


def test_meta_and_protocols() -> None:
    caps = META.capabilities
    assert (caps.stop_start, caps.restart, caps.logs, caps.spot) == (True, True, True, True)
    assert caps.storage_billed_separately
    assert META.default_base_url == BASE
    assert META.display_name == "RunPod"


async def test_adapter_satisfies_protocols(make: Make) -> None:
    adapter, _ = make()
    assert isinstance(adapter, OfferSource)
    assert isinstance(adapter, InstanceControl)
    assert adapter.name == "runpod"


@pytest.mark.parametrize(
    ("configured", "base"),
    [
        (None, BASE),
        ("https://api.runpod.io/graphql", BASE),  # the old GraphQL value still works
        ("https://api.runpod.io/graphql/", BASE),
        ("https://api.runpod.io/v2", BASE),
        ("http://127.0.0.1:9/runpod/graphql", "http://127.0.0.1:9/runpod"),
        ("http://127.0.0.1:9/runpod", "http://127.0.0.1:9/runpod"),
    ],
)
def test_the_api_base(configured: str | None, base: str) -> None:
    assert RunPodAdapter.api_base(ProviderSettings(base_url=configured)) == base


async def test_requests_under_a_configured_base(make: Make) -> None:
    adapter, fake = make(settings=ProviderSettings(api_key=KEY, base_url=f"{BASE}/x/graphql"))
    fake.routes[("GET", "/x/v2/pods")] = (200, {"pods": []})
    fake.routes[("GET", "/x/v2/catalog/gpus")] = fake.catalog
    await adapter.list_instances()
    assert [str(r.url) for r in fake.requests] == [f"{BASE}/x/v2/pods"]


# -- offers: the catalogue per cloud and count --------------------------------------------


async def test_fetch_offers_asks_each_cloud_and_count(make: Make) -> None:
    adapter, fake = make()
    offers = await adapter.fetch_offers()
    assert offers
    catalog = fake.sent("GET", "/v2/catalog/gpus")
    asked = [(r.url.params["cloud"], int(r.url.params["count"])) for r in catalog]
    # every count some type allows, in each cloud, once; one answer before any other
    # (an API that is down costs one request), and count 1 first in each cloud
    assert sorted(asked) == sorted((c, n) for c in CLOUDS for n in COUNTS)
    assert asked[0] == (CLOUDS[0], 1)
    for cloud in CLOUDS:
        assert next(n for c, n in asked if c == cloud) == 1
    for request in catalog:
        assert request.url.params["include"] == "AVAILABILITY"
        assert request.url.params["product"] == "POD"
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        assert request.headers["User-Agent"] == USER_AGENT
    # GraphQL only for the spot prices, and nothing else was asked
    assert [b["query"] for b in fake.graphql_bodies()] == [SPOT_PRICES_QUERY]
    assert len(fake.requests) == len(catalog) + 1


async def test_only_counts_some_type_allows_are_asked(make: Make) -> None:
    fake = FakeRunPod()

    def small(request: httpx.Request) -> httpx.Response:
        body = load("v2_catalog_gpus_secure_1.json")
        for row in body["gpus"]:
            row["maxCount"] = {"secure": 2, "community": 0}
        return httpx.Response(200, json=body)

    fake.routes[("GET", "/v2/catalog/gpus")] = small
    adapter, _ = make(fake)
    await adapter.fetch_offers()
    asked = [
        (r.url.params["cloud"], r.url.params["count"]) for r in fake.sent("GET", "/v2/catalog/gpus")
    ]
    assert asked[0] == ("SECURE", "1")
    assert sorted(asked[1:]) == [("COMMUNITY", "1"), ("SECURE", "2")]


async def test_the_catalogue_is_asked_one_answer_first_then_a_few_at_once() -> None:
    """One answer, then the rest at once as far as the answers allow (a refresh was
    eight requests in a row), never more than CATALOG_REQUESTS_AT_ONCE in flight."""
    fake = FakeRunPod()
    in_flight = 0
    most = 0
    waves: list[int] = []  # how many catalogue requests were in flight as each started

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        catalog = request.url.path.endswith("/catalog/gpus")
        if catalog:
            in_flight += 1
            most = max(most, in_flight)
            waves.append(in_flight)
        try:
            await asyncio.sleep(0.05)
            return fake.handler(request)
        finally:
            if catalog:
                in_flight -= 1

    adapter = RunPodAdapter(
        ProviderSettings(api_key=KEY),
        transport=httpx.MockTransport(slow),
        clock=fixed_clock(FIXED_NOW),
        rand=lambda: 0.5,
    )
    try:
        offers = await adapter.fetch_offers()
    finally:
        await adapter.aclose()
    assert offers
    assert len(fake.sent("GET", "/v2/catalog/gpus")) == len(CLOUDS) * len(COUNTS)
    assert waves[0] == 1  # the first answer alone
    assert 1 < most <= CATALOG_REQUESTS_AT_ONCE


def test_stock_prices_and_regions_are_per_cloud() -> None:
    offers = all_offers()
    secure_ks = offers["rtx-4090-secure-1@US-KS-2"]
    assert secure_ks.id == "runpod:rtx-4090-secure-1@US-KS-2"
    assert (secure_ks.gpu_name, secure_ks.gpu_count, secure_ks.gpu_memory_gb) == ("RTX 4090", 1, 24)
    assert secure_ks.price_per_hour == pytest.approx(0.44)  # the secure list price
    assert secure_ks.region == "US-KS-2"
    assert secure_ks.availability == "high"
    assert secure_ks.verified is True
    assert secure_ks.storage_price_per_gb_month == STORAGE_PRICE_PER_GB_MONTH
    assert secure_ks.provider_data == {
        "gpu_type_id": "NVIDIA GeForce RTX 4090",
        "cloud_type": "SECURE",
        "gpu_count": 1,
        "cuda_versions": ["12.4", "12.8"],
        "cuda_in_stock": ["12.4", "12.8"],
        "data_center_id": "US-KS-2",
        "data_center_name": "US Kansas 2",
    }
    assert secure_ks.cuda_version == pytest.approx(12.8)
    assert offers["rtx-4090-secure-1@EU-RO-1"].availability == "low"
    community = offers["rtx-4090-community-1@US-CA-2"]
    assert community.price_per_hour == pytest.approx(0.31)  # the community price, not secure
    assert community.availability == "medium"
    assert community.verified is False
    assert community.cuda_version == pytest.approx(12.4)  # that cloud's machines
    # a data centre listed with no stock
    sweden = offers["rtx-4090-community-1@EU-SE-1"]
    assert (sweden.availability, sweden.available) == ("none", False)
    # stock differs by count too: 2 GPUs are medium where 1 is high
    assert offers["rtx-4090-secure-2@US-KS-2"].availability == "medium"
    assert offers["rtx-4090-secure-2@US-KS-2"].price_per_hour == pytest.approx(0.88)
    # the spot price of the offer's own cloud, per GPU times the count
    assert secure_ks.spot_price_per_hour == pytest.approx(0.35)
    assert secure_ks.min_bid_per_gpu_hour == pytest.approx(0.35)
    assert community.spot_price_per_hour == pytest.approx(0.20)
    assert offers["rtx-4090-secure-2@US-KS-2"].spot_price_per_hour == pytest.approx(0.70)
    # no vCPU, RAM or disk in the v2 catalogue: unknown, never invented
    assert (secure_ks.vcpus, secure_ks.ram_gb, secure_ks.storage_gb) == (None, None, None)


def test_every_availability_level_appears() -> None:
    levels = {o.availability for o in all_offers().values()}
    assert levels == {"high", "medium", "low", "none"}


def test_a_type_one_cloud_does_not_offer_gives_no_offer_there() -> None:
    offers = all_offers()
    a40 = {pid for pid in offers if pid.startswith("a40-")}
    assert a40 and all("-secure-" in pid for pid in a40)  # community: false, price 0
    rtx3090 = {pid for pid in offers if pid.startswith("rtx-3090-")}
    assert rtx3090 and all("-community-" in pid for pid in rtx3090)  # secure: false
    # more GPUs than a cloud's largest machine: no offer (community RTX 4090: max 4)
    assert not any(pid.startswith("rtx-4090-community-8") for pid in offers)
    assert "a40-secure-4" in offers  # max 10: asked, sold out at 4 GPUs


def test_sold_out_everywhere_is_one_offer_without_a_region() -> None:
    offers = all_offers()
    nvl = offers["h100-nvl-secure-1"]
    assert (nvl.region, nvl.availability, nvl.available) == ("", "none", False)
    assert nvl.price_per_hour == pytest.approx(2.79)
    assert "data_center_id" not in nvl.provider_data
    sold = offers["h100-sxm-community-1"]  # no dataCenters, level NONE
    assert (sold.region, sold.availability) == ("", "none")


def test_an_amd_type_without_cuda_versions() -> None:
    mi300x = all_offers()["mi300x-secure-1@EU-RO-1"]
    assert mi300x.cuda_version is None
    assert "cuda_versions" not in mi300x.provider_data
    assert mi300x.availability == "medium"
    assert mi300x.spot_price_per_hour is None  # no spot price for it
    assert CATALOG.resolve(mi300x.gpu_name, mi300x.gpu_memory_gb).name == "MI300X"


@pytest.mark.parametrize(
    ("pid", "model"),
    [
        ("rtx-4090-secure-1@US-KS-2", "RTX 4090"),
        ("h100-sxm-secure-1@EUR-IS-1", "H100"),
        ("a40-secure-1@CA-MTL-1", "A40"),
        ("rtx-3090-community-1@US-CA-2", "RTX 3090"),
        ("h100-nvl-community-1@EU-SE-1", "H100 NVL"),
    ],
)
def test_offers_resolve_to_catalog_models(pid: str, model: str) -> None:
    offer = all_offers()[pid]
    assert CATALOG.resolve(offer.gpu_name, offer.gpu_memory_gb).name == model


def test_display_name_collisions_fall_back_to_type_id_slugs() -> None:
    body = load("v2_catalog_gpus_secure_1.json")
    twin = dict(body["gpus"][0], id="NVIDIA GeForce RTX 4090 D")  # same display name
    body["gpus"].append(twin)
    offers = {o.provider_id for o in parse_catalog([("SECURE", 1, body)], FIXED_NOW)}
    assert "nvidia-geforce-rtx-4090-secure-1@US-KS-2" in offers
    assert "nvidia-geforce-rtx-4090-d-secure-1@US-KS-2" in offers


def test_malformed_rows_are_skipped_but_all_malformed_is_an_error() -> None:
    body = load("v2_catalog_gpus_secure_1.json")
    body["gpus"] += ["junk", None, {"name": "no id"}, {"id": "unknown"}]
    body["gpus"][0]["price"] = "not an object"  # no price in this cloud: no offer
    offers = parse_catalog([("SECURE", 1, body)], FIXED_NOW)
    assert offers and not any(o.gpu_name == "RTX 4090" for o in offers)
    with pytest.raises(BadResponse, match="could be read"):
        parse_catalog([("SECURE", 1, {"gpus": ["junk", {"name": "x"}]})], FIXED_NOW)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ([], "a list, not a JSON object"),
        ({"data": {}}, "without a `gpus` list (got null)"),
        ({"gpus": {"a": 1}}, "without a `gpus` list (got an object)"),
    ],
)
def test_wrong_shape_catalogue_is_a_bad_response(body: Any, needle: str) -> None:
    with pytest.raises(BadResponse) as info:
        parse_catalog([("SECURE", 1, body)], FIXED_NOW)
    assert needle in str(info.value)


async def test_quote_asks_the_one_type_for_the_offers_cloud_and_count(make: Make) -> None:
    adapter, fake = make()
    path = "/v2/catalog/gpus/NVIDIA H100 80GB HBM3"
    fake.routes[("GET", path)] = (200, load("v2_catalog_gpu_h100_secure_1.json"))
    await adapter.fetch_offers()  # the spot prices are known from here on
    offers = all_offers()
    fresh = await adapter.quote(offers["h100-sxm-secure-1@EUR-IS-1"])
    assert fresh is not None
    assert (fresh.availability, fresh.region) == ("medium", "EUR-IS-1")
    assert fresh.spot_price_per_hour == pytest.approx(1.75)
    (request, *_) = fake.sent("GET", path)
    assert request.url.raw_path.startswith(b"/v2/catalog/gpus/NVIDIA%20H100%2080GB%20HBM3?")
    assert dict(request.url.params) == {
        "include": "AVAILABILITY",
        "product": "POD",
        "cloud": "SECURE",
        "count": "1",
    }
    # this data centre has none now
    assert await adapter.quote(offers["h100-sxm-secure-1@US-TX-3"]) is None


async def test_a_quote_in_a_fresh_process_knows_the_spot_price(make: Make) -> None:
    adapter, fake = make()  # no refresh in this process: nothing cached
    path = "/v2/catalog/gpus/NVIDIA H100 80GB HBM3"
    fake.routes[("GET", path)] = (200, load("v2_catalog_gpu_h100_secure_1.json"))
    fresh = await adapter.quote(all_offers()["h100-sxm-secure-1@EUR-IS-1"])
    assert fresh is not None and fresh.min_bid_per_gpu_hour == pytest.approx(1.75)
    assert [b["query"] for b in fake.graphql_bodies()] == [SPOT_PRICES_QUERY]


async def test_quote_refuses_an_offer_without_launch_data(make: Make) -> None:
    adapter, fake = make()
    offer = all_offers()["a40-secure-1@CA-MTL-1"].model_copy(update={"provider_data": {}})
    with pytest.raises(InvalidRequest, match="refresh the offers"):
        await adapter.quote(offer)
    assert fake.requests == []


# -- GraphQL for spot, and its retirement ------------------------------------------------


@pytest.mark.parametrize("status", [404, 410])
async def test_retired_graphql_stops_spot_and_nothing_else(make: Make, status: int) -> None:
    fake = FakeRunPod()
    fake.graphql = [(status, {"title": "Not Found", "status": status, "detail": "gone"})]
    adapter, _ = make(fake)
    offers = await adapter.fetch_offers()
    assert offers and all(o.spot_price_per_hour is None for o in offers)
    assert adapter.graphql_retired and not adapter.spot_available
    # the next refresh does not ask GraphQL again
    await adapter.fetch_offers()
    assert len(fake.sent("POST", "/graphql")) == 1
    # an interruptible launch says why, and sends nothing
    offer = all_offers()["rtx-4090-secure-1@US-KS-2"]
    with pytest.raises(Unsupported) as info:
        await adapter.launch(spec_for(offer, interruptible=True, bid_per_gpu=0.4))
    assert str(info.value) == f"RunPod: {GRAPHQL_RETIRED}"
    assert "retired the API for spot launches" in str(info.value)
    assert not fake.sent("POST", "/v2/pods") and len(fake.sent("POST", "/graphql")) == 1


async def test_a_failing_spot_query_keeps_the_offers_and_the_last_prices(make: Make) -> None:
    fake = FakeRunPod()
    adapter, _ = make(fake)
    await adapter.fetch_offers()
    fake.graphql = [(500, {"title": "Internal", "status": 500, "detail": "oops"})]
    fake.now += RunPodAdapter.SPOT_PRICES_TTL + 1  # the cached prices are old: ask again
    offers = {o.provider_id: o for o in await adapter.fetch_offers()}
    assert offers["rtx-4090-secure-1@US-KS-2"].spot_price_per_hour == pytest.approx(0.35)
    assert not adapter.graphql_retired


async def test_spot_prices_are_asked_at_most_every_half_hour(make: Make) -> None:
    adapter, fake = make()
    await adapter.fetch_offers()
    await adapter.fetch_offers()
    assert len(fake.sent("POST", "/graphql")) == 1
    fake.now += RunPodAdapter.SPOT_PRICES_TTL + 1
    await adapter.fetch_offers()
    assert len(fake.sent("POST", "/graphql")) == 2


# -- launch -------------------------------------------------------------------------------


async def test_launch_posts_the_nested_v2_body(make: Make) -> None:
    adapter, fake = make()
    fake.routes[("POST", "/v2/pods")] = (201, load("v2_pod_created.json"))
    offer = all_offers()["rtx-4090-secure-1@US-KS-2"]
    instance = await adapter.launch(
        spec_for(
            offer,
            image="runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404",
            environment=(("HF_TOKEN", "hf_secret"), ("MODE", "train")),
            ports=((8888, "http"), (22, "tcp")),
            disk_gb=49.5,
        )
    )
    (request,) = fake.requests
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/v2/pods")
    sent = json.loads(request.content)
    assert sent == {
        "name": "gpucm-test-g1a2b3c4",
        "image": "runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404",
        "cloud": "SECURE",
        "gpu": {"id": "NVIDIA GeForce RTX 4090", "count": 1, "minCudaVersion": "12.8"},
        "disk": 50,
        "ports": ["8888/http", "22/tcp"],
        "startSsh": True,
        "env": {"HF_TOKEN": "hf_secret", "MODE": "train"},
        "dataCenterIds": ["US-KS-2"],
    }
    # the spec's own example body: every field it sends, gpucm sends with that shape
    recorded = load("v2_create_pod_request.json")
    for key, value in recorded.items():
        assert type(sent[key]) is type(value), key
    assert set(recorded["gpu"]) <= set(sent["gpu"])
    # the 201 pod, provisioning, reachable through the proxy until 22/tcp is published
    assert instance.id == "runpod:7h9k2m4n6p"
    assert (instance.status, instance.raw_status) == ("provisioning", "PROVISIONING")
    assert (instance.ssh_host, instance.ssh_port, instance.ssh_user) == (
        "ssh.runpod.io",
        22,
        "7h9k2m4n6p-64411eb2",
    )
    assert (instance.offer_id, instance.request_id) == (offer.id, "req-1")
    assert instance.interruptible is False
    assert "MODEL_NAME" not in instance.model_dump_json()  # the pod's env is never copied


async def test_launch_defaults(make: Make) -> None:
    adapter, fake = make()
    fake.routes[("POST", "/v2/pods")] = (201, load("v2_pod_created.json"))
    offer = all_offers()["h100-nvl-secure-1"]  # no data centre: the scheduler picks
    await adapter.launch(spec_for(offer))
    sent = json.loads(fake.requests[0].content)
    assert sent["image"] == DEFAULT_IMAGE
    assert sent["gpu"] == {"id": "NVIDIA H100 NVL", "count": 1, "minCudaVersion": "12.4"}
    assert sent["disk"] == DEFAULT_CONTAINER_DISK_GB
    assert sent["ports"] == ["22/tcp"]
    assert "dataCenterIds" not in sent and "env" not in sent


async def test_an_image_that_needs_newer_cuda_than_the_machines_is_refused(make: Make) -> None:
    adapter, fake = make()
    offer = all_offers()["a40-secure-1@CA-MTL-1"]  # 12.2 and 12.4
    with pytest.raises(InvalidRequest, match=r"needs CUDA 12\.8.*12\.4 at most"):
        await adapter.launch(spec_for(offer, image="runpod/pytorch:1.0.2-cu1281-torch280"))
    assert fake.requests == []


def test_ports_list() -> None:
    assert ports_list(()) == ["22/tcp"]
    assert ports_list(((8888, "http"), (8888, "http"), (22, "TCP"))) == ["8888/http", "22/tcp"]
    with pytest.raises(InvalidRequest, match="only HTTP and TCP"):
        ports_list(((53, "udp"),))


@pytest.mark.parametrize(
    "change",
    [{"onstart_script": "echo hi"}, {"file_systems": ("data",)}],
)
async def test_what_the_api_cannot_do_is_refused(make: Make, change: dict[str, Any]) -> None:
    adapter, fake = make()
    with pytest.raises(ProviderError):
        await adapter.launch(spec_for(all_offers()["a40-secure-1@CA-MTL-1"], **change))
    assert fake.requests == []


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("v2_error_no_capacity.json", CapacityError, "no longer any instances available"),
        ("v2_error_unprocessable.json", InvalidRequest, "additional properties 'bogus'"),
        ("v2_error_insufficient_balance.json", InvalidRequest, "add funds"),
        ("v2_error_forbidden.json", AuthError, "access denied"),
        ("v2_error_unauthorized.json", AuthError, "RUNPOD_API_KEY"),
    ],
)
async def test_create_problems_map_to_the_shared_errors(
    make: Make, name: str, error: type[ProviderError], words: str
) -> None:
    adapter, fake = make()
    body = load(name)
    fake.routes[("POST", "/v2/pods")] = (body["status"], body)
    with pytest.raises(error) as info:
        await adapter.launch(spec_for(all_offers()["a40-secure-1@CA-MTL-1"]))
    assert words in str(info.value)
    assert info.value.status == body["status"]
    assert len(fake.requests) == 1  # a launch is never retried


async def test_422_lists_every_violation(make: Make) -> None:
    adapter, fake = make()
    fake.routes[("POST", "/v2/pods")] = (422, load("v2_error_unprocessable.json"))
    with pytest.raises(InvalidRequest) as info:
        await adapter.launch(spec_for(all_offers()["a40-secure-1@CA-MTL-1"]))
    assert "Request validation failed.; $: additional properties" in str(info.value)
    assert "$.gpu.count: must be >= 1" in str(info.value)


async def test_interruptible_launch_rents_with_a_bid_through_graphql(make: Make) -> None:
    adapter, fake = make()
    await adapter.fetch_offers()
    fake.graphql = [(200, load("graphql_rent_interruptable.json"))]
    offer = all_offers()["rtx-4090-community-2@US-CA-2"]  # spot $0.20/GPU-h
    instance = await adapter.launch(
        spec_for(offer, interruptible=True, bid_per_gpu=0.25, environment=(("K", "v"),))
    )
    rent = fake.graphql_bodies()[-1]
    assert rent["query"] == RENT_INTERRUPTABLE_MUTATION
    data = rent["variables"]["input"]
    assert data["bidPerGpu"] == 0.25
    assert (data["gpuTypeId"], data["gpuCount"], data["cloudType"]) == (
        "NVIDIA GeForce RTX 4090",
        2,
        "COMMUNITY",
    )
    assert data["dataCenterId"] == "US-CA-2"
    assert data["env"] == [{"key": "K", "value": "v"}, {"key": INTERRUPTIBLE_ENV, "value": "1"}]
    assert data["allowedCudaVersions"] == ["12.4"]  # the default image needs 12.4
    assert not fake.sent("POST", "/v2/pods")
    assert instance.interruptible is True
    assert instance.price_per_hour == pytest.approx(0.5)
    assert instance.id == "runpod:8f7e6d5c4b"


async def test_a_bid_below_the_spot_price_is_refused(make: Make) -> None:
    adapter, fake = make()
    offer = all_offers()["rtx-4090-secure-1@US-KS-2"]  # spot $0.35/GPU-h
    with pytest.raises(InvalidRequest, match="below the minimum"):
        await adapter.launch(spec_for(offer, interruptible=True, bid_per_gpu=0.30))
    assert fake.requests == []


# -- pods ---------------------------------------------------------------------------------


async def test_pods_in_every_status(make: Make) -> None:
    adapter, fake = make()
    fake.routes[("GET", "/v2/pods")] = (200, load("v2_pods.json"))
    running, provisioning, starting, exited, error, terminated = await adapter.list_instances()
    assert [p.status for p in (running, provisioning, starting, exited, error, terminated)] == [
        "running",
        "provisioning",
        "provisioning",
        "stopped",
        "error",
        "terminated",
    ]
    assert running.raw_status == "RUNNING"
    # direct SSH when 22/tcp is published: the full feature set
    assert (running.ssh_host, running.ssh_port, running.ssh_user) == ("195.26.233.3", 34446, "root")
    assert running.public_ip == "195.26.233.3"
    assert running.provider_data["ssh_proxy"]["user"] == "7h9k2m4n6p-64411eb2"
    assert (running.gpu_name, running.gpu_count) == ("NVIDIA GeForce RTX 4090", 1)
    assert CATALOG.resolve(running.gpu_name or "", None).name == "RTX 4090"
    assert running.price_per_hour == pytest.approx(0.44)
    assert running.region == "US-KS-2"
    assert running.storage_gb == 70  # 50 container + 20 persistent
    assert running.started_at is not None and running.created_at is not None
    # the proxy while provisioning
    assert (provisioning.ssh_host, provisioning.ssh_port) == ("ssh.runpod.io", 22)
    assert provisioning.ssh_user == "3k8m1q7w2e-64411eb2"
    assert provisioning.public_ip is None
    assert (error.ssh_host, terminated.ssh_host) == (None, None)
    # gpucm's marker makes a pod interruptible; the others are on-demand
    assert starting.interruptible and not running.interruptible
    dumped = json.dumps([p.model_dump(mode="json") for p in await adapter.list_instances()])
    for secret in ("hf_FIXTURE_SECRET_VALUE", "wandb_FIXTURE_SECRET", "MODEL_NAME"):
        assert secret not in dumped


def test_pods_tolerate_junk(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"pods": ["junk", {"name": "no id"}, {"id": "x1", "status": "SLEEPING", "cost": "?"}]}
    (pod,) = parse_pods(body, FIXED_NOW)
    assert (pod.status, pod.raw_status, pod.price_per_hour) == ("error", "SLEEPING", None)
    assert "skipping pods[0]" in caplog.text
    assert parse_pods({"pods": None}, FIXED_NOW) == []
    with pytest.raises(BadResponse, match="without a `pods` list"):
        parse_pods({"data": []}, FIXED_NOW)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("PROVISIONING", "provisioning"),
        ("STARTING", "provisioning"),
        ("RUNNING", "running"),
        ("EXITED", "stopped"),
        ("ERROR", "error"),
        ("TERMINATED", "terminated"),
        ("running", "running"),
        (None, "provisioning"),
        ("NEW_STATE", "error"),
    ],
)
def test_normalise_status(raw: str | None, expected: str) -> None:
    assert normalise_status(raw) == expected


def test_status_table_covers_the_v2_pod_statuses() -> None:
    spec_statuses = {"PROVISIONING", "STARTING", "RUNNING", "EXITED", "ERROR", "TERMINATED"}
    assert set(STATUS_TABLE) == spec_statuses


@pytest.mark.parametrize("action", ["start", "stop", "restart", "terminate"])
async def test_lifecycle_actions(make: Make, action: str) -> None:
    adapter, fake = make()
    reply: tuple[int, Any] = (
        (204, None) if action == "terminate" else (200, load("v2_pod_action.json"))
    )
    fake.routes[("POST", "/v2/pods/7h9k2m4n6p/action")] = reply
    await getattr(adapter, action)("7h9k2m4n6p")
    (request,) = fake.requests
    assert json.loads(request.content) == {"action": action}


async def test_an_action_the_status_does_not_allow_is_a_clear_refusal(make: Make) -> None:
    adapter, fake = make()
    fake.routes[("POST", "/v2/pods/5t6y7u8i9o/action")] = (409, load("v2_error_conflict.json"))
    with pytest.raises(InvalidRequest, match=r"current state.*not valid for a pod in status"):
        await adapter.restart("5t6y7u8i9o")
    assert len(fake.requests) == 1


async def test_an_unknown_pod_is_not_found(make: Make) -> None:
    adapter, fake = make()
    fake.routes[("POST", "/v2/pods/nope/action")] = (404, load("v2_error_not_found.json"))
    with pytest.raises(NotFound, match="resource not found"):
        await adapter.stop("nope")


async def test_logs_read_the_event_stream(make: Make) -> None:
    adapter, fake = make()
    stream = (FIX / "v2_pod_logs.txt").read_text()
    fake.routes[("GET", "/v2/pods/7h9k2m4n6p/logs")] = lambda request: httpx.Response(
        200, text=stream, headers={"Content-Type": "text/event-stream"}
    )
    text = await adapter.logs("7h9k2m4n6p")
    assert text.splitlines() == [
        "2026-06-01T12:02:03Z [container] Model loaded.",
        "2026-06-01T12:02:04Z [system] Pod started on US-KS-2.",
        "2026-06-01T12:02:05Z [container] Epoch 1/10",
    ]
    (request,) = fake.requests
    assert request.url.params["tail"] == "500"


def test_log_lines_are_text_never_terminal_codes() -> None:
    stream = 'data: {"ts":"t","source":"container","line":"\\u001b[31mred\\u0007"}\n\n'
    assert parse_logs(stream) == "t [container] red\n"


# -- errors, limits, secrets --------------------------------------------------------------


async def test_rate_limit_answers_are_retried_after_their_retry_after(make: Make) -> None:
    adapter, fake = make()
    limited = load("v2_error_rate_limited.json")
    replies = [
        httpx.Response(429, json=limited, headers={"Retry-After": "7"}),
        httpx.Response(200, json={"pods": []}),
    ]
    fake.routes[("GET", "/v2/pods")] = lambda request: replies.pop(0)
    assert await adapter.list_instances() == []
    assert fake.sleeps == [7.0]


async def test_the_ratelimit_header_paces_the_next_request(make: Make) -> None:
    adapter, fake = make()
    headers = {"RateLimit": '"minute";r=0;t=12, "hour";r=2800;t=1812'}
    fake.routes[("GET", "/v2/pods")] = lambda request: httpx.Response(
        200, json={"pods": []}, headers=headers
    )
    await adapter.list_instances()
    assert fake.sleeps == []
    await adapter.list_instances()  # the minute's quota is used up: wait for it
    assert fake.sleeps == [12.0]


async def test_an_hour_long_quota_wait_is_an_error_without_sending(make: Make) -> None:
    adapter, fake = make()
    headers = {"RateLimit": '"minute";r=10;t=12, "hour";r=0;t=1812'}
    fake.routes[("GET", "/v2/pods")] = lambda request: httpx.Response(
        200, json={"pods": []}, headers=headers
    )
    await adapter.list_instances()
    with pytest.raises(RateLimited, match="quota is used up") as info:
        await adapter.list_instances()
    assert info.value.retry_after == pytest.approx(1812)
    assert len(fake.requests) == 1


async def test_the_key_never_shows(make: Make, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    adapter, fake = make()
    echo = {"title": "Unauthorized", "status": 401, "detail": f"bad bearer {KEY}"}
    fake.routes[("GET", "/v2/pods")] = (401, echo)
    fake.routes[("POST", "/v2/pods")] = (400, {"title": "x", "status": 400, "detail": KEY})
    errors: list[ProviderError] = []
    for call in (
        adapter.list_instances(),
        adapter.launch(spec_for(all_offers()["a40-secure-1@CA-MTL-1"])),
    ):
        with pytest.raises(ProviderError) as info:
            await call
        errors.append(info.value)
    for error in errors:
        assert KEY not in str(error) and KEY not in repr(error)
    assert KEY not in caplog.text
    assert KEY not in repr(adapter)


def test_pods_say_what_they_bill_for_the_spend_ledger() -> None:
    """v2's pod `cost` is "current cost in USD per hour" (0.0 once EXITED): the rate
    RunPod bills, so the ledger takes it as reported; a stopped pod keeps billing its
    volume at $0.20/GB-month, a documented rate, so that one is an estimate."""
    pods = {p.provider_id: p for p in parse_pods(load("v2_pods.json"), FIXED_NOW)}
    running, exited = pods["7h9k2m4n6p"], pods["5t6y7u8i9o"]
    assert running.price_per_hour == pytest.approx(0.44) and running.rate_reported
    assert exited.status == "stopped" and exited.price_per_hour == 0.0
    assert exited.stopped_per_hour == pytest.approx(20 * 0.20 / 730)
    assert not exited.stopped_reported
    no_cost = {**load("v2_pods.json")["pods"][0], "cost": None}
    assert not parse_pods({"pods": [no_cost]}, FIXED_NOW)[0].rate_reported
