"""The catalog, providers, market stats, health, the OpenAPI schema, metrics and the
error envelope for what is not there."""

from __future__ import annotations

import httpx

from gpucm.api.api_settings import ApiSettings
from gpucm.api.app import create_app
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


async def test_metrics_in_prometheus_text(api: httpx.AsyncClient) -> None:
    await api.get("/api/v1/gpu-models")
    await api.get("/api/v1/instances/vast_ai:nope")
    await api.get("/api/v1/nothing")
    r = await api.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    assert (
        'gpucm_http_requests_total{method="GET",route="/api/v1/gpu-models",status="200"} 1' in text
    )
    # the route template, never the id
    assert 'route="/api/v1/instances/{instance_id}",status="404"} 1' in text
    assert 'route="unmatched",status="404"} 1' in text
    assert "vast_ai:nope" not in text
    assert 'gpucm_offers{provider="vast_ai",available="true"}' in text
    assert 'gpucm_provider_health{provider="runpod",state="ok"} 1' in text
    assert "# TYPE gpucm_http_request_duration_seconds histogram" in text


async def test_metrics_can_be_switched_off(services: Services) -> None:
    app = create_app(services, ApiSettings(enable_metrics=False))
    async with client_for(app) as client:
        r = await client.get("/metrics")
    assert r.status_code == 404
    assert r.json()["error"] == "metrics are off (ENABLE_METRICS=false)"
