"""Lambda Cloud adapter: fixtures -> domain objects, the requests it sends, its errors,
pacing and robustness. No network: httpx.MockTransport and recorded fixtures only."""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from gpucm.config import ProviderSettings
from gpucm.domain.catalog import Catalog
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
from gpucm.providers.lambdalabs import META, LambdaLabsAdapter
from gpucm.providers.lambdalabs_parse import (
    STATUS_TABLE,
    normalise_status,
    parse_gpu_description,
    parse_instances,
    parse_offers,
)
from tests.conftest import FIXED_NOW

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers" / "lambda"
KEY = "test-key-lambda-123456"
BASE = "https://cloud.lambda.ai/api/v1"
CATALOG = Catalog.builtin()


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# --- a scripted Lambda ---------------------------------------------------------------------

Reply = tuple[int, Any]


@dataclass
class FakeLambda:
    """Answers by (method, path); records every request and the fake time it arrived."""

    routes: dict[tuple[str, str], Reply | list[Reply] | Callable[[httpx.Request], Reply]] = field(
        default_factory=dict
    )
    requests: list[httpx.Request] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(self.now)
        path = request.url.path.removeprefix("/api/v1")
        route = self.routes.get((request.method, path))
        if route is None:
            return httpx.Response(404, json={"error": {"code": "test/no-route"}})
        if callable(route):
            status, body = route(request)
        elif isinstance(route, list):
            status, body = route.pop(0) if len(route) > 1 else route[0]
        else:
            status, body = route
        if isinstance(body, str | bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == "/api/v1" + path]


def make(fake: FakeLambda, settings: ProviderSettings | None = None) -> LambdaLabsAdapter:
    return LambdaLabsAdapter(
        settings or ProviderSettings(api_key=KEY),
        transport=httpx.MockTransport(fake.handler),
        sleep=fake.sleep,
        monotonic=fake.monotonic,
        rand=lambda: 0.5,
        clock=lambda: FIXED_NOW,
    )


@pytest.fixture
def fake() -> FakeLambda:
    return FakeLambda()


@pytest.fixture
async def adapter(fake: FakeLambda) -> AsyncIterator[LambdaLabsAdapter]:
    made = make(fake)
    yield made
    await made.aclose()


def offers_by_id() -> dict[str, Offer]:
    return {o.id: o for o in parse_offers(load("instance_types.json"), FIXED_NOW)}


def spec_for(offer: Offer, **kw: Any) -> LaunchSpec:
    values: dict[str, Any] = {"label": "sft-h100", "request_id": "req-1"}
    values.update(kw)
    return LaunchSpec(offer=offer, **values)


# --- meta ----------------------------------------------------------------------------------


def test_meta_and_protocols() -> None:
    caps = META.capabilities
    assert (caps.stop_start, caps.restart, caps.ssh_key_per_launch) == (False, True, True)
    assert not (caps.container_image)
    assert not (caps.env_vars)
    assert not (caps.port_mapping)
    assert not (caps.logs)
    assert not (caps.spot)
    assert not (caps.storage_billed_separately)
    adapter = make(FakeLambda())
    assert isinstance(adapter, OfferSource)
    assert isinstance(adapter, InstanceControl)
    assert adapter.name == "lambda_labs"
    assert (adapter.request_interval, adapter.launch_interval) == (1.0, 12.0)


# --- offers --------------------------------------------------------------------------------


def test_instance_types_fixture_parses_to_offers() -> None:
    offers = parse_offers(load("instance_types.json"), FIXED_NOW)
    by_id = {o.id: o for o in offers}
    assert len(by_id) == len(offers) == 36  # 27 (type, region) pairs + 9 sold-out types
    assert sum(o.available for o in offers) == 27
    # Lambda says yes or no per region: yes is medium (depth unknown), no is none
    assert {o.availability for o in offers if o.available} == {"medium"}
    assert {o.availability for o in offers if not o.available} == {"none"}

    h100 = by_id["lambda_labs:gpu_8x_h100_sxm5@us-south-2"]
    assert h100.provider == "lambda_labs"
    assert h100.provider_id == "gpu_8x_h100_sxm5@us-south-2"
    assert h100.gpu_name == "H100 (80 GB SXM5)"
    assert (h100.gpu_count, h100.gpu_memory_gb) == (8, 80.0)
    assert h100.price_per_hour == pytest.approx(23.92)
    assert h100.price_per_gpu_hour == pytest.approx(2.99)
    assert (h100.vcpus, h100.ram_gb, h100.storage_gb) == (208.0, 1800.0, 22528.0)
    assert h100.region == "us-south-2"
    assert h100.available
    assert h100.verified is True
    assert h100.reliability is None
    assert h100.spot_price_per_hour is None
    assert h100.storage_price_per_gb_month is None
    assert h100.fetched_at == FIXED_NOW
    assert h100.gpu_model == ""
    assert h100.performance is None
    assert h100.provider_data == {
        "instance_type": "gpu_8x_h100_sxm5",
        "region": "us-south-2",
        "region_description": "North Texas, USA",
    }
    json.dumps([o.provider_data for o in offers])

    regions = sorted(o.region for o in offers if o.provider_data["instance_type"] == "gpu_8x_a100")
    assert regions == sorted(
        [
            "us-west-1",
            "us-east-1",
            "me-west-1",
            "asia-northeast-1",
            "asia-northeast-2",
            "us-west-2",
            "europe-central-1",
        ]
    )

    gone = by_id["lambda_labs:gpu_1x_rtx6000"]
    assert (gone.available, gone.region, gone.price_per_hour) == (False, "", 0.5)
    assert (gone.gpu_count, gone.gpu_memory_gb, gone.vcpus) == (1, 24.0, 14.0)
    assert gone.provider_data == {"instance_type": "gpu_1x_rtx6000", "region": ""}
    v100 = by_id["lambda_labs:gpu_8x_v100"]
    assert (v100.available, v100.gpu_count, v100.price_per_hour) == (False, 8, 4.4)

    assert not any("cpu_" in o.provider_id for o in offers)


@pytest.mark.parametrize(
    ("instance_type", "model", "memory"),
    [
        ("gpu_1x_gh200", "GH200", 96),
        ("gpu_8x_b200_sxm6", "B200", 180),
        ("gpu_8x_h100_sxm5", "H100", 80),
        ("gpu_1x_h100_sxm5", "H100", 80),
        ("gpu_1x_h100_pcie", "H100 PCIe", 80),
        ("gpu_8x_a100_80gb_sxm4", "A100 80GB SXM", 80),
        ("gpu_1x_a10", "A10", 24),
        ("gpu_1x_rtx6000", "Quadro RTX 6000", 24),
        ("gpu_1x_a100", "A100 40GB PCIe", 40),
        ("gpu_1x_a100_sxm4", "A100 40GB SXM", 40),
        ("gpu_8x_a100", "A100 40GB SXM", 40),
        ("gpu_4x_a6000", "RTX A6000", 48),
        ("gpu_8x_v100", "V100 16GB", 16),
    ],
)
def test_every_offer_resolves_to_the_catalog_model(
    instance_type: str, model: str, memory: float
) -> None:
    offers = [
        o
        for o in parse_offers(load("instance_types.json"), FIXED_NOW)
        if o.provider_data["instance_type"] == instance_type
    ]
    assert offers
    for offer in offers:
        assert offer.gpu_memory_gb == memory
        assert CATALOG.resolve(offer.gpu_name, offer.gpu_memory_gb).name == model


def test_every_fixture_offer_is_a_known_gpu() -> None:
    for offer in parse_offers(load("instance_types.json"), FIXED_NOW):
        assert not CATALOG.resolve(offer.gpu_name, offer.gpu_memory_gb).is_unknown, offer.id


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("H100 (80 GB SXM5)", ("H100 (80 GB SXM5)", 80.0)),
        ("Tesla V100 (16 GB)", ("Tesla V100 (16 GB)", 16.0)),
        ("A6000 (48 GB)", ("A6000 (48 GB)", 48.0)),
        ("RTX 6000 (24 GB)", ("RTX 6000 (24 GB)", 24.0)),
        ("  GH200   (96 GB) ", ("GH200 (96 GB)", 96.0)),
        ("Mystery GPU", ("Mystery GPU", None)),
        ("N/A", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_gpu_description(description: Any, expected: Any) -> None:
    assert parse_gpu_description(description) == expected


def assert_authenticated(request: httpx.Request) -> None:
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["User-Agent"].startswith("gpucm/")
    assert request.headers["Accept"] == "application/json"


async def test_fetch_offers_sends_an_authenticated_get(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    fake.routes[("GET", "/instance-types")] = (200, load("instance_types.json"))
    offers = await adapter.fetch_offers()
    assert len(offers) == 36
    assert all(o.fetched_at == FIXED_NOW for o in offers)
    (request,) = fake.requests
    assert request.method == "GET"
    assert str(request.url) == f"{BASE}/instance-types"
    assert_authenticated(request)
    assert request.content == b""


async def test_base_url_setting_is_honoured(fake: FakeLambda) -> None:
    fake.routes[("GET", "/instance-types")] = (200, {"data": {}})
    adapter = make(
        fake, ProviderSettings(api_key=KEY, base_url="https://cloud.lambdalabs.com/api/v1/")
    )
    assert await adapter.fetch_offers() == []
    await adapter.aclose()
    assert str(fake.requests[0].url) == "https://cloud.lambdalabs.com/api/v1/instance-types"


def test_offers_ids_are_stable_across_refreshes() -> None:
    first = parse_offers(load("instance_types.json"), FIXED_NOW)
    second = parse_offers(load("instance_types.json"), FIXED_NOW)
    assert [o.id for o in first] == [o.id for o in second]


# --- robustness ----------------------------------------------------------------------------


def _type(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = copy.deepcopy(load("instance_types.json")["data"]["gpu_1x_a10"])
    entry["instance_type"].update(overrides)
    return entry


def test_malformed_rows_are_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    no_specs = _type(specs=None)
    string_numbers = _type(
        price_cents_per_hour="75", specs={"gpus": "1", "vcpus": None, "memory_gib": "x"}
    )
    body = {
        "data": {
            "gpu_1x_a10": _type(),
            "gpu_1x_no_price": _type(price_cents_per_hour=None),
            "gpu_1x_negative": _type(price_cents_per_hour=-5),
            "gpu_1x_nan": _type(price_cents_per_hour=float("nan")),
            "gpu_1x_no_description": _type(gpu_description=None),
            "gpu_2x_no_specs": no_specs,
            "mystery_no_specs": _type(specs=None, name="mystery"),
            "gpu_1x_strings": string_numbers,
            "gpu_1x_not_an_object": [1, 2],
            "gpu_1x_no_type": {"regions_with_capacity_available": []},
            "gpu_1x_type_is_list": {"instance_type": []},
            "gpu_1x_regions_not_list": {**_type(), "regions_with_capacity_available": "us"},
            "gpu_1x_null_regions": {**_type(), "regions_with_capacity_available": None},
            "gpu_1x_bad_regions": {
                **_type(),
                "regions_with_capacity_available": [
                    None,
                    {"name": None},
                    {"description": "nameless"},
                    {"name": "us-east-1"},
                    {"name": "us-east-1"},
                    "us-west-1",
                ],
            },
            "cpu_4x_null_gpus": _type(gpu_description="N/A", specs={"gpus": None}),
            "gpu_1x_zero_gpus": _type(specs={"gpus": 0}),
            "": _type(),
        }
    }
    offers = {o.provider_id: o for o in parse_offers(body, FIXED_NOW)}
    assert set(offers) == {
        "gpu_1x_a10@us-east-1",
        "gpu_1x_a10@us-west-1",
        "gpu_2x_no_specs@us-east-1",
        "gpu_2x_no_specs@us-west-1",
        "gpu_1x_strings@us-east-1",
        "gpu_1x_strings@us-west-1",
        "gpu_1x_null_regions",
        "gpu_1x_bad_regions@us-east-1",
    }
    # the count comes from the type name when specs are missing
    assert offers["gpu_2x_no_specs@us-east-1"].gpu_count == 2
    assert offers["gpu_2x_no_specs@us-east-1"].vcpus is None
    strings = offers["gpu_1x_strings@us-east-1"]
    assert (strings.price_per_hour, strings.gpu_count, strings.ram_gb) == (0.75, 1, None)
    assert offers["gpu_1x_null_regions"].available is False
    for skipped in ("gpu_1x_no_price", "gpu_1x_no_description", "mystery_no_specs"):
        assert skipped in caplog.text


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "list, not a JSON object"),
        ("null", "with null, not a JSON object"),
        ({"instance_types": {}}, "without its 'data' field"),
        ({"data": []}, "'data' as a list"),
        ({"data": None}, "'data' as null"),
    ],
)
def test_wrong_shaped_offer_bodies_raise_bad_response(body: Any, words: str) -> None:
    with pytest.raises(BadResponse, match=words):
        parse_offers(None if body == "null" else body, FIXED_NOW)


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (200, b"{not json"),
        (200, b"<html><body>maintenance</body></html>"),
        (200, b""),
    ],
)
async def test_unreadable_bodies_raise_bad_response(
    fake: FakeLambda, adapter: LambdaLabsAdapter, status: int, content: bytes
) -> None:
    fake.routes[("GET", "/instance-types")] = (status, content)
    with pytest.raises(BadResponse):
        await adapter.fetch_offers()


async def test_wrong_shaped_instance_bodies(fake: FakeLambda, adapter: LambdaLabsAdapter) -> None:
    fake.routes[("GET", "/instances")] = (200, {"data": {"id": "x"}})
    with pytest.raises(BadResponse, match="not a list"):
        await adapter.list_instances()
    fake.routes[("GET", "/instances")] = (200, [])
    with pytest.raises(BadResponse, match="not a JSON object"):
        await adapter.list_instances()


# --- instances -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("booting", "provisioning"),
        ("active", "running"),
        ("unhealthy", "error"),
        ("terminating", "terminated"),
        ("terminated", "terminated"),
        ("preempted", "terminated"),
        ("ACTIVE", "running"),
        ("something-new", "error"),
        ("", "error"),
        (None, "error"),
    ],
)
def test_normalise_status(raw: str | None, expected: str) -> None:
    assert normalise_status(raw) == expected


def test_status_table_covers_every_documented_status() -> None:
    documented = {"booting", "active", "unhealthy", "terminating", "terminated", "preempted"}
    assert set(STATUS_TABLE) == documented


async def test_list_instances(fake: FakeLambda, adapter: LambdaLabsAdapter) -> None:
    fake.routes[("GET", "/instances")] = (200, load("instances.json"))
    running, booting, ending = await adapter.list_instances()
    (request,) = fake.requests
    assert (request.method, str(request.url)) == ("GET", f"{BASE}/instances")
    assert_authenticated(request)

    assert running.id == "lambda_labs:0920582c7ff041399e34823a0be62549"
    assert running.provider == "lambda_labs"
    assert running.provider_id == "0920582c7ff041399e34823a0be62549"
    assert (running.name, running.status, running.raw_status) == ("sft-h100", "running", "active")
    assert (running.gpu_name, running.gpu_count) == ("H100 (80 GB SXM5)", 1)
    assert CATALOG.resolve(running.gpu_name or "", 80).name == "H100"
    assert running.price_per_hour == pytest.approx(3.29)
    assert (running.cpu_count, running.ram_gb, running.storage_gb) == (26.0, 225.0, 2816.0)
    assert running.region == "us-south-2"
    assert running.public_ip == running.ssh_host == "192.222.55.14"
    assert (running.ssh_port, running.ssh_user) == (22, "ubuntu")
    assert running.image is None
    assert running.created_at is None
    assert running.provider_data == {
        "instance_type": "gpu_1x_h100_sxm5",
        "region": "us-south-2",
        "region_description": "North Texas, USA",
        "private_ip": "10.19.60.24",
        "hostname": "192-222-55-14",
        "ssh_key_names": ["laptop-ed25519"],
        "file_system_names": ["shared-data"],
    }

    assert (booting.status, booting.raw_status, booting.name) == (
        "provisioning",
        "booting",
        "eval-a10",
    )
    assert booting.public_ip is None
    assert booting.ssh_host is None
    assert booting.price_per_hour == pytest.approx(0.75)
    assert booting.region == "us-east-1"

    assert (ending.status, ending.raw_status, ending.name) == ("terminated", "terminating", "")

    # Jupyter tokens are credentials: never copied into gpucm's records.
    dumped = json.dumps([i.model_dump(mode="json") for i in (running, booting, ending)])
    assert "03b7d30d9d3e4d8fa41657bc0d478c1b" not in dumped
    assert "jupyter" not in dumped


def test_instances_tolerate_missing_and_null_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = {
        "data": [
            {"id": "bare"},
            {
                "id": "nulls",
                "name": None,
                "status": None,
                "ip": None,
                "region": None,
                "instance_type": {"specs": None, "price_cents_per_hour": None},
                "ssh_key_names": None,
                "created_at": "2026-11-26T10:00:00Z",
            },
            {"name": "no id"},
            "not an object",
            None,
        ]
    }
    bare, nulls = parse_instances(body)
    assert (bare.provider_id, bare.status, bare.gpu_count, bare.region) == (
        "bare",
        "error",
        0,
        None,
    )
    assert bare.provider_data == {"ssh_key_names": [], "file_system_names": []}
    assert (nulls.price_per_hour, nulls.gpu_name, nulls.name) == (None, None, "")
    assert nulls.created_at is not None
    assert nulls.created_at.isoformat() == ("2026-11-26T10:00:00+00:00")
    assert "skipped an instance" in caplog.text


# --- launch --------------------------------------------------------------------------------


def launch_routes(fake: FakeLambda) -> None:
    fake.routes[("POST", "/instance-operations/launch")] = (200, load("launch.json"))
    fake.routes[("GET", "/instances/0920582c7ff041399e34823a0be62549")] = (
        200,
        load("instance.json"),
    )


async def test_launch_sends_the_recorded_request(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    launch_routes(fake)
    offer = offers_by_id()["lambda_labs:gpu_1x_h100_sxm5@us-south-2"]
    spec = spec_for(
        offer,
        ssh_key_name="laptop-ed25519",
        image="pytorch/pytorch:latest",
        environment=(("HF_TOKEN", "secret-token"),),
        ports=((8888, "http"),),
        disk_gb=100.0,
    )
    instance = await adapter.launch(spec)

    post, get = fake.requests
    assert (post.method, str(post.url)) == ("POST", f"{BASE}/instance-operations/launch")
    assert_authenticated(post)
    assert post.headers["Content-Type"] == "application/json"
    sent = json.loads(post.content)
    recorded = load("launch_request.json")
    assert sent == {
        k: recorded[k] for k in ("region_name", "instance_type_name", "ssh_key_names", "name")
    }
    # a VM: no image, environment, ports or disk size exist to send
    assert b"pytorch" not in post.content
    assert b"secret-token" not in post.content
    assert (get.method, str(get.url)) == (
        "GET",
        f"{BASE}/instances/0920582c7ff041399e34823a0be62549",
    )

    assert instance.id == "lambda_labs:0920582c7ff041399e34823a0be62549"
    assert (instance.status, instance.raw_status) == ("provisioning", "booting")
    assert (instance.offer_id, instance.request_id) == (offer.id, "req-1")
    assert instance.gpu_count == 8  # what Lambda reports for the instance (fixture example)
    assert instance.public_ip == "198.51.100.2"


async def test_launch_attaches_filesystems_in_the_offers_region(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    launch_routes(fake)
    fake.routes[("GET", "/file-systems")] = (200, load("file_systems.json"))
    offer = offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"]
    await adapter.launch(spec_for(offer, ssh_key_name="k", file_systems=("shared-data",)))
    listing, post, _ = fake.requests
    assert (listing.method, listing.url.path) == ("GET", "/api/v1/file-systems")
    sent = json.loads(post.content)
    assert sent["file_system_names"] == ["shared-data"]
    # the recorded request's field, the same shape
    assert isinstance(load("launch_request.json")["file_system_names"], list)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("checkpoints", "is in us-west-1, and this offer is in us-east-1"),
        ("nope", "no filesystem named 'nope' (it has: checkpoints, shared-data)"),
    ],
)
async def test_filesystems_are_checked_before_the_launch(
    fake: FakeLambda, adapter: LambdaLabsAdapter, name: str, words: str
) -> None:
    launch_routes(fake)
    fake.routes[("GET", "/file-systems")] = (200, load("file_systems.json"))
    offer = offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"]
    with pytest.raises(InvalidRequest, match=re.escape(words)):
        await adapter.launch(spec_for(offer, ssh_key_name="k", file_systems=(name,)))
    assert fake.sent("POST", "/instance-operations/launch") == []


async def test_a_filesystem_moved_meanwhile_is_a_clear_error(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    fake.routes[("GET", "/file-systems")] = (200, load("file_systems.json"))
    fake.routes[("POST", "/instance-operations/launch")] = (
        400,
        load("error_file_system_in_wrong_region.json"),
    )
    offer = offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"]
    with pytest.raises(InvalidRequest, match="attached in its own region") as info:
        await adapter.launch(spec_for(offer, ssh_key_name="k", file_systems=("shared-data",)))
    assert "us-east-1, but the instance would be launched in us-west-1" in str(info.value)


async def test_interruptible_launches_are_unsupported(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    offer = offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"]
    with pytest.raises(Unsupported, match="no interruptible"):
        await adapter.launch(spec_for(offer, ssh_key_name="k", interruptible=True))
    assert fake.requests == []


async def test_regions_images_and_filesystems(fake: FakeLambda, adapter: LambdaLabsAdapter) -> None:
    fake.routes[("GET", "/regions")] = (200, load("regions.json"))
    fake.routes[("GET", "/images")] = (200, load("images.json"))
    fake.routes[("GET", "/file-systems")] = (200, load("file_systems.json"))
    regions = await adapter.regions()
    assert {r.name for r in regions} >= {"us-east-1", "us-south-2", "europe-central-1"}
    assert next(r for r in regions if r.name == "us-east-1").description == "Virginia, USA"
    images = await adapter.images()
    assert len(images) == 12
    first = images[0]
    assert (first.family, first.version, first.architecture, first.region) == (
        "lambda-stack-legacy-22-04",
        "22.4.5-1722",
        "x86_64",
        "us-south-2",
    )
    shared, checkpoints = await adapter.file_systems()
    assert (shared.name, shared.region, shared.in_use) == ("shared-data", "us-east-1", True)
    assert shared.mount_point == "/lambda/nfs/shared-data"
    assert shared.bytes_used == 2147483648
    assert (checkpoints.region, checkpoints.in_use, checkpoints.bytes_used) == (
        "us-west-1",
        False,
        None,
    )
    for path in ("/regions", "/images", "/file-systems"):
        (request,) = fake.sent("GET", path)
        assert_authenticated(request)


async def test_wrong_shaped_listings_are_bad_responses(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    fake.routes[("GET", "/file-systems")] = (200, {"data": {"a": 1}})
    with pytest.raises(BadResponse, match="'data' as an object, not a list"):
        await adapter.file_systems()


def test_a_preempted_instance_says_so() -> None:
    row = load("instances.json")["data"][0] | {"status": "preempted"}
    (instance,) = parse_instances({"data": [row]})
    assert (instance.status, instance.status_reason) == ("terminated", "preempted")


async def test_launch_uses_the_settings_key_when_the_spec_names_none(fake: FakeLambda) -> None:
    launch_routes(fake)
    adapter = make(fake, ProviderSettings(api_key=KEY, ssh_key_name="from-settings"))
    offer = offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"]
    await adapter.launch(spec_for(offer))
    await adapter.launch(spec_for(offer, ssh_key_name="from-spec"))
    await adapter.aclose()
    first, second = fake.sent("POST", "/instance-operations/launch")
    assert json.loads(first.content)["ssh_key_names"] == ["from-settings"]
    assert json.loads(second.content)["ssh_key_names"] == ["from-spec"]
    assert not fake.sent("GET", "/ssh-keys")


async def test_launch_uses_the_accounts_only_key(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    launch_routes(fake)
    keys = load("ssh_keys.json")
    keys["data"] = keys["data"][:1]
    fake.routes[("GET", "/ssh-keys")] = (200, keys)
    await adapter.launch(spec_for(offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"]))
    (ssh, post, _) = fake.requests
    assert (ssh.method, str(ssh.url)) == ("GET", f"{BASE}/ssh-keys")
    assert json.loads(post.content)["ssh_key_names"] == ["yubikey"]


@pytest.mark.parametrize(
    ("keys", "words"),
    [
        (load("ssh_keys.json"), "2 SSH keys ('yubikey', 'another-name')"),
        ({"data": []}, "no SSH key"),
    ],
)
async def test_launch_without_a_key_choice_refuses_before_launching(
    fake: FakeLambda, adapter: LambdaLabsAdapter, keys: Any, words: str
) -> None:
    launch_routes(fake)
    fake.routes[("GET", "/ssh-keys")] = (200, keys)
    offer = offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"]
    with pytest.raises(InvalidRequest) as info:
        await adapter.launch(spec_for(offer))
    assert words in info.value.message
    assert "ssh_key_name" in info.value.message
    assert not fake.sent("POST", "/instance-operations/launch")


async def test_launch_name_is_cut_to_64_chars_and_start_script_becomes_user_data(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    launch_routes(fake)
    offer = offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"]
    await adapter.launch(
        spec_for(offer, label="x" * 100, ssh_key_name="k", onstart_script="nvidia-smi")
    )
    await adapter.launch(
        spec_for(offer, label="", ssh_key_name="k", onstart_script="#!/bin/sh\nls")
    )
    first, second = (
        json.loads(r.content) for r in fake.sent("POST", "/instance-operations/launch")
    )
    assert first["name"] == "x" * 64
    assert first["user_data"] == "#!/bin/bash\nnvidia-smi"
    assert "name" not in second
    assert second["user_data"] == "#!/bin/sh\nls"


async def test_launch_of_a_sold_out_type_sends_nothing(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    offer = offers_by_id()["lambda_labs:gpu_1x_rtx6000"]
    with pytest.raises(CapacityError, match="no capacity in any region"):
        await adapter.launch(spec_for(offer, ssh_key_name="k"))
    assert fake.requests == []


async def test_launch_without_provider_data_reads_the_provider_id(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    launch_routes(fake)
    offer = offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"].model_copy(
        update={"provider_data": {}}
    )
    await adapter.launch(spec_for(offer, ssh_key_name="k"))
    body = json.loads(fake.sent("POST", "/instance-operations/launch")[0].content)
    assert (body["instance_type_name"], body["region_name"]) == ("gpu_1x_a10", "us-east-1")


async def test_launch_insufficient_capacity_is_a_capacity_error_and_not_retried(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    fake.routes[("POST", "/instance-operations/launch")] = (
        400,
        load("error_insufficient_capacity.json"),
    )
    offer = offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"]
    with pytest.raises(CapacityError) as info:
        await adapter.launch(spec_for(offer, ssh_key_name="k"))
    assert info.value.status == 400
    assert "Not enough capacity" in info.value.message
    assert len(fake.sent("POST", "/instance-operations/launch")) == 1


async def test_launch_503_is_not_retried(fake: FakeLambda, adapter: LambdaLabsAdapter) -> None:
    fake.routes[("POST", "/instance-operations/launch")] = (503, b"")
    offer = offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"]
    with pytest.raises(ProviderUnavailable):
        await adapter.launch(spec_for(offer, ssh_key_name="k"))
    assert len(fake.sent("POST", "/instance-operations/launch")) == 1


async def test_launch_answer_without_ids_is_a_bad_response(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    fake.routes[("POST", "/instance-operations/launch")] = (200, {"data": {"instance_ids": []}})
    offer = offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"]
    with pytest.raises(BadResponse, match=r"cloud\.lambda\.ai/instances"):
        await adapter.launch(spec_for(offer, ssh_key_name="k"))


async def test_launch_survives_a_failed_read_back(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    fake.routes[("POST", "/instance-operations/launch")] = (200, load("launch.json"))
    fake.routes[("GET", "/instances/0920582c7ff041399e34823a0be62549")] = (
        404,
        {"error": {"code": "global/object-does-not-exist", "message": "Not found."}},
    )
    offer = offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"]
    instance = await adapter.launch(spec_for(offer, ssh_key_name="k"))
    assert instance.id == "lambda_labs:0920582c7ff041399e34823a0be62549"
    assert (instance.status, instance.raw_status, instance.name) == (
        "provisioning",
        None,
        "sft-h100",
    )
    assert (instance.gpu_name, instance.gpu_count, instance.price_per_hour) == (
        "A10 (24 GB PCIe)",
        1,
        0.75,
    )
    assert (instance.region, instance.offer_id, instance.request_id) == (
        "us-east-1",
        offer.id,
        "req-1",
    )


# --- manage --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "fixture"),
    [("restart", "restart.json"), ("terminate", "terminate.json")],
)
async def test_restart_and_terminate(
    fake: FakeLambda, adapter: LambdaLabsAdapter, action: str, fixture: str
) -> None:
    fake.routes[("POST", f"/instance-operations/{action}")] = (200, load(fixture))
    pid = "0920582c7ff041399e34823a0be62549"
    await getattr(adapter, action)(pid)
    (request,) = fake.requests
    assert (request.method, str(request.url)) == (
        "POST",
        f"{BASE}/instance-operations/{action}",
    )
    assert_authenticated(request)
    assert json.loads(request.content) == load("terminate_request.json") == {"instance_ids": [pid]}


async def test_terminate_unknown_instance_is_not_found(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    fake.routes[("POST", "/instance-operations/terminate")] = (
        404,
        {"error": {"code": "global/object-does-not-exist", "message": "Instance not found."}},
    )
    with pytest.raises(NotFound, match="Instance not found"):
        await adapter.terminate("nope")


async def test_terminate_answer_of_the_wrong_shape(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    fake.routes[("POST", "/instance-operations/terminate")] = (200, {"data": {}})
    with pytest.raises(BadResponse, match="terminated_instances"):
        await adapter.terminate("x")


@pytest.mark.parametrize("operation", ["stop", "start", "logs"])
async def test_unsupported_operations(
    fake: FakeLambda, adapter: LambdaLabsAdapter, operation: str
) -> None:
    with pytest.raises(Unsupported) as info:
        await getattr(adapter, operation)("0920582c7ff041399e34823a0be62549")
    assert info.value.provider == "lambda_labs"
    if operation == "logs":
        assert "SSH" in info.value.message
    else:
        assert info.value.message == (
            "Lambda Cloud cannot stop or start an instance; restart it, or terminate it "
            "to stop paying"
        )
    assert fake.requests == []


# --- quote ---------------------------------------------------------------------------------


async def test_quote(fake: FakeLambda, adapter: LambdaLabsAdapter) -> None:
    body = load("instance_types.json")
    fake.routes[("GET", "/instance-types")] = (200, body)
    offers = offers_by_id()
    old = offers["lambda_labs:gpu_1x_a10@us-east-1"].model_copy(update={"price_per_hour": 0.5})
    fresh = await adapter.quote(old)
    assert fresh is not None
    assert (fresh.id, fresh.price_per_hour, fresh.available) == (old.id, 0.75, True)

    assert await adapter.quote(offers["lambda_labs:gpu_1x_rtx6000"]) is None

    sold = copy.deepcopy(body)
    sold["data"]["gpu_1x_a10"]["regions_with_capacity_available"] = [
        {"name": "us-west-1", "description": "California, USA"}
    ]
    fake.routes[("GET", "/instance-types")] = (200, sold)
    assert await adapter.quote(old) is None
    assert await adapter.quote(offers["lambda_labs:gpu_1x_a10@us-west-1"]) is not None

    del sold["data"]["gpu_1x_a10"]
    assert await adapter.quote(old) is None
    assert len(fake.sent("GET", "/instance-types")) == 5


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (401, load("error_invalid_api_key.json"), AuthError, "LAMBDA_API_KEY"),
        (
            403,
            {"error": {"code": "global/account-inactive", "message": "Your account is inactive."}},
            AuthError,
            "account is inactive",
        ),
        (400, load("error_insufficient_capacity.json"), CapacityError, "no capacity"),
        (
            404,
            {"error": {"code": "global/object-does-not-exist", "message": "Gone."}},
            NotFound,
            "Gone.",
        ),
        (
            400,
            {"error": {"code": "global/quota-exceeded", "message": "Quota exceeded."}},
            InvalidRequest,
            "quota exceeded",
        ),
        (
            400,
            {"error": {"code": "global/invalid-parameters", "message": "Bad region."}},
            InvalidRequest,
            "Bad region.",
        ),
        (403, load("error_invalid_address.json"), AuthError, "billing address"),
        (403, load("error_forbidden.json"), AuthError, "may not do this"),
        (404, load("error_not_found.json"), NotFound, "was not found"),
        (
            400,
            load("error_file_system_in_wrong_region.json"),
            InvalidRequest,
            "only be attached in its own region",
        ),
        (400, load("error_internal.json"), ProviderUnavailable, "internal error at Lambda"),
        (
            400,
            load("error_provider_unavailable.json"),
            ProviderUnavailable,
            "provider/internal-unavailable",
        ),
        (
            400,
            {"error": {"code": "provider/capacity-exhausted", "message": "Upstream full."}},
            CapacityError,
            "Upstream full.",
        ),
        # a code this version does not know: Lambda's words, by status
        (
            400,
            {"error": {"code": "global/new-thing", "message": "Upstream said no."}},
            InvalidRequest,
            "Upstream said no.",
        ),
        (403, {"error": {"code": "global/new-thing", "message": "No."}}, AuthError, "refused"),
        # bodies without a code fall back to the shared status mapping
        (401, b"", AuthError, "HTTP 401"),
        (404, {"error": "weird"}, NotFound, "weird"),
        (500, load("error_invalid_api_key.json"), ProviderUnavailable, "HTTP 500"),
        # an error inside a 200 is still an error
        (200, load("error_invalid_api_key.json"), AuthError, "invalid"),
    ],
)
async def test_error_bodies_map_by_code(
    fake: FakeLambda,
    adapter: LambdaLabsAdapter,
    status: int,
    body: Any,
    error: type[ProviderError],
    words: str,
) -> None:
    fake.routes[("GET", "/instance-types")] = (status, body)
    with pytest.raises(error) as info:
        await adapter.fetch_offers()
    assert type(info.value) is error
    assert words in info.value.message
    assert str(info.value).startswith("Lambda Cloud: ")


async def test_messages_are_not_branched_on(fake: FakeLambda, adapter: LambdaLabsAdapter) -> None:
    body = {"error": {"code": "global/invalid-parameters", "message": "insufficient capacity"}}
    fake.routes[("GET", "/instance-types")] = (400, body)
    with pytest.raises(InvalidRequest):
        await adapter.fetch_offers()


async def test_rate_limit_is_retried_with_backoff_then_raised(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    fake.routes[("GET", "/instance-types")] = (429, b"Too Many Requests")
    with pytest.raises(RateLimited):
        await adapter.fetch_offers()
    assert len(fake.requests) == 4
    # backoff 0.5, 1, 2 s (rand=0.5: no jitter), and never under the 1 s pacing
    assert fake.times == [0.0, 1.0, 2.0, 4.0]
    assert fake.sleeps == [0.5, 0.5, 1.0, 2.0]


async def test_rate_limit_then_success(fake: FakeLambda, adapter: LambdaLabsAdapter) -> None:
    fake.routes[("GET", "/instance-types")] = [
        (429, {"error": {"code": "global/rate-limited"}}),
        (200, load("instance_types.json")),
    ]
    assert len(await adapter.fetch_offers()) == 36
    assert len(fake.requests) == 2


# --- pacing --------------------------------------------------------------------------------


async def test_requests_are_paced_one_per_second(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    fake.routes[("GET", "/instance-types")] = (200, {"data": {}})
    fake.routes[("GET", "/instances")] = (200, {"data": []})
    await adapter.fetch_offers()
    await adapter.list_instances()
    await adapter.fetch_offers()
    assert fake.times == [0.0, 1.0, 2.0]
    assert fake.sleeps == [1.0, 1.0]


async def test_launches_are_paced_one_per_twelve_seconds(
    fake: FakeLambda, adapter: LambdaLabsAdapter
) -> None:
    launch_routes(fake)
    offer = offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"]
    await adapter.launch(spec_for(offer, ssh_key_name="k"))
    await adapter.launch(spec_for(offer, ssh_key_name="k"))
    launches = [t for r, t in zip(fake.requests, fake.times, strict=True) if r.method == "POST"]
    assert launches == [0.0, 12.0]
    gaps = [b - a for a, b in zip(fake.times, fake.times[1:], strict=False)]
    assert all(g >= 1.0 for g in gaps), fake.times
    assert fake.sleeps == [1.0, 11.0, 1.0]


# --- secrets -------------------------------------------------------------------------------


async def test_the_key_never_leaks(
    fake: FakeLambda, adapter: LambdaLabsAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"code": "global/invalid-parameters", "message": f"bad key {KEY}"}}
    errors: list[ProviderError] = []
    offer = offers_by_id()["lambda_labs:gpu_1x_a10@us-east-1"]
    scenarios: list[tuple[str, Reply]] = [
        ("offers", (401, load("error_invalid_api_key.json"))),
        ("offers", (400, echo)),
        ("offers", (403, {"error": {"code": "global/account-inactive", "message": KEY}})),
        ("offers", (400, {"error": {"code": "provider/x", "message": KEY}})),
        ("offers", (500, f"boom {KEY}".encode())),
        ("offers", (200, f"not json {KEY}".encode())),
        ("launch", (400, echo)),
        ("launch", (401, load("error_invalid_api_key.json"))),
    ]
    for operation, reply in scenarios:
        fake.routes[("GET", "/instance-types")] = reply
        fake.routes[("POST", "/instance-operations/launch")] = reply
        try:
            if operation == "offers":
                await adapter.fetch_offers()
            else:
                await adapter.launch(spec_for(offer, ssh_key_name="k"))
        except ProviderError as exc:
            errors.append(exc)
    assert len(errors) == len(scenarios)
    for error in errors:
        assert KEY not in str(error)
        assert KEY not in repr(error)
        assert KEY not in error.message
    assert KEY not in caplog.text
    assert KEY not in repr(adapter)
    assert KEY not in repr(adapter.http)
    assert KEY not in repr(adapter.settings)
