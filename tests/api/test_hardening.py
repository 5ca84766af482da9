"""The API as a hostile user or another web site tries it (issue 14): every bad request
gets a 4xx envelope, other sites cannot launch or stop anything, and long lists work
up to a stated bound."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from gpucm.api.api_settings import ApiSettings, ApiSettingsError
from gpucm.api.app import create_app
from gpucm.api.routes_offers import MAX_TERMS
from gpucm.domain.models import SearchQuery
from gpucm.services import Services, open_services
from tests.api.conftest import client_for

TOKEN = "t0ken-for-tests-0123456789"
EVIL = "https://evil.example.com"


async def an_offer_id(services: Services) -> str:
    page = await services.store.search(SearchQuery(gpu_model="RTX 4090", limit=1))
    return page.offers[0].id


def create_body(offer_id: str) -> dict[str, object]:
    return {"provider": offer_id.partition(":")[0], "offer_id": offer_id, "image": "x/y"}


async def instance_count(services: Services) -> int:
    return len(await services.store.instances.list(include_terminated=True))


# -- other sites ---------------------------------------------------------------------------


async def test_a_page_on_another_site_cannot_launch_through_a_rebound_name(
    api: httpx.AsyncClient, services: Services
) -> None:
    """DNS rebinding: evil.example.com resolves to 127.0.0.1, so its page is same-origin
    with itself and sends its own name as the Host."""
    offer = await an_offer_id(services)
    r = await api.post(
        "/api/v1/instances", json=create_body(offer), headers={"Host": "evil.example.com"}
    )
    assert r.status_code == 400
    assert r.json()["error"].startswith("host not allowed: evil.example.com")
    for path in ("/api/v1/gpu-models", "/healthz"):  # reads too: the page could read them
        assert (await api.get(path, headers={"Host": "evil.example.com:8080"})).status_code == 400
    assert await instance_count(services) == 0


async def test_a_cross_site_post_cannot_launch_or_stop(
    api: httpx.AsyncClient, services: Services
) -> None:
    offer = await an_offer_id(services)
    created = await api.post("/api/v1/instances", json=create_body(offer))
    assert created.status_code == 201
    iid = created.json()["data"]["id"]
    # a form or fetch() from another site: a simple request, no preflight
    launch = await api.post(
        "/api/v1/instances",
        json=create_body(offer),
        headers={"Origin": EVIL, "Idempotency-Key": "other"},
    )
    assert launch.status_code == 403
    assert launch.json()["error"].startswith(f"cross-site request refused: Origin {EVIL}")
    stop = await api.post(
        f"/api/v1/instances/{iid}/stop", headers={"Origin": EVIL, "Content-Type": "text/plain"}
    )
    assert stop.status_code == 403
    terminate = await api.delete(f"/api/v1/instances/{iid}", headers={"Origin": "null"})
    assert terminate.status_code == 403
    assert await instance_count(services) == 1
    listed = (await api.get(f"/api/v1/instances/{iid}")).json()["data"]
    assert listed["status"] == "provisioning"


async def test_state_changes_need_a_json_content_type(
    api: httpx.AsyncClient, services: Services
) -> None:
    offer = await an_offer_id(services)
    iid = (await api.post("/api/v1/instances", json=create_body(offer))).json()["data"]["id"]
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        r = await api.post(f"/api/v1/instances/{iid}/stop", headers={"Content-Type": content_type})
        assert r.status_code == 415, content_type
        assert r.json()["error"].startswith("POST needs Content-Type: application/json")
    no_type = api.build_request("POST", f"/api/v1/instances/{iid}/stop")
    del no_type.headers["Content-Type"]
    assert (await api.send(no_type)).status_code == 415
    # the same request with the JSON type, body-less, does what it says
    stopped = await api.post(f"/api/v1/instances/{iid}/stop")
    assert stopped.status_code == 200, stopped.text
    charset = await api.post(
        f"/api/v1/instances/{iid}/start",
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 200
    # reads need nothing
    plain = api.build_request("GET", "/api/v1/instances")
    del plain.headers["Content-Type"]
    assert (await api.send(plain)).status_code == 200


async def test_same_origin_and_listed_origins_may_change_things(services: Services) -> None:
    settings = ApiSettings(
        rate_limit_enabled=False, enable_cors=True, cors_origins=("https://dash.example",)
    )
    async with client_for(create_app(services, settings)) as client:
        offer = await an_offer_id(services)
        same = await client.post(
            "/api/v1/instances",
            json=create_body(offer),
            headers={"Origin": "http://127.0.0.1:8080", "Idempotency-Key": "a"},
        )
        assert same.status_code == 201, same.text
        listed = await client.post(
            "/api/v1/instances",
            json=create_body(offer),
            headers={"Origin": "https://dash.example", "Idempotency-Key": "b"},
        )
        assert listed.status_code == 201, listed.text
        other_port = await client.post(
            "/api/v1/instances",
            json=create_body(offer),
            headers={"Origin": "http://127.0.0.1:9999", "Idempotency-Key": "c"},
        )
        assert other_port.status_code == 403


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8080", True),
        ("localhost", True),
        ("LOCALHOST.:8080", True),
        ("[::1]:8080", True),
        ("127.0.0.2", True),
        ("evil.example.com", False),
        ("gpu.internal:8080", False),
    ],
)
def test_loopback_hosts_by_default(host: str, allowed: bool) -> None:
    assert ApiSettings().host_allowed(host) is allowed


def test_allowed_hosts_are_configurable() -> None:
    env = {"GPUCM_ALLOWED_HOSTS": "gpu.internal, Dash.Example:443"}
    settings = ApiSettings.from_env(env)
    assert settings.host_allowed("gpu.internal:8080") and settings.host_allowed("dash.example")
    assert settings.host_allowed("localhost") and not settings.host_allowed("evil.example.com")
    assert ApiSettings.from_env({"GPUCM_ALLOWED_HOSTS": "*"}).host_allowed("any.where")
    with pytest.raises(ApiSettingsError, match="GPUCM_ALLOWED_HOSTS"):
        ApiSettings.from_env({"GPUCM_ALLOWED_HOSTS": "a b/c"})


def test_an_exposed_server_with_a_token_answers_any_host_unless_told() -> None:
    """Bound beyond loopback (which needs the token), clients use this machine's own
    names, which gpucm cannot know; the token, which no browser adds by itself, is what
    keeps other sites out there."""
    exposed = ApiSettings(host="0.0.0.0", api_token=SecretStr(TOKEN))
    assert exposed.host_allowed("gpu-box.lan:8080")
    narrowed = ApiSettings(host="0.0.0.0", api_token=SecretStr(TOKEN), allowed_hosts=("gpu-box",))
    assert narrowed.host_allowed("gpu-box:8080") and not narrowed.host_allowed("other")


# -- bodies that are not text ------------------------------------------------------------


async def test_a_lone_surrogate_in_a_body_is_a_422(api: httpx.AsyncClient) -> None:
    for path in ("/api/v1/offers/search/advanced", "/api/v1/instances"):
        r = await api.post(path, content=b'{"gpu_model": "\\ud800", "label": "\\udfff"}')
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["error"].startswith("invalid request: body.gpu_model: not valid text")
        assert body["details"] == [
            {
                "field": "body.gpu_model",
                "message": "not valid text (a lone surrogate \\ud800 at character 1)",
            }
        ]
    # a surrogate pair is one character, and fine
    ok = await api.post(
        "/api/v1/offers/search/advanced", content=b'{"gpu_model": "\\ud83d\\ude00"}'
    )
    assert ok.status_code == 200


async def test_json_nested_thousands_deep_is_a_4xx(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/offers/search/advanced", content=b"[" * 5000 + b"]" * 5000)
    assert 400 <= r.status_code < 500
    assert r.json()["success"] is False


# -- long lists ---------------------------------------------------------------------------


async def test_long_lists_work_up_to_the_stated_bound(
    api: httpx.AsyncClient, services: Services
) -> None:
    europe = await api.get("/api/v1/offers/search", params={"region": "Europe"})
    expected = [o["id"] for o in europe.json()["data"]]
    assert expected
    regions = [("region", f"nowhere-{i}") for i in range(600)] + [("region", "Europe")]
    r = await api.get("/api/v1/offers/search", params=regions)
    assert r.status_code == 200, r.text
    assert [o["id"] for o in r.json()["data"]] == expected
    models = [("gpu_model", f"mystery-{i}") for i in range(MAX_TERMS - 1)] + [("gpu_model", "H100")]
    r = await api.get("/api/v1/offers/search", params=models)
    assert r.status_code == 200, r.text
    assert r.json()["data"] and {o["gpu_family"] for o in r.json()["data"]} == {"H100"}
    body = {"regions": [f"r{i}" for i in range(MAX_TERMS - 1)] + ["Europe"]}
    r = await api.post("/api/v1/offers/search/advanced", json=body)
    assert [o["id"] for o in r.json()["data"]] == expected


async def test_past_the_bound_is_a_422_naming_it(api: httpx.AsyncClient) -> None:
    body = {"regions": [f"region-{i}" for i in range(50_000)]}  # ~600 KB, under the body cap
    r = await api.post("/api/v1/offers/search/advanced", json=body)
    assert r.status_code == 422
    assert f"body.regions: at most {MAX_TERMS} values, not 50000" in r.json()["error"]
    r = await api.get(
        "/api/v1/offers/search", params=[("gpu_model", f"m{i}") for i in range(MAX_TERMS + 1)]
    )
    assert r.status_code == 422 and "query.gpu_models" in r.json()["error"]
    r = await api.post("/api/v1/offers/search/advanced", json={"gpu_model": "x" * 201})
    assert r.status_code == 422 and "body.gpu_model" in r.json()["error"]


# -- a damaged store ------------------------------------------------------------------------


@pytest.fixture
async def damaged(tmp_path: Path) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    db = tmp_path / "gpucm.db"
    services = await open_services(db=db, demo=True, offer_index=False)
    await services.ensure_data()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE offers SET price_per_hour = 'abc'")
    conn.commit()
    conn.close()
    async with client_for(create_app(services, ApiSettings(rate_limit_enabled=False))) as client:
        yield services, client
    await services.aclose()


async def test_a_damaged_store_is_a_503_naming_the_file_not_a_422(
    damaged: tuple[Services, httpx.AsyncClient],
) -> None:
    services, client = damaged
    for r in (
        await client.get("/api/v1/offers/search"),
        await client.get("/api/v1/marketplace/stats"),
    ):
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert error.startswith(f"the database {services.store.path} holds a value gpucm cannot")
        assert error.endswith("run `gpucm doctor` to check it (and set it aside for a fresh one)")
