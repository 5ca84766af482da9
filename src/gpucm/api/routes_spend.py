"""`GET /api/v1/spend`: the spend ledger, as `gpucm spend --json` gives it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from gpucm.api.context import Ctx
from gpucm.api.envelope import Envelope, ok
from gpucm.api.errors import ApiError
from gpucm.domain.durations import parse_duration
from gpucm.engine.spend import GroupBy, ledger_json, read_ledger, summary_line

router = APIRouter(prefix="/api/v1/spend", tags=["instances"])


@router.get(
    "",
    response_model=Envelope[dict[str, Any]],
    summary="What your machines have cost: the spend ledger (UTC days and months)",
    description="Every machine's billed time at each interval's rate, kept after it is "
    "terminated, grouped by provider, UTC day or instance. `estimated` marks figures from "
    "gpucm's rate where the provider does not report what it bills.",
)
async def spend(
    ctx: Ctx,
    since: Annotated[str, Query(description="how far back: 24h, 7d, 2w", max_length=20)] = "30d",
    by: Annotated[GroupBy, Query(description="provider, day or instance")] = "provider",
) -> Response:
    try:
        span = parse_duration(since)
    except ValueError as exc:
        raise ApiError(422, f"invalid request: since: {exc}") from None
    now = ctx.services.clock()
    rows, summary = await read_ledger(ctx.services.store.spend, now - span, now, by)
    data = ledger_json(rows, by, now - span, now, summary)
    return ok(data, summary_line(summary), secrets=ctx.secrets())
