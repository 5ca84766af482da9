"""Offer search: `GET /api/v1/offers/search` (query parameters) and
`POST /api/v1/offers/search/advanced` (the original JSON body), on the store's search."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import Field, StringConstraints, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from starlette.responses import Response

from gpucm.api.context import Ctx
from gpucm.api.envelope import Envelope, ok
from gpucm.api.errors import ApiError
from gpucm.domain.models import Category, Offer, SearchQuery, SortBy, SortOrder, StockLevel
from gpucm.domain.provider_names import PROVIDERS, canonical_provider

router = APIRouter(prefix="/api/v1/offers", tags=["offers"])

DEFAULT_PAGE = 100
MAX_PAGE = 1000
MAX_GPUS = 1024
MAX_OFFSET = 1_000_000
# Values per list (gpu_models, regions, providers) and characters per value: far more
# than any search needs, and small enough that no request keeps the server busy for
# long (a body of 50,000 regions took 25 s and held up every other request).
MAX_TERMS = 2000
MAX_TERM_LENGTH = 200
# a list longer than this has its GPU model terms expanded on a worker thread first
THREAD_TERMS = 64

Term = Annotated[str, StringConstraints(max_length=MAX_TERM_LENGTH)]


class AdvancedSearch(SearchQuery):
    """The original advanced-search body. `gpu_model`, `provider` and `region` (singular,
    as the original Python client sends them) join the lists. Without `limit` the first
    100 matches are returned; the message says how many there are."""

    gpu_model: Term | None = Field(default=None, description="one GPU model or family")
    provider: Term | None = Field(default=None, description="one provider")
    region: Term | None = Field(default=None, description="one region or region group")
    gpu_models: tuple[Term, ...] = Field(
        default=(),
        max_length=MAX_TERMS,
        description=f"GPU models or families (at most {MAX_TERMS})",
    )
    regions: tuple[Term, ...] = Field(
        default=(),
        max_length=MAX_TERMS,
        description=f"region groups or provider regions (at most {MAX_TERMS})",
    )
    providers: tuple[Term, ...] = Field(default=(), max_length=MAX_TERMS, description="providers")
    min_gpu_count: int | None = Field(default=None, ge=1, le=MAX_GPUS)
    limit: int | None = Field(default=None, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)

    @field_validator("gpu_models", "regions", "providers", mode="before")
    @classmethod
    def _not_too_many(cls, value: Any) -> Any:
        # before the terms are cleaned and validated one by one: a list of 50,000 is
        # refused at the cost of counting it
        if isinstance(value, list | tuple) and len(value) > MAX_TERMS:
            raise PydanticCustomError(
                "too_long",
                "at most {max} values, not {count}",
                {"max": MAX_TERMS, "count": len(value)},
            )
        return value

    def query(self) -> SearchQuery:
        data = self.model_dump(exclude={"gpu_model", "provider", "region"}, exclude_defaults=True)
        providers = []
        for name in self.providers:
            canonical = canonical_provider(name)
            if canonical is None:
                raise ApiError(
                    422,
                    f"invalid request: unknown provider {name!r} (known: {', '.join(PROVIDERS)})",
                )
            providers.append(canonical)
        data["providers"] = tuple(dict.fromkeys(providers))
        data["limit"] = self.limit or DEFAULT_PAGE
        return SearchQuery.model_validate(data)


async def _search(ctx: Ctx, search: AdvancedSearch) -> Response:
    query = search.query()
    if len(query.gpu_models) > THREAD_TERMS:
        # Resolving a GPU term against the catalog is ~30 us of Python: 2,000 of them
        # would hold the event loop, and every other request, for 60 ms. On a thread the
        # loop keeps serving; the catalog remembers each expansion for the search itself.
        catalog = ctx.services.catalog
        await asyncio.to_thread(lambda: [catalog.expand(t) for t in query.gpu_models])
    page = await ctx.services.store.search(query)
    shown = len(page.offers)
    message = f"Found {page.total} offers"
    if shown < page.total:
        message += f" (showing {shown} from offset {query.offset}; use limit and offset for more)"
    if ctx.services.demo:
        message += " on the demo market"
    return ok(
        page.offers, message, secrets=ctx.secrets(), headers={"X-Total-Count": str(page.total)}
    )


@router.post(
    "/search/advanced",
    response_model=Envelope[list[Offer]],
    summary="Search offers with the original advanced-search body",
)
async def search_advanced(ctx: Ctx, search: AdvancedSearch) -> Response:
    return await _search(ctx, search)


@router.get(
    "/search",
    response_model=Envelope[list[Offer]],
    summary="Search offers with query parameters (repeat gpu_model, provider, region)",
)
async def search(
    ctx: Ctx,
    gpu_model: Annotated[list[str] | None, Query(description="GPU model or family")] = None,
    gpu_category: Annotated[Category | None, Query()] = None,
    min_gpu_count: Annotated[int | None, Query()] = None,
    min_price: Annotated[float | None, Query(description="$/h for the whole offer")] = None,
    max_price: Annotated[float | None, Query(description="$/h for the whole offer")] = None,
    min_ram: Annotated[float | None, Query(description="GB")] = None,
    min_storage: Annotated[float | None, Query(description="GB")] = None,
    min_gpu_memory: Annotated[float | None, Query(description="GB of VRAM per GPU")] = None,
    min_cuda: Annotated[float | None, Query()] = None,
    region: Annotated[list[str] | None, Query(description="region group or region")] = None,
    provider: Annotated[list[str] | None, Query()] = None,
    min_reliability: Annotated[float | None, Query(description="0 to 1")] = None,
    min_performance: Annotated[float | None, Query()] = None,
    min_availability: Annotated[
        StockLevel | None,
        Query(description="stock the provider confirms at least; hides unknown availability"),
    ] = None,
    fits: Annotated[
        str | None,
        Query(
            max_length=200,
            description="a workload that must fit in the offer's VRAM: 70B@bf16,ctx=32k,train",
        ),
    ] = None,
    hosts: Annotated[
        Literal["good", "all"],
        Query(description="all: also offers on hosts remembered as bad (hidden by default)"),
    ] = "good",
    sort_by: Annotated[SortBy, Query()] = "price",
    sort_order: Annotated[SortOrder, Query()] = "asc",
    available: Annotated[bool, Query(description="false includes offers not rentable now")] = True,
    limit: Annotated[int | None, Query(description=f"at most {MAX_PAGE}")] = None,
    offset: Annotated[int, Query()] = 0,
) -> Response:
    given: dict[str, Any] = {
        "gpu_models": gpu_model or [],
        "gpu_category": gpu_category,
        "min_gpu_count": min_gpu_count,
        "min_price": min_price,
        "max_price": max_price,
        "min_ram": min_ram,
        "min_storage": min_storage,
        "min_gpu_memory": min_gpu_memory,
        "min_cuda": min_cuda,
        "regions": region or [],
        "providers": provider or [],
        "min_reliability": min_reliability,
        "min_performance": min_performance,
        "min_availability": min_availability,
        "fits": fits,
        "hosts": hosts,
        "sort_by": sort_by,
        "sort_order": sort_order,
        "available": available,
        "limit": limit,
        "offset": offset,
    }
    try:
        parsed = AdvancedSearch.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]
        ) from None
    return await _search(ctx, parsed)
