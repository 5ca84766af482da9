"""`create_app(services, settings)`: the REST API on a given set of services.

Middleware, outermost first: request metrics (so refusals are counted too), CORS (so a
browser sees refusals, and preflights need no token), the site guard (the Host, and
cross-site requests that would change something), the rate limit (before the token,
so guessing tokens is limited too), the token, the request body (its size, and JSON
that is not text), the cache of search answers, then the routes.
The background workers are not started here: `gpucm serve` runs them beside the server,
so tests can drive the app on a fixed market.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.middleware.cors import CORSMiddleware

from gpucm import __version__
from gpucm.api import errors
from gpucm.api.api_settings import ApiSettings
from gpucm.api.auth import TokenAuth
from gpucm.api.context import ApiContext
from gpucm.api.envelope import ErrorEnvelope
from gpucm.api.limits import BodyLimit
from gpucm.api.metrics import Metrics, RequestMetrics
from gpucm.api.rate_limit import RateLimit, SlidingWindow
from gpucm.api.routes_instances import router as instances_router
from gpucm.api.routes_meta import router as meta_router
from gpucm.api.routes_offers import router as offers_router
from gpucm.api.routes_spend import router as spend_router
from gpucm.api.search_cache import SearchCache
from gpucm.api.site_guard import SiteGuard
from gpucm.services import Services

DESCRIPTION = (
    "Find, compare and launch cloud GPUs across Vast.ai, RunPod, Lambda Cloud and "
    "Paperspace: the GPU Cloud Manager API. Every answer is an envelope: "
    '`{"success": true, "message": ..., "data": ...}` or `{"success": false, "error": ...}`.'
)

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": text}
    for status, text in (
        (400, "A Host this server does not answer to (see GPUCM_ALLOWED_HOSTS)"),
        (401, "Missing or wrong API token (when GPUCM_API_TOKEN is set)"),
        (403, "A cross-site request that would change something"),
        (404, "No such offer, instance or endpoint"),
        (409, "Refused: the offer is gone or dearer than allowed, a budget, no capacity"),
        (413, "Request body too large"),
        (415, "POST, PUT, PATCH and DELETE need Content-Type: application/json"),
        (422, "Invalid request: what is wrong, field by field"),
        (429, "Rate limit exceeded: see Retry-After"),
        (502, "A provider failed"),
        (503, "The store cannot be read (damaged or busy), or a provider is rate limited"),
    )
}


def create_app(
    services: Services,
    settings: ApiSettings | None = None,
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> FastAPI:
    settings = settings or ApiSettings()
    app = FastAPI(
        title="gpucm — GPU Cloud Manager API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        responses=ERRORS,
    )
    context = ApiContext(services=services, settings=settings)
    app.state.context = context
    errors.install(app)
    app.include_router(meta_router)
    app.include_router(offers_router)
    app.include_router(instances_router)
    app.include_router(spend_router)

    # add_middleware puts each one outside the ones before it: innermost first here
    app.add_middleware(SearchCache, stamp=_answers_depend_on(context))
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.token:
        app.add_middleware(TokenAuth, token=settings.token)
    metrics = Metrics() if settings.enable_metrics else None
    if settings.rate_limit_enabled:
        window = SlidingWindow(settings.rate_limit_rpm, monotonic=monotonic)
        app.add_middleware(
            RateLimit, window=window, on_limited=metrics.limited if metrics else _nothing
        )
    app.add_middleware(SiteGuard, settings=settings)
    if settings.enable_cors:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-API-Key"],
            expose_headers=["Retry-After", "X-Total-Count", "Location", "Idempotent-Replayed"],
            max_age=600,
        )
    if metrics is not None:
        app.state.metrics = metrics
        app.add_middleware(RequestMetrics, metrics=metrics)

    if settings.token:
        _document_token(app)
    return app


def _nothing() -> None:
    return None


def _answers_depend_on(context: ApiContext) -> Callable[[], Awaitable[Hashable]]:
    """What a search answer depends on beyond its request: the store's contents, the
    catalog (its object is replaced when the user's file changes) and the secrets
    scrubbed from every answer."""

    async def stamp() -> Hashable:
        services = context.services
        return (
            await services.store.data_version(),
            services.catalog,
            hash(tuple(context.secrets())),
        )

    return stamp


def _document_token(app: FastAPI) -> None:
    """With a token set, the schema says every operation (but /healthz) needs it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearerAuth": {"type": "http", "scheme": "bearer"}
            }
            for path, operations in schema.get("paths", {}).items():
                if path == "/healthz":
                    continue
                for operation in operations.values():
                    operation["security"] = [{"bearerAuth": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
