"""RunPod adapter: GraphQL requests and fixture parsing (API_NOTES.md section 2), no network."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

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
    ProviderUnavailable,
    RateLimited,
    Unsupported,
)
from gpucm.providers.http import USER_AGENT
from gpucm.providers.runpod import (
    DEFAULT_CONTAINER_DISK_GB,
    DEFAULT_IMAGE,
    DEPLOY_MUTATION,
    GPU_TYPES_QUERY,
    META,
    PODS_QUERY,
    RESUME_MUTATION,
    STOP_MUTATION,
    TERMINATE_MUTATION,
    RunPodAdapter,
    ports_field,
)
from gpucm.providers.runpod_parse import (
    STATUS_TABLE,
    STORAGE_PRICE_PER_GB_MONTH,
    graphql_error,
    is_available,
    normalise_status,
    parse_offers,
    parse_pods,
    status_change_time,
)
from tests.conftest import FIXED_NOW, FIXTURES

FIX = FIXTURES / "runpod"
KEY = "test-key-runpod-123456"
URL = "https://api.runpod.io/graphql"
CATALOG = Catalog.builtin()


def load(name: str) -> Any:
    return json.loads((FIX / name).read_text())


def by_id(offers: list[Offer]) -> dict[str, Offer]:
    return {o.provider_id: o for o in offers}


Reply = tuple[int, Any]  # (status, JSON body | raw str)


@dataclass
class Server:
    """Serves queued replies in order and records every request."""

    replies: list[Reply]
    requests: list[httpx.Request] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.requests]


Make = Callable[..., tuple[RunPodAdapter, Server]]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    adapters: list[RunPodAdapter] = []

    def build(*replies: Reply) -> tuple[RunPodAdapter, Server]:
        server = Server(list(replies))
        adapter = RunPodAdapter(
            ProviderSettings(api_key=KEY),
            transport=httpx.MockTransport(server.handler),
            sleep=server.sleep,
            clock=fixed_clock(FIXED_NOW),
            rand=lambda: 0.5,
        )
        adapters.append(adapter)
        return adapter, server

    yield build
    for adapter in adapters:
        await adapter.aclose()


def assert_graphql_request(request: httpx.Request) -> None:
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    # Cloudflare answers some default library User-Agents with 403 (error 1010).
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["User-Agent"].startswith("gpucm/")
    assert request.headers["Content-Type"] == "application/json"


def offer_spec(offer: Offer, **kw: Any) -> LaunchSpec:
    return LaunchSpec(offer=offer, label=kw.pop("label", "gpucm-test"), request_id="req-1", **kw)


# -- offers --------------------------------------------------------------------------------


def test_gpu_types_fixture_offer_count_and_ids() -> None:
    offers = parse_offers(load("gpu_types.json"), FIXED_NOW)
    # Per type: (1, 2, 4, 8) capped by each cloud's max; clouds without a price skipped.
    assert len(offers) == 112
    assert len({o.id for o in offers}) == len(offers)
    ids = by_id(offers)
    assert {"rtx-4090-secure-1", "rtx-4090-community-8", "h100-sxm-secure-8"} <= ids.keys()
    assert all(o.id == f"runpod:{o.provider_id}" and o.provider == "runpod" for o in offers)
    # RTX 3090 secure max 4, L40S community max 4, H100 PCIe community max 2
    assert "rtx-3090-secure-8" not in ids
    assert "rtx-3090-secure-4" in ids
    assert "l40s-community-8" not in ids
    assert "l40s-community-4" in ids
    assert {k for k in ids if k.startswith("h100-pcie-community")} == {
        "h100-pcie-community-1",
        "h100-pcie-community-2",
    }
    # communityCloud false / price null: secure only
    assert not [k for k in ids if k.startswith(("a40-community", "h200-sxm-community"))]
    assert not [k for k in ids if k.startswith("mi300x-community")]


def test_gpu_types_fixture_values() -> None:
    ids = by_id(parse_offers(load("gpu_types.json"), FIXED_NOW))
    one = ids["rtx-4090-secure-1"]
    assert one.gpu_name == "RTX 4090"
    assert one.gpu_count == 1
    assert one.gpu_memory_gb == 24
    assert one.price_per_hour == pytest.approx(0.69)
    assert one.spot_price_per_hour == pytest.approx(0.35)
    assert one.storage_price_per_gb_month == STORAGE_PRICE_PER_GB_MONTH == 0.10
    assert (one.vcpus, one.ram_gb, one.storage_gb) == (5, 29, None)
    assert (one.region, one.country, one.reliability) == ("", None, None)
    assert one.verified is True
    assert one.available is True
    assert one.fetched_at == FIXED_NOW
    assert one.provider_data == {
        "gpu_type_id": "NVIDIA GeForce RTX 4090",
        "cloud_type": "SECURE",
        "gpu_count": 1,
    }

    eight = ids["rtx-4090-community-8"]
    assert eight.price_per_hour == pytest.approx(0.34 * 8)
    assert eight.spot_price_per_hour == pytest.approx(0.2 * 8)
    assert (eight.vcpus, eight.ram_gb) == (40, 232)
    assert eight.verified is False
    assert eight.provider_data["cloud_type"] == "COMMUNITY"

    h100 = ids["h100-sxm-secure-4"]
    assert h100.price_per_hour == pytest.approx(2.99 * 4)
    assert h100.provider_data["gpu_type_id"] == "NVIDIA H100 80GB HBM3"

    mi300 = ids["mi300x-secure-2"]
    assert mi300.spot_price_per_hour is None  # secureSpotPrice null
    assert mi300.price_per_hour == pytest.approx(4.98)


def test_gpu_types_fixture_availability() -> None:
    ids = by_id(parse_offers(load("gpu_types.json"), FIXED_NOW))
    # RTX 3090: Medium stock, availableGpuCounts [1, 2, 4]
    assert ids["rtx-3090-secure-4"].available
    assert not ids["rtx-3090-community-8"].available
    # RTX A5000: Low stock still counts as available, for counts 1 and 2 only
    assert ids["rtx-a5000-secure-2"].available
    assert not ids["rtx-a5000-secure-4"].available
    # L4: stockStatus null -> nothing available, and no CPU/RAM figures
    l4 = [o for k, o in ids.items() if k.startswith("l4-")]
    assert len(l4) == 8
    assert not any(o.available for o in l4)
    assert all(o.vcpus is None and o.ram_gb is None for o in l4)


def test_every_offer_resolves_to_the_expected_catalog_model() -> None:
    expected = {
        "RTX 4090": "RTX 4090",
        "RTX 3090": "RTX 3090",
        "RTX A6000": "RTX A6000",
        "RTX A5000": "RTX A5000",
        "A40": "A40",
        "L40S": "L40S",
        "RTX 6000 Ada": "RTX 6000 Ada",
        "A100 PCIe": "A100 80GB PCIe",
        "A100 SXM": "A100 80GB SXM",
        "H100 PCIe": "H100 PCIe",
        "H100 SXM": "H100",
        "H100 NVL": "H100 NVL",
        "H200 SXM": "H200 SXM",
        "RTX 5090": "RTX 5090",
        "L4": "L4",
        "MI300X": "MI300X",
    }
    offers = parse_offers(load("gpu_types.json"), FIXED_NOW)
    assert {o.gpu_name for o in offers} == expected.keys()
    for offer in offers:
        model = CATALOG.resolve(offer.gpu_name, offer.gpu_memory_gb)
        assert model.name == expected[offer.gpu_name], offer.provider_id
    # the adapter leaves the canonical fields to domain.normalize
    assert all(o.gpu_model == "" and o.performance is None for o in offers)


def test_docs_fixtures_without_prices_give_no_offers() -> None:
    # The docs' "list GPU types" and "availability" examples carry no per-cloud prices:
    # nothing can be launched from them, but neither is an error.
    assert parse_offers(load("gpu_types_basic.json"), FIXED_NOW) == []
    availability = load("gpu_type_availability.json")
    assert parse_offers(availability, FIXED_NOW) == []
    lowest = availability["data"]["gpuTypes"][0]["lowestPrice"]
    assert [n for n in (1, 2, 3, 4, 8) if is_available(lowest, n)] == [1, 2, 4]
    # the basic fixture's names still resolve through the catalog
    for row in load("gpu_types_basic.json")["data"]["gpuTypes"]:
        model = CATALOG.resolve(row["displayName"], row["memoryInGb"])
        assert model.name == row["displayName"]


def test_v2_catalog_names_agree_with_graphql_display_names() -> None:
    gpu = load("catalog_gpus_v2.json")["gpus"][0]
    graphql = {r["id"]: r for r in load("gpu_types.json")["data"]["gpuTypes"]}
    assert graphql[gpu["id"]]["displayName"] == gpu["name"]
    # a v2 REST body is not a GraphQL answer: a clear BadResponse, not a KeyError
    with pytest.raises(BadResponse, match="data"):
        parse_offers(load("catalog_gpus_v2.json"), FIXED_NOW)


def test_unknown_placeholder_and_malformed_rows_are_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = load("gpu_types.json")
    rows = body["data"]["gpuTypes"]
    good = copy.deepcopy(rows[0])
    placeholder = {**copy.deepcopy(rows[0]), "id": "unknown", "displayName": "unknown"}
    no_id = {**copy.deepcopy(rows[1]), "id": None}
    weird = copy.deepcopy(rows[2])
    weird.update(
        memoryInGb="lots",
        securePrice="0.49",  # numeric string: accepted
        communityPrice=True,  # a bool is not a price
        secureSpotPrice=float("nan"),
        maxGpuCountSecureCloud=None,
        maxGpuCount=None,
        lowestPrice=["not", "an", "object"],
    )
    body["data"]["gpuTypes"] = [good, placeholder, no_id, "junk", 42, None, weird]
    with caplog.at_level(logging.DEBUG, logger="gpucm.providers.runpod_parse"):
        offers = parse_offers(body, FIXED_NOW)
    ids = by_id(offers)
    assert not [k for k in ids if k.startswith("unknown")]
    assert not [o for o in offers if o.gpu_name == "RTX 3090"]
    a6000 = [o for o in offers if o.gpu_name == "RTX A6000"]
    # no max count known: one GPU (the count the price was quoted for), secure only
    assert [o.provider_id for o in a6000] == ["rtx-a6000-secure-1"]
    assert a6000[0].price_per_hour == pytest.approx(0.49)
    assert a6000[0].gpu_memory_gb is None
    assert a6000[0].spot_price_per_hour is None
    assert a6000[0].available is False  # no stock information
    assert "placeholder" in caplog.text
    assert "no `id`" in caplog.text


def test_zero_prices_and_missing_counts() -> None:
    body = load("gpu_types.json")
    row = body["data"]["gpuTypes"][0]
    row.update(securePrice=0, communityPrice=None)
    row["lowestPrice"].pop("availableGpuCounts")
    body["data"]["gpuTypes"] = [row]
    assert parse_offers(body, FIXED_NOW) == []
    row.update(communityPrice=0.34)
    offers = parse_offers(body, FIXED_NOW)
    assert [o.provider_id for o in offers] == [f"rtx-4090-community-{n}" for n in (1, 2, 4, 8)]
    assert all(o.available for o in offers)  # High stock and no count list


def test_display_name_collision_falls_back_to_type_id_slugs() -> None:
    body = load("gpu_types.json")
    a, b = copy.deepcopy(body["data"]["gpuTypes"][0]), copy.deepcopy(body["data"]["gpuTypes"][1])
    b["displayName"] = "RTX 4090"
    c = copy.deepcopy(body["data"]["gpuTypes"][2])
    c["displayName"] = None
    body["data"]["gpuTypes"] = [a, b, c]
    ids = by_id(parse_offers(body, FIXED_NOW))
    assert "nvidia-geforce-rtx-4090-secure-1" in ids
    assert "nvidia-geforce-rtx-3090-secure-1" in ids
    assert not [k for k in ids if k.startswith("rtx-4090-")]
    assert "nvidia-rtx-a6000-secure-1" in ids  # no display name: the id, as name and slug
    assert ids["nvidia-rtx-a6000-secure-1"].gpu_name == "NVIDIA RTX A6000"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ([], "a list"),
        ("text", "a str"),
        ({}, "`data`"),
        ({"data": None}, "`data`"),
        ({"data": {}}, "data.gpuTypes"),
        ({"data": {"gpuTypes": {"id": "x"}}}, "data.gpuTypes"),
    ],
)
def test_wrong_shape_offer_bodies_raise_bad_response(body: Any, needle: str) -> None:
    with pytest.raises(BadResponse) as info:
        parse_offers(body, FIXED_NOW)
    assert needle in info.value.message


async def test_fetch_offers_sends_the_recorded_request(make: Make) -> None:
    adapter, server = make((200, load("gpu_types.json")))
    offers = await adapter.fetch_offers()
    assert len(offers) == 112
    assert len(server.requests) == 1
    assert_graphql_request(server.requests[0])
    assert server.bodies()[0] == load("gpu_types_request.json")
    assert server.bodies()[0]["query"] == GPU_TYPES_QUERY


async def test_requests_go_to_the_exact_endpoint_without_a_trailing_slash() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"data": {"gpuTypes": []}})

    adapter = RunPodAdapter(
        ProviderSettings(api_key=KEY, base_url="http://127.0.0.1:8123/graphql/"),
        transport=httpx.MockTransport(handler),
    )
    try:
        assert await adapter.fetch_offers() == []
    finally:
        await adapter.aclose()
    assert seen == ["http://127.0.0.1:8123/graphql"]


async def test_adapter_satisfies_protocols(make: Make) -> None:
    adapter, _ = make((200, {}))
    assert isinstance(adapter, OfferSource)
    assert isinstance(adapter, InstanceControl)
    assert adapter.name == "runpod"
    assert adapter.meta is META
    assert META.capabilities.stop_start
    assert not META.capabilities.restart
    assert not META.capabilities.logs


# -- quote ----------------------------------------------------------------------------------


def single_type(count: int, **lowest: Any) -> dict[str, Any]:
    """The gpuTypes answer filtered to RTX 3090, lowestPrice asked for `count` GPUs."""
    row = copy.deepcopy(load("gpu_types.json")["data"]["gpuTypes"][1])
    row["lowestPrice"].update(lowest)
    return {"data": {"gpuTypes": [row]}}


async def test_quote_requeries_the_one_type_for_the_offer_count(make: Make) -> None:
    offer = by_id(parse_offers(load("gpu_types.json"), FIXED_NOW))["rtx-3090-community-4"]
    adapter, server = make(
        (200, single_type(4, minVcpu=16, minMemory=100, countryCode="CZ", availableGpuCounts=[4]))
    )
    quoted = await adapter.quote(offer)
    assert quoted is not None
    assert (quoted.id, quoted.provider_id) == (offer.id, offer.provider_id)
    assert quoted.price_per_hour == pytest.approx(0.88)
    # lowestPrice was asked for 4 GPUs: its CPU and RAM figures are for the whole pod
    assert (quoted.vcpus, quoted.ram_gb, quoted.country) == (16, 100, "CZ")
    assert quoted.provider_data == offer.provider_data
    assert_graphql_request(server.requests[0])
    sent = server.bodies()[0]
    assert sent["query"] == GPU_TYPES_QUERY
    assert sent["variables"] == {
        "gpuTypesInput": {"id": "NVIDIA GeForce RTX 3090"},
        "lowestPriceInput": {
            "gpuCount": 4,
            "secureCloud": False,
            "minDisk": None,
            "minMemoryInGb": None,
            "minVcpuCount": None,
        },
    }


async def test_quote_keeps_a_collision_fallback_id(make: Make) -> None:
    offer = by_id(parse_offers(load("gpu_types.json"), FIXED_NOW))["rtx-3090-secure-1"]
    offer = offer.model_copy(
        update={"provider_id": "nvidia-geforce-rtx-3090-secure-1", "id": "runpod:x"}
    )
    adapter, server = make((200, single_type(1)))
    quoted = await adapter.quote(offer)
    assert quoted is not None
    assert quoted.provider_id == "nvidia-geforce-rtx-3090-secure-1"
    assert server.bodies()[0]["variables"]["lowestPriceInput"]["secureCloud"] is True


@pytest.mark.parametrize(
    "reply",
    [
        single_type(4, stockStatus=None),
        single_type(4, availableGpuCounts=[1, 2]),
        {"data": {"gpuTypes": []}},
        {"data": {"gpuTypes": [{**single_type(4)["data"]["gpuTypes"][0], "communityPrice": None}]}},
        {
            "data": {
                "gpuTypes": [
                    {**single_type(4)["data"]["gpuTypes"][0], "maxGpuCountCommunityCloud": 2}
                ]
            }
        },
    ],
    ids=["out-of-stock", "count-unavailable", "type-gone", "cloud-gone", "count-over-max"],
)
async def test_quote_returns_none_when_gone(make: Make, reply: Any) -> None:
    offer = by_id(parse_offers(load("gpu_types.json"), FIXED_NOW))["rtx-3090-community-4"]
    adapter, _ = make((200, reply))
    assert await adapter.quote(offer) is None


async def test_quote_refuses_an_offer_without_launch_data(make: Make) -> None:
    offer = parse_offers(load("gpu_types.json"), FIXED_NOW)[0]
    adapter, server = make((200, {}))
    with pytest.raises(InvalidRequest, match="refresh"):
        await adapter.quote(offer.model_copy(update={"provider_data": {}}))
    assert server.requests == []


# -- launch ---------------------------------------------------------------------------------


async def test_launch_sends_variables_and_parses_the_deploy_fixture(make: Make) -> None:
    offer = by_id(parse_offers(load("gpu_types.json"), FIXED_NOW))["rtx-4090-secure-2"]
    adapter, server = make((200, load("deploy_pod.json")))
    spec = offer_spec(
        offer,
        image="runpod/tensorflow",
        environment=(("JUPYTER_PASSWORD", "s3cret"), ("HF_HOME", "/workspace/hf")),
        ports=((8888, "http"), (6006, "tcp")),
        disk_gb=50.5,
    )
    instance = await adapter.launch(spec)

    assert_graphql_request(server.requests[0])
    sent = server.bodies()[0]
    assert sent["query"] == DEPLOY_MUTATION
    assert "podFindAndDeployOnDemand(input: $input)" in sent["query"]
    assert sent["variables"] == {
        "input": {
            "cloudType": "SECURE",
            "gpuTypeId": "NVIDIA GeForce RTX 4090",
            "gpuCount": 2,
            "name": "gpucm-test",
            "imageName": "runpod/tensorflow",
            "containerDiskInGb": 51,
            "volumeInGb": 0,
            "ports": "8888/http,6006/tcp,22/tcp",
            "env": [
                {"key": "JUPYTER_PASSWORD", "value": "s3cret"},
                {"key": "HF_HOME", "value": "/workspace/hf"},
            ],
            "startSsh": True,
            "supportPublicIp": True,
        }
    }
    assert instance.id == "runpod:50qynxzilsxoey"
    assert instance.provider == "runpod"
    assert instance.provider_id == "50qynxzilsxoey"
    assert instance.status == "provisioning"
    assert instance.name == "gpucm-test"
    assert instance.image == "runpod/tensorflow"
    assert (instance.gpu_name, instance.gpu_count) == ("RTX 4090", 2)
    assert instance.price_per_hour == pytest.approx(1.38)
    assert instance.offer_id == offer.id
    assert instance.request_id == "req-1"
    assert instance.created_at == FIXED_NOW
    assert instance.ssh_user == "root"
    assert instance.provider_data["machine_id"] == "hpvdausak8xb"
    assert instance.provider_data["pod_host_id"] == "50qynxzilsxoey-64410065"
    assert "s3cret" not in repr(instance)
    assert "s3cret" not in repr(spec)


async def test_launch_defaults(make: Make) -> None:
    offer = by_id(parse_offers(load("gpu_types.json"), FIXED_NOW))["a40-secure-1"]
    adapter, server = make((200, load("deploy_pod.json")))
    await adapter.launch(offer_spec(offer))
    sent = server.bodies()[0]["variables"]["input"]
    assert sent["imageName"] == DEFAULT_IMAGE
    assert sent["containerDiskInGb"] == DEFAULT_CONTAINER_DISK_GB
    assert sent["ports"] == "22/tcp"
    assert sent["env"] == []


async def test_label_with_quotes_cannot_inject(make: Make) -> None:
    offer = by_id(parse_offers(load("gpu_types.json"), FIXED_NOW))["a40-secure-1"]
    nasty = 'x" }) { id } mutation Evil { podTerminate(input: {podId: "all"}) } #\\'
    adapter, server = make((200, load("deploy_pod.json")))
    await adapter.launch(offer_spec(offer, label=nasty, image='img"\\'))
    sent = server.bodies()[0]
    assert sent["query"] == DEPLOY_MUTATION
    assert sent["variables"]["input"]["name"] == nasty
    assert sent["variables"]["input"]["imageName"] == 'img"\\'


def test_ports_field() -> None:
    assert ports_field(()) == "22/tcp"
    assert ports_field(((22, "tcp"), (8888, "HTTP"), (8888, "http"))) == "22/tcp,8888/http"
    with pytest.raises(InvalidRequest, match="HTTP and TCP"):
        ports_field(((5000, "udp"),))


@pytest.mark.parametrize(
    "change",
    [
        {"provider_data": {}},
        {"provider_data": {"gpu_type_id": "X", "cloud_type": "ALL", "gpu_count": 1}},
        {"provider_data": {"gpu_type_id": "X", "cloud_type": "SECURE", "gpu_count": True}},
    ],
)
async def test_launch_refuses_offers_without_launch_data(make: Make, change: Any) -> None:
    offer = parse_offers(load("gpu_types.json"), FIXED_NOW)[0].model_copy(update=change)
    adapter, server = make((200, load("deploy_pod.json")))
    with pytest.raises(InvalidRequest, match="refresh"):
        await adapter.launch(offer_spec(offer))
    assert server.requests == []


async def test_launch_refuses_an_onstart_script(make: Make) -> None:
    offer = parse_offers(load("gpu_types.json"), FIXED_NOW)[0]
    adapter, server = make((200, load("deploy_pod.json")))
    with pytest.raises(InvalidRequest, match="on-start"):
        await adapter.launch(offer_spec(offer, onstart_script="echo hi"))
    assert server.requests == []


async def test_launch_capacity_error_fixture(make: Make) -> None:
    offer = parse_offers(load("gpu_types.json"), FIXED_NOW)[0]
    adapter, server = make((200, load("error_no_instances.json")))
    with pytest.raises(CapacityError) as info:
        await adapter.launch(offer_spec(offer))
    assert "no longer any instances available" in info.value.message
    assert len(server.requests) == 1
    assert server.sleeps == []


async def test_launch_without_pod_id_is_a_bad_response(make: Make) -> None:
    offer = parse_offers(load("gpu_types.json"), FIXED_NOW)[0]
    adapter, _ = make((200, {"data": {"podFindAndDeployOnDemand": {"imageName": "x"}}}))
    with pytest.raises(BadResponse, match="console"):
        await adapter.launch(offer_spec(offer))


async def test_launch_5xx_is_not_retried(make: Make) -> None:
    offer = parse_offers(load("gpu_types.json"), FIXED_NOW)[0]
    adapter, server = make((502, "<html>bad gateway</html>"))
    with pytest.raises(ProviderUnavailable):
        await adapter.launch(offer_spec(offer))
    assert len(server.requests) == 1


# -- pods -----------------------------------------------------------------------------------


async def test_list_instances_parses_the_pods_fixture(make: Make) -> None:
    adapter, server = make((200, load("pods.json")))
    pods = {p.provider_id: p for p in await adapter.list_instances()}
    assert_graphql_request(server.requests[0])
    assert server.bodies()[0] == {"query": PODS_QUERY, "variables": {}}
    assert "env" not in PODS_QUERY.split()  # env values are the user's secrets

    running = pods["ldl1dxirsim64n"]
    assert running.id == "runpod:ldl1dxirsim64n"
    assert (running.status, running.raw_status) == ("running", "RUNNING")
    assert running.name == "Runpod Pytorch"
    assert (running.gpu_name, running.gpu_count) == ("RTX 4090", 1)
    assert running.price_per_hour == pytest.approx(0.69)
    assert (running.cpu_count, running.ram_gb, running.storage_gb) == (6, 31, 70)
    assert running.image == "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
    assert (running.ssh_host, running.ssh_port, running.ssh_user) == (
        "213.173.108.12",
        14122,
        "root",
    )
    assert running.public_ip == "213.173.108.12"
    assert running.started_at == FIXED_NOW - timedelta(seconds=3931)
    assert running.updated_at == datetime(2025, 10, 21, 14, 2, 11, tzinfo=UTC)
    assert running.provider_data == {
        "machine_id": "hpvdausak8xb",
        "pod_type": "RESERVED",
        "ports": "8888/http,22/tcp",
    }
    assert "rn51hunbpgtltcpac3ol" not in repr(running)  # JUPYTER_PASSWORD from env

    starting = pods["7x2kqv0m4c1n9p"]
    assert (starting.status, starting.raw_status) == ("provisioning", "RUNNING")
    assert starting.gpu_count == 8
    assert starting.price_per_hour == pytest.approx(23.92)
    assert starting.ssh_host is None
    assert starting.ssh_user is None
    assert starting.started_at is None

    stopped = pods["qz9w1e0rtb7a3s"]
    assert (stopped.status, stopped.raw_status) == ("stopped", "EXITED")
    assert stopped.gpu_name == "RTX A6000"
    assert stopped.provider_data["pod_type"] == "INTERRUPTABLE"


def test_pods_tolerate_strings_nulls_and_junk(caplog: pytest.LogCaptureFixture) -> None:
    body = load("pods.json")
    pods = body["data"]["myself"]["pods"]
    pods[0]["costPerHr"] = "0.74"
    pods[0]["runtime"]["ports"][1]["isIpPublic"] = False  # no public SSH
    pods[1].update(gpuCount=None, machine=None, costPerHr=None, lastStatusChange=None)
    pods[2]["desiredStatus"] = "TERMINATED"
    pods.extend([{"name": "no id"}, "junk", {"id": "v2pod", "status": "STARTING"}])
    with caplog.at_level(logging.DEBUG, logger="gpucm.providers.runpod_parse"):
        result = {p.provider_id: p for p in parse_pods(body, FIXED_NOW)}
    assert set(result) == {"ldl1dxirsim64n", "7x2kqv0m4c1n9p", "qz9w1e0rtb7a3s", "v2pod"}
    assert result["ldl1dxirsim64n"].price_per_hour == pytest.approx(0.74)
    assert result["ldl1dxirsim64n"].ssh_host is None
    assert result["ldl1dxirsim64n"].public_ip is None
    second = result["7x2kqv0m4c1n9p"]
    assert (second.gpu_count, second.gpu_name, second.price_per_hour) == (0, None, None)
    assert second.updated_at is None
    assert result["qz9w1e0rtb7a3s"].status == "terminated"
    assert result["v2pod"].status == "provisioning"
    assert "skipping pods[3]" in caplog.text
    assert "skipping pods[4]" in caplog.text


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"data": {"myself": None}}, "data.myself"),
        ({"data": {"myself": {}}}, "data.myself.pods"),
        ({"data": {"myself": {"pods": {}}}}, "an object"),
        ([{"id": "x"}], "a list"),
    ],
)
def test_wrong_shape_pod_bodies_raise_bad_response(body: Any, needle: str) -> None:
    with pytest.raises(BadResponse) as info:
        parse_pods(body, FIXED_NOW)
    assert needle in info.value.message


def test_null_pod_list_is_empty() -> None:
    assert parse_pods({"data": {"myself": {"pods": None}}}, FIXED_NOW) == []


@pytest.mark.parametrize(
    ("raw", "runtime_up", "expected"),
    [
        ("RUNNING", True, "running"),
        ("RUNNING", False, "provisioning"),
        ("EXITED", True, "stopped"),
        ("TERMINATED", True, "terminated"),
        ("PROVISIONING", False, "provisioning"),
        ("STARTING", False, "provisioning"),
        ("ERROR", False, "error"),
        ("CREATED", False, "provisioning"),
        ("RESTARTING", True, "provisioning"),
        ("PAUSED", False, "stopped"),
        ("DEAD", False, "error"),
        ("running", True, "running"),
        (None, False, "provisioning"),
        ("SOMETHING_NEW", True, "error"),
    ],
)
def test_normalise_status(raw: str | None, runtime_up: bool, expected: str) -> None:
    assert normalise_status(raw, runtime_up=runtime_up) == expected


def test_status_table_covers_api_notes() -> None:
    for raw in ("RUNNING", "EXITED", "TERMINATED", "PROVISIONING", "STARTING", "ERROR"):
        assert raw in STATUS_TABLE


def test_status_change_time() -> None:
    assert status_change_time("Exited by user: Wed Oct 22 2025 18:20:03 GMT-0130 (x)") == (
        datetime(2025, 10, 22, 19, 50, 3, tzinfo=UTC)
    )
    assert status_change_time("Rented by User: Foo Bar 99 2025 10:00:00 GMT+0000") is None
    assert status_change_time(12) is None


async def test_stop_sends_pod_stop(make: Make) -> None:
    adapter, server = make((200, load("stop_pod.json")))
    await adapter.stop("YOUR_POD_ID")
    assert_graphql_request(server.requests[0])
    assert server.bodies()[0] == {
        "query": STOP_MUTATION,
        "variables": {"input": {"podId": "YOUR_POD_ID"}},
    }


async def test_start_resumes_with_the_pods_gpu_count(make: Make) -> None:
    adapter, server = make((200, load("pods.json")), (200, load("resume_pod.json")))
    await adapter.start("7x2kqv0m4c1n9p")
    assert [b["query"] for b in server.bodies()] == [PODS_QUERY, RESUME_MUTATION]
    assert server.bodies()[1]["variables"] == {"input": {"podId": "7x2kqv0m4c1n9p", "gpuCount": 8}}
    for request in server.requests:
        assert_graphql_request(request)


async def test_start_falls_back_to_one_gpu(make: Make) -> None:
    adapter, server = make((200, load("pods.json")), (200, load("resume_pod.json")))
    await adapter.start("YOUR_POD_ID")
    assert server.bodies()[1]["variables"] == {"input": {"podId": "YOUR_POD_ID", "gpuCount": 1}}


async def test_terminate_sends_pod_terminate(make: Make) -> None:
    adapter, server = make((200, load("terminate_pod.json")))
    await adapter.terminate("50qynxzilsxoey")
    assert_graphql_request(server.requests[0])
    assert server.bodies()[0] == {
        "query": TERMINATE_MUTATION,
        "variables": {"input": {"podId": "50qynxzilsxoey"}},
    }


async def test_mutation_without_its_field_is_a_bad_response(make: Make) -> None:
    adapter, _ = make((200, {"data": {}}))
    with pytest.raises(BadResponse, match="podStop"):
        await adapter.stop("abc")


async def test_restart_and_logs_are_unsupported(make: Make) -> None:
    adapter, server = make((200, {}))
    with pytest.raises(Unsupported, match="stop the pod, then start it"):
        await adapter.restart("abc")
    with pytest.raises(Unsupported, match="no logs endpoint"):
        await adapter.logs("abc")
    assert server.requests == []


# -- errors ---------------------------------------------------------------------------------


def errors_body(message: str, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "path": ["x"]}
    if code:
        error["extensions"] = {"code": code}
    return {"errors": [error], "data": None}


@pytest.mark.parametrize(
    ("reply", "error_type", "needle"),
    [
        ((200, load("error_no_instances.json")), CapacityError, "no longer any instances"),
        (
            (
                200,
                errors_body(
                    "There are not enough free GPUs on the host machine to start this pod."
                ),
            ),
            CapacityError,
            "not enough free GPUs",
        ),
        ((200, errors_body("Unauthorized")), AuthError, "RUNPOD_API_KEY"),
        ((200, errors_body("Denied", "UNAUTHENTICATED")), AuthError, "Denied"),
        ((401, "Unauthorized"), AuthError, "RUNPOD_API_KEY"),
        ((403, "<html>error code: 1010</html>"), AuthError, "HTTP 403"),
        ((401, errors_body("Something else")), AuthError, "HTTP 401"),
        (
            (
                200,
                errors_body("Something went wrong. Please try again later or contact support."),
            ),
            ProviderUnavailable,
            "try again later",
        ),
        ((200, errors_body("pod not found to stop")), NotFound, "pod not found"),
        ((200, errors_body("Field 'foo' is not defined")), InvalidRequest, "Field 'foo'"),
        ((400, errors_body("Variable $input got invalid value")), InvalidRequest, "invalid"),
        ((500, errors_body("Unexpected token")), ProviderUnavailable, "HTTP 500"),
        ((404, "nope"), NotFound, "HTTP 404"),
    ],
)
async def test_error_mapping(
    make: Make, reply: Reply, error_type: type[ProviderError], needle: str
) -> None:
    adapter, _ = make(reply)
    with pytest.raises(error_type) as info:
        await adapter.stop("abc")
    assert needle in str(info.value)
    assert type(info.value) is error_type


def test_graphql_error_without_errors_is_none() -> None:
    assert graphql_error({"data": {}}, 200) is None
    assert graphql_error({"errors": []}, 200) is None
    assert graphql_error([], 200) is None
    error = graphql_error({"errors": "flat string"}, 200)
    assert isinstance(error, InvalidRequest)
    assert "flat string" in error.message


async def test_errors_win_over_partial_data(make: Make) -> None:
    body = load("gpu_types.json")
    body["errors"] = [{"message": "Something went wrong. Please try again later."}]
    adapter, _ = make((200, body))
    with pytest.raises(ProviderUnavailable):
        await adapter.fetch_offers()


async def test_rate_limit_is_retried_with_backoff_then_raised(make: Make) -> None:
    adapter, server = make((429, "API rate limit"))
    with pytest.raises(RateLimited):
        await adapter.fetch_offers()
    assert len(server.requests) == 4
    assert server.sleeps == [0.5, 1.0, 2.0]


async def test_a_transient_502_then_success(make: Make) -> None:
    adapter, server = make((502, "bad gateway"), (200, load("gpu_types.json")))
    assert len(await adapter.fetch_offers()) == 112
    assert len(server.requests) == 2
    assert len(server.sleeps) == 1


@pytest.mark.parametrize(
    ("reply", "needle"),
    [
        ((200, "{not json"), "not JSON"),
        ((200, ""), "empty body"),
        ((200, [1, 2]), "a list"),
        ((200, {"data": None}), "`data`"),
    ],
)
async def test_unreadable_offer_answers(make: Make, reply: Reply, needle: str) -> None:
    adapter, _ = make(reply)
    with pytest.raises(BadResponse) as info:
        await adapter.fetch_offers()
    assert needle in str(info.value)


# -- the key never leaks ---------------------------------------------------------------------


async def test_api_key_never_appears_in_errors_reprs_or_logs(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    offer = parse_offers(load("gpu_types.json"), FIXED_NOW)[0]
    caplog.set_level(logging.DEBUG)
    cases: list[Reply] = [
        (200, errors_body(f"Invalid api key {KEY}")),
        (200, errors_body(f"Bad value {KEY} for input")),
        (401, f"key {KEY} rejected"),
        (500, f"<pre>{KEY}</pre>"),
        (200, f"oops {KEY}"),
        (429, f"slow down {KEY}"),
    ]
    seen: list[str] = []
    for reply in cases:
        adapter, _ = make(reply)
        seen.append(repr(adapter))
        for call in (
            adapter.fetch_offers(),
            adapter.launch(offer_spec(offer)),
            adapter.stop("abc"),
        ):
            with pytest.raises(ProviderError) as info:
                await call
            seen += [str(info.value), repr(info.value), info.value.message]
    joined = "\n".join(seen)
    assert "***" in joined
    assert KEY not in joined
    assert KEY not in caplog.text
    for record in caplog.records:
        assert KEY not in record.getMessage()
