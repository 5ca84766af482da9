"""The catalog, the providers, the market's statistics, health and metrics."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from gpucm import __version__
from gpucm.api.context import Ctx
from gpucm.api.envelope import Envelope, failure, ok, scrub
from gpucm.api.metrics import MarketSnapshot, Metrics
from gpucm.domain.models import Category, GpuModel, MarketStats, ProviderInfo, Vendor
from gpucm.engine.provider_info import provider_infos
from gpucm.store.db import StoreError

router = APIRouter()


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    demo: bool
    environment: str


@router.get(
    "/healthz",
    response_model=Envelope[Health],
    tags=["meta"],
    summary="Liveness: the server answers and its store can be read (no token needed)",
)
async def healthz(ctx: Ctx) -> Response:
    try:
        await ctx.services.store.get_meta("mode")
    except StoreError:
        return failure("the store cannot be read", status=503)
    health = Health(
        status="ok",
        version=__version__,
        demo=ctx.services.demo,
        environment=ctx.settings.environment,
    )
    return ok(health, "ok")


@router.get(
    "/api/v1/gpu-models",
    response_model=Envelope[dict[str, GpuModel] | list[GpuModel]],
    tags=["market"],
    summary="The GPU catalog: every model gpucm knows, with its specs",
    description="As the original API answers it: an object keyed by model name "
    '(`data["RTX 4090"]["performance_score"]`), in catalog order. `format=list` gives '
    "a list of the same models instead.",
)
async def gpu_models(
    ctx: Ctx,
    category: Annotated[Category | None, Query()] = None,
    vendor: Annotated[Vendor | None, Query()] = None,
    format: Annotated[
        Literal["object", "list"], Query(description="object (by name, the default) or list")
    ] = "object",
) -> Response:
    models = [
        m
        for m in ctx.services.catalog.models
        if (category is None or m.category == category) and (vendor is None or m.vendor == vendor)
    ]
    data: dict[str, GpuModel] | list[GpuModel] = (
        models if format == "list" else {m.name: m for m in models}
    )
    return ok(data, f"{len(models)} GPU models", secrets=ctx.secrets())


@router.get(
    "/api/v1/providers",
    response_model=Envelope[list[ProviderInfo]],
    tags=["market"],
    summary="Providers: configuration, features, regions, GPU models and refresh health",
)
async def providers(ctx: Ctx) -> Response:
    services = ctx.services
    infos = await provider_infos(
        services.store, services.settings.configured_providers(), demo=services.demo
    )
    configured = sum(1 for i in infos if i.is_configured)
    message = f"{len(infos)} providers, {configured} configured"
    if ctx.services.demo:
        message += " (demo market: simulated offers)"
    return ok(infos, message, secrets=ctx.secrets())


@router.get(
    "/api/v1/marketplace/stats",
    response_model=Envelope[MarketStats],
    tags=["market"],
    summary="Market insights: offer counts, prices overall, per GPU model and per provider",
)
async def marketplace_stats(ctx: Ctx) -> Response:
    stats = await ctx.services.store.stats()
    message = (
        f"{stats.available_instances} of {stats.total_instances} offers available across "
        f"{len(stats.provider_stats)} providers"
    )
    return ok(stats, message, secrets=ctx.secrets())


async def market_snapshot(ctx: Ctx) -> MarketSnapshot:
    store = ctx.services.store
    return MarketSnapshot(
        offer_counts=await store.offer_counts(),
        health=await store.health(),
        instances=Counter(i.status for i in await store.instances.list()),
        providers=tuple(ctx.services.provider_names()),
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(ctx: Ctx, request: Request) -> Response:
    registry = getattr(request.app.state, "metrics", None)
    if not isinstance(registry, Metrics):
        return failure("metrics are off (ENABLE_METRICS=false)", status=404)
    body, content_type = registry.render(await market_snapshot(ctx), request.headers.get("accept"))
    # a provider's error text is a label value: scrubbed like every other answer
    text = scrub(body.decode("utf-8"), ctx.secrets())
    return Response(text, media_type=None, headers={"Content-Type": content_type})
