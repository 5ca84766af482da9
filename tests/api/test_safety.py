"""Safe by default: the token, the rate limit, CORS, the body size limit, and secrets
(provider keys, the token, launch environment values) never in a response or a log."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from gpucm.api.api_settings import ApiSettings
from gpucm.api.app import create_app
from gpucm.api.server import server_logging
from gpucm.domain.models import SearchQuery
from gpucm.providers.demo_instances import fails_for_capacity
from gpucm.services import Services
from gpucm.tui.screenshots import demo_services
from tests.api.conftest import client_for

TOKEN = "t0ken-for-tests-0123456789"


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the token ----------------------------------------------------------------------


@pytest.fixture
async def guarded(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    settings = ApiSettings(api_token=SecretStr(TOKEN), rate_limit_enabled=False)
    async with client_for(create_app(services, settings)) as client:
        yield client


async def test_every_request_but_healthz_needs_the_token(guarded: httpx.AsyncClient) -> None:
    for path in ("/api/v1/gpu-models", "/openapi.json", "/metrics", "/docs", "/api/v1/nope"):
        r = await guarded.get(path)
        assert r.status_code == 401, path
        assert r.json() == {
            "success": False,
            "error": "missing API token: send Authorization: Bearer <GPUCM_API_TOKEN>",
        }
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await guarded.get("/healthz")).status_code == 200


async def test_a_wrong_token_is_refused_and_never_echoed(guarded: httpx.AsyncClient) -> None:
    for headers in (
        {"Authorization": "Bearer wrong-token-000000000"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"X-API-Key": "wrong-token-000000000"},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        r = await guarded.get("/api/v1/gpu-models", headers=headers)
        assert r.status_code == 401, headers
        assert TOKEN[:10] not in r.text and "wrong-token" not in r.text


async def test_the_right_token_in_either_header(guarded: httpx.AsyncClient) -> None:
    for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"X-API-Key": TOKEN}):
        r = await guarded.get("/api/v1/gpu-models", headers=headers)
        assert r.status_code == 200, headers
    schema = (await guarded.get("/openapi.json", headers={"X-API-Key": TOKEN})).json()
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert schema["paths"]["/api/v1/gpu-models"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in schema["paths"]["/healthz"]["get"]


# -- the rate limit ---------------------------------------------------------------------


async def test_the_101st_request_in_a_minute_gets_429(services: Services) -> None:
    clock = Monotonic()
    settings = ApiSettings(rate_limit_rpm=100)
    app = create_app(services, settings, monotonic=clock)
    async with client_for(app) as client, client_for(app, "10.0.0.7") as other:
        for n in range(100):  # 100 requests over 50 s
            r = await client.get("/api/v1/gpu-models")
            assert r.status_code == 200, n
            clock.now += 0.5
        clock.now += 5  # 55 s after the first
        limited = await client.get("/api/v1/gpu-models")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "5"  # the first leaves the window at 60 s
        assert limited.json() == {
            "success": False,
            "error": "rate limit exceeded: 100 requests per minute per client; retry in 5 s",
        }
        # another client has its own allowance; health checks are never limited
        assert (await other.get("/api/v1/gpu-models")).status_code == 200
        assert (await client.get("/healthz")).status_code == 200
        clock.now += 5  # the first request is a minute old: one slot frees
        assert (await client.get("/api/v1/gpu-models")).status_code == 200
        assert (await client.get("/api/v1/gpu-models")).status_code == 429
        metrics = (await client.get("/metrics")).text  # refused too: still limited
        clock.now += 60
        metrics = (await client.get("/metrics")).text
    assert "gpucm_http_rate_limited_total 3.0" in metrics
    assert 'status="429"} 3' in metrics


async def test_the_rate_limit_can_be_switched_off(services: Services) -> None:
    app = create_app(services, ApiSettings(rate_limit_enabled=False, rate_limit_rpm=1))
    async with client_for(app) as client:
        for _ in range(5):
            assert (await client.get("/api/v1/gpu-models")).status_code == 200


# -- CORS -------------------------------------------------------------------------------


async def test_cors_off_by_default(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/v1/gpu-models", headers={"Origin": "https://dash.example"})
    assert "access-control-allow-origin" not in r.headers


async def test_cors_when_enabled(services: Services) -> None:
    settings = ApiSettings(
        enable_cors=True,
        cors_origins=("https://dash.example",),
        api_token=SecretStr(TOKEN),
    )
    async with client_for(create_app(services, settings)) as client:
        preflight = await client.options(
            "/api/v1/instances",
            headers={
                "Origin": "https://dash.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Idempotency-Key",
            },
        )
        # a browser's preflight carries no token, and must not need one
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://dash.example"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "idempotency-key" in preflight.headers["access-control-allow-headers"].lower()
        r = await client.get(
            "/api/v1/gpu-models",
            headers={"Origin": "https://dash.example", "Authorization": f"Bearer {TOKEN}"},
        )
        assert r.headers["access-control-allow-origin"] == "https://dash.example"
        refused = await client.get("/api/v1/gpu-models", headers={"Origin": "https://dash.example"})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "https://dash.example"
        stranger = await client.options(
            "/api/v1/instances",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert stranger.status_code == 400
        assert "access-control-allow-origin" not in stranger.headers


# -- body size --------------------------------------------------------------------------


async def test_a_body_over_the_limit_gets_413(services: Services) -> None:
    app = create_app(services, ApiSettings(max_body_bytes=2048, rate_limit_enabled=False))
    big = {"provider": "vast_ai", "offer_id": "x", "onstart_script": "#" * 4096}
    async with client_for(app) as client:
        r = await client.post("/api/v1/instances", json=big)
        assert r.status_code == 413
        assert r.json() == {
            "success": False,
            "error": "request body too large: at most 2048 bytes",
        }

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: streamed
            for _ in range(8):
                yield b" " * 512

        streamed = await client.post(
            "/api/v1/offers/search/advanced",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        assert streamed.status_code == 413
        small = await client.post("/api/v1/offers/search/advanced", json={"limit": 1})
        assert small.status_code == 200


# -- secrets ----------------------------------------------------------------------------

KEYS = {
    "VAST_AI_API_KEY": "vk-SECRET-vast-0123456789",
    "RUNPOD_API_KEY": "rp-SECRET-runpod-0123456789",
    "LAMBDA_API_KEY": "ll-SECRET-lambda-0123456789",
    "PAPERSPACE_API_KEY": "ps-SECRET-paper-0123456789",
}
ENV_VALUE = "hf_SECRET_launch_value_42"


async def test_keys_token_and_launch_env_never_leave_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    services = await demo_services()
    secrets = [*KEYS.values(), TOKEN, ENV_VALUE]
    log_output = io.StringIO()
    handler = logging.StreamHandler(log_output)
    logging.getLogger().addHandler(handler)
    texts: list[str] = []
    try:
        assert services.settings.secrets()  # the demo holds the keys it does not use
        app = create_app(services, ApiSettings(api_token=SecretStr(TOKEN)))
        auth = {"Authorization": f"Bearer {TOKEN}"}
        page = await services.store.search(SearchQuery(providers=("vast_ai",), limit=50))
        offer = next(o for o in page.offers if not fails_for_capacity(o.id))
        body = {
            "provider": "vast_ai",
            "offer_id": offer.id,
            "environment": {"HF_TOKEN": ENV_VALUE, "API_KEY": KEYS["VAST_AI_API_KEY"]},
        }
        with server_logging("DEBUG", app.state.context.secrets):
            async with client_for(app) as client:
                created = await client.post("/api/v1/instances", json=body, headers=auth)
                assert created.status_code == 201, created.text
                texts.append(created.text)
                iid = created.json()["data"]["id"]
                # a body that fails validation must not echo the values it carried, nor
                # an error the value that was sent where an id belongs
                bad = {**body, "environment": {"HF_TOKEN": ENV_VALUE, "N": 5}}
                r = await client.post("/api/v1/instances", json=bad, headers=auth)
                assert r.status_code == 422
                texts.append(r.text)
                wrong = {**body, "offer_id": ENV_VALUE}
                r = await client.post("/api/v1/instances", json=wrong, headers=auth)
                assert r.status_code == 404 and "***" in r.text
                texts.append(r.text)
                for path in (
                    "/api/v1/providers",
                    "/api/v1/marketplace/stats",
                    "/api/v1/gpu-models",
                    "/api/v1/offers/search?limit=1000",
                    "/api/v1/instances?all=true",
                    f"/api/v1/instances/{iid}",
                    "/metrics",
                    "/openapi.json",
                    "/healthz",
                ):
                    r = await client.get(path, headers=auth)
                    assert r.status_code == 200, path
                    texts.append(r.text)
                texts.append((await client.delete(f"/api/v1/instances/{iid}", headers=auth)).text)
                r = await client.get("/api/v1/gpu-models", headers={"X-API-Key": "nope"})
                texts.append(r.text)
        record = await services.store.journal.get(created.json()["data"]["request_id"])
        assert record is not None
        journal = record.model_dump_json()
    finally:
        logging.getLogger().removeHandler(handler)
        await services.aclose()
    logged = log_output.getvalue()
    if not services.store.is_team:  # asyncpg logs no statements; aiosqlite does
        assert "SELECT" in logged  # the store's debug lines went through the handler
    for secret in secrets:
        for text in texts:
            assert secret not in text
        assert secret not in logged
        assert secret not in journal
    assert '"HF_TOKEN":"***"' in journal


# -- server faults ----------------------------------------------------------------------


async def test_a_server_fault_is_a_500_envelope_without_a_traceback(
    services: Services,
) -> None:
    app = create_app(services, ApiSettings(rate_limit_enabled=False))

    async def broken() -> None:
        raise RuntimeError(f"boom with {KEYS['RUNPOD_API_KEY']}")

    app.add_api_route("/api/v1/broken", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        r = await client.get("/api/v1/broken")
    assert r.status_code == 500
    assert r.json() == {
        "success": False,
        "error": "internal error: the request could not be completed (see the server's log)",
    }
    assert "boom" not in r.text
