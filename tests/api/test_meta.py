"""The catalog, providers, market stats, health, the OpenAPI schema, metrics and the
error envelope for what is not there."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gpucm.api.api_settings import ApiSettings
from gpucm.api.app import create_app
from gpucm.domain.models import ProviderHealth
from gpucm.engine.provider_info import provider_infos
from gpucm.services import Services
from tests.api.conftest import client_for

ENDPOINTS = [
    ("get", "/api/v1/offers/search"),
    ("post", "/api/v1/offers/search/advanced"),
    ("get", "/api/v1/gpu-models"),
    ("get", "/api/v1/providers"),
    ("get", "/api/v1/marketplace/stats"),
    ("post", "/api/v1/instances"),
    ("get", "/api/v1/instances"),
    ("get", "/api/v1/instances/{instance_id}"),
    ("delete", "/api/v1/instances/{instance_id}"),
    ("post", "/api/v1/instances/{instance_id}/stop"),
    ("post", "/api/v1/instances/{instance_id}/start"),
    ("get", "/healthz"),
]


async def test_gpu_models_is_the_catalog_keyed_by_name_as_the_spec_shows(
    api: httpx.AsyncClient, services: Services
) -> None:
    r = await api.get("/api/v1/gpu-models")
    assert r.status_code == 200
    data = r.json()["data"]
    # the original spec's client: data["RTX 4090"]["performance_score"]
    assert data["RTX 4090"]["performance_score"] == 100
    assert list(data) == [m.name for m in services.catalog.models]
    assert all(name == model["name"] for name, model in data.items())
    assert data["H100"]["category"] == "datacenter" and data["H100"]["memory_gb"] == 80
    only = await api.get("/api/v1/gpu-models", params={"category": "consumer"})
    assert {m["category"] for m in only.json()["data"].values()} == {"consumer"}
    bad = await api.get("/api/v1/gpu-models", params={"category": "gaming"})
    assert bad.status_code == 422 and "query.category" in bad.json()["error"]


async def test_gpu_models_as_a_list_when_asked(api: httpx.AsyncClient, services: Services) -> None:
    listed = (await api.get("/api/v1/gpu-models", params={"format": "list"})).json()["data"]
    keyed = (await api.get("/api/v1/gpu-models")).json()["data"]
    assert listed == list(keyed.values())
    bad = await api.get("/api/v1/gpu-models", params={"format": "table"})
    assert bad.status_code == 422 and "query.format" in bad.json()["error"]


async def test_providers_are_the_same_entries_as_the_cli(
    api: httpx.AsyncClient, services: Services
) -> None:
    r = await api.get("/api/v1/providers")
    assert r.status_code == 200
    body = r.json()
    expected = [
        i.model_dump(mode="json")
        for i in await provider_infos(
            services.store, services.settings.configured_providers(), demo=services.demo
        )
    ]
    assert body["data"] == expected
    names = [p["name"] for p in body["data"]]
    assert names == ["vast_ai", "runpod", "lambda_labs", "paperspace"]
    for p in body["data"]:
        assert p["is_demo"] and p["is_configured"]
        assert p["health"]["status"] == "ok"
        assert p["gpu_models"] and p["regions"] and p["features"]
    assert "demo market" in body["message"]


async def test_marketplace_stats_has_the_original_shape(
    api: httpx.AsyncClient, services: Services
) -> None:
    r = await api.get("/api/v1/marketplace/stats")
    assert r.status_code == 200
    data = r.json()["data"]
    stats = await services.store.stats()
    assert data["total_instances"] == stats.total_instances
    assert data["available_instances"] == stats.available_instances
    assert set(data["provider_stats"]) == {"vast_ai", "runpod", "lambda_labs", "paperspace"}
    assert set(data["price_range"]) == {"min", "max", "avg"}
    assert data["average_price"] > 0
    h100 = data["model_stats"]["H100"]
    for field in ("model", "available_count", "min_price", "max_price", "avg_price", "providers"):
        assert field in h100
    assert h100["model"]["name"] == "H100"


async def test_healthz(api: httpx.AsyncClient) -> None:
    r = await api.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {
        "success": True,
        "message": "ok",
        "data": {"status": "ok", "version": "0.1.0", "demo": True, "environment": "development"},
    }


async def test_openapi_lists_every_endpoint_with_the_envelope(api: httpx.AsyncClient) -> None:
    r = await api.get("/openapi.json")
    assert r.status_code == 200
    schema = r.json()
    for method, path in ENDPOINTS:
        assert method in schema["paths"][path], (method, path)
    search = schema["paths"]["/api/v1/offers/search/advanced"]["post"]
    assert search["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }
    body_ref = search["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert "gpu_model" in body["properties"] and "gpu_models" in body["properties"]
    create = schema["paths"]["/api/v1/instances"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert "security" not in create  # no token configured


async def test_unknown_paths_and_methods_get_the_error_envelope(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/v1/nothing")
    assert r.status_code == 404
    assert r.json() == {
        "success": False,
        "error": "no such endpoint: GET /api/v1/nothing (see /openapi.json)",
    }
    r = await api.put("/api/v1/gpu-models")
    assert r.status_code == 405
    assert r.json()["success"] is False
    assert "GET" in r.headers["allow"]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text exposition, parsed by prometheus-client's own
    parser: (name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def at(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found[(name, frozenset(labels.items()))]


async def test_metrics_in_prometheus_text(api: httpx.AsyncClient) -> None:
    await api.get("/api/v1/gpu-models")
    await api.get("/api/v1/instances/vast_ai:nope")
    await api.get("/api/v1/nothing")
    r = await api.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    found = samples(text)
    requests = "gpucm_http_requests_total"
    assert at(found, requests, method="GET", route="/api/v1/gpu-models", status="200") == 1
    # the route template, never the id
    route = "/api/v1/instances/{instance_id}"
    assert at(found, requests, method="GET", route=route, status="404") == 1
    assert at(found, requests, method="GET", route="unmatched", status="404") == 1
    assert "vast_ai:nope" not in text
    assert at(found, "gpucm_offers", provider="vast_ai", available="true") > 0
    assert at(found, "gpucm_provider_health", provider="runpod", state="ok") == 1
    # a latency histogram per route: buckets, sum and count agree
    assert "# TYPE gpucm_http_request_duration_seconds histogram" in text
    labels = {"method": "GET", "route": "/api/v1/gpu-models"}
    histogram = "gpucm_http_request_duration_seconds"
    assert at(found, f"{histogram}_count", **labels) == 1
    assert at(found, f"{histogram}_bucket", **labels, le="+Inf") == 1
    assert at(found, f"{histogram}_bucket", **labels, le="10.0") == 1
    assert at(found, f"{histogram}_sum", **labels) > 0
    assert "_created" not in text  # one series per counter


async def test_a_provider_error_with_quotes_backslashes_and_newlines_is_escaped(
    services: Services,
) -> None:
    """A label value holding provider text: escaped so the exposition still parses and
    the text comes back as it was (the hand-written format had its own escaper)."""
    error = 'Vast said: "bad \\gateway"\nretry at C:\\tmp\\x "now"'
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    await services.store.save_health(
        ProviderHealth(
            provider="vast_ai",
            status="failing",
            last_attempt_at=now,
            last_error=error,
            last_error_kind="http",
            consecutive_failures=3,
        )
    )
    app = create_app(services, ApiSettings(rate_limit_enabled=False))
    async with client_for(app) as client:
        text = (await client.get("/metrics")).text
    found = samples(text)
    assert (
        at(found, "gpucm_provider_last_error_info", provider="vast_ai", kind="http", error=error)
        == 1
    )
    assert at(found, "gpucm_provider_health", provider="vast_ai", state="failing") == 1
    # the raw line: quotes, backslashes and the newline escaped, on one line
    line = next(x for x in text.splitlines() if x.startswith("gpucm_provider_last_error_info"))
    assert 'error="Vast said: \\"bad \\\\gateway\\"\\nretry at C:\\\\tmp' in line
    # an OpenMetrics scraper gets OpenMetrics, ending as that format must
    async with client_for(app) as client:
        om = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.endswith("# EOF\n")


async def test_metrics_can_be_switched_off(services: Services) -> None:
    app = create_app(services, ApiSettings(enable_metrics=False))
    async with client_for(app) as client:
        r = await client.get("/metrics")
    assert r.status_code == 404
    assert r.json()["error"] == "metrics are off (ENABLE_METRICS=false)"
