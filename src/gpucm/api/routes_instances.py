"""Your machines: create (the original create body), list, get, stop, start, restart,
terminate — through the one launch flow (engine/launch_flow.py) and the instance
manager, as the CLI and TUI.

Creating spends money, so the POST is the confirmation but not a blank cheque: the
offer is re-quoted first, and a budget it would pass refuses with 409 and nothing
launched. When the offer is gone, priced above `max_price_per_hour`, or the provider
has no capacity, 409 lists equivalent offers (same GPU model and count, within the
maximum, all-in, from any provider), or with `"failover": true` the cheapest of them
is launched instead. `"interruptible": true` rents the offer as spot, bidding
`bid_price_per_gpu` $/GPU-hour (default: its minimum bid + 5%); at a provider that
rents no spot machines it is a 422. One Idempotency-Key (or `request_id`) never creates two
instances: the same key with the same request answers 200 with the instance it
created; with a different request (another offer), 422 naming the first request's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from pydantic import ConfigDict, Field
from starlette.responses import Response

from gpucm import formatting as fmt
from gpucm.api.context import ApiContext, Ctx
from gpucm.api.envelope import Envelope, ok, scrub
from gpucm.api.errors import ApiError
from gpucm.domain.models import Instance, LaunchRequest
from gpucm.domain.provider_names import PROVIDERS, canonical_provider, display_name
from gpucm.domain.vocabulary import ENV_NAME
from gpucm.engine.instances import Action, InstanceError
from gpucm.engine.launch_errors import EarlierInDoubt, NoCapacity, RequestMismatch
from gpucm.engine.launch_flow import (
    LaunchRefused,
    LaunchTarget,
    NotHonoured,
    OfferNotFound,
    WrongProvider,
)
from gpucm.engine.launch_options import LaunchOptions, new_request_id
from gpucm.engine.launcher import LaunchOutcome, Preflight
from gpucm.engine.spend import summary_line

router = APIRouter(prefix="/api/v1/instances", tags=["instances"])


class CreateInstance(LaunchRequest):
    """The original create body (provider, offer_id, image, label, environment, ports,
    resources) and gpucm's safety fields. Environment values are secrets: they are
    passed to the provider and never shown again."""

    # built now: FastAPI validates bodies through a TypeAdapter that cannot finish
    # building a deferred model quietly
    model_config = ConfigDict(defer_build=False)

    failover: bool = Field(
        default=False,
        description="when the offer is gone, over max_price_per_hour or out of capacity, "
        "launch the cheapest equivalent (same GPU model and count, within "
        "max_price_per_hour, or 20% above the offer without one) under the same request "
        "id; the message says what was taken instead. Without it, a 409 lists them",
    )


MAX_KEY_LENGTH = 200
EQUIVALENTS_SHOWN = 3


def _request_id(header: str | None, body: str | None) -> str:
    given = [v.strip() for v in (header, body) if v is not None]
    if len(given) == 2 and given[0] != given[1]:
        raise ApiError(422, "invalid request: the Idempotency-Key header and request_id differ")
    if not given:
        return new_request_id()
    key = given[0]
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            422, f"invalid request: Idempotency-Key: 1 to {MAX_KEY_LENGTH} printable characters"
        )
    return key


def _check_environment(req: CreateInstance) -> None:
    for name in req.environment:
        if not ENV_NAME.match(name):
            raise ApiError(
                422,
                f"invalid request: environment: {name[:60]!r} is not a variable name "
                "(letters, digits and _, not starting with a digit)",
            )


def _launched_message(outcome: LaunchOutcome, pre: Preflight) -> str:
    i = outcome.instance
    where = display_name(i.provider)
    notes = [
        f"Launched {i.id} ({pre.offer.gpu_count} x {pre.offer.gpu_model} at {where}) "
        f"at ${pre.cost.per_hour:.3f}/h all-in"
        + (
            f", interruptible, bid {fmt.bid(pre.bid_per_gpu)}/GPU·h"
            if pre.bid_per_gpu is not None
            else ""
        )
        + f"; it is {i.status}"
    ]
    notes += pre.changes()
    notes += [f"ignored: {u}" for u in pre.unsupported]
    notes += [f"warning: {w}" for w in pre.warnings]
    return "; ".join(notes)


async def _confirmed(pre: Preflight) -> bool:
    return True  # the POST is the confirmation; the preflight's refusals still hold


async def _take_cheapest(failure: str, candidates: list[Preflight]) -> Preflight:
    return candidates[0]


async def _no_failover(failure: str, candidates: list[Preflight]) -> Preflight:
    listed = ", ".join(
        f"{c.offer.id} (${c.cost.per_hour:.3f}/h)" for c in candidates[:EQUIVALENTS_SHOWN]
    )
    raise ApiError(409, f"not launched: {failure}; equivalent offers available now: {listed}")


@router.post(
    "",
    response_model=Envelope[Instance],
    status_code=201,
    responses={200: {"model": Envelope[Instance], "description": "Already created (same key)"}},
    summary="Create an instance from an offer (the original create body)",
)
async def create_instance(
    ctx: Ctx,
    body: CreateInstance,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    ctx.remember(body.environment.values())
    _check_environment(body)
    provider = canonical_provider(body.provider)
    if provider is None:
        raise ApiError(
            422,
            f"invalid request: unknown provider {body.provider!r} (known: {', '.join(PROVIDERS)})",
        )
    request_id = _request_id(idempotency_key, body.request_id)
    req = LaunchRequest.model_validate(
        {**body.model_dump(exclude={"failover"}), "provider": provider, "request_id": request_id}
    )
    options = LaunchOptions.from_request(req)
    async with ctx.launch_lock:
        try:
            outcome = await ctx.services.launch_flow.run(
                LaunchTarget.by_id(req.offer_id, provider),
                options,
                confirm=_confirmed,
                choose=_take_cheapest if body.failover else _no_failover,
            )
        except EarlierInDoubt as exc:
            raise ApiError(409, str(exc)) from None
        except RequestMismatch as exc:
            raise ApiError(422, f"invalid request: Idempotency-Key: {exc}") from None
        except OfferNotFound:
            raise ApiError(
                404,
                f"not launched: no offer {req.offer_id!r} at {provider}; it may have gone "
                "(search again for a current one)",
            ) from None
        except (WrongProvider, NotHonoured) as exc:
            raise ApiError(422, f"invalid request: {exc}") from None
        except LaunchRefused as exc:
            raise ApiError(409, exc.preflight.refusal()) from None
        except NoCapacity as exc:
            raise ApiError(409, scrub(str(exc), ctx.secrets())) from None
    instance = outcome.instance
    headers = {"Location": f"/api/v1/instances/{instance.id}"}
    if outcome.reused or outcome.preflight is None:
        headers["Idempotent-Replayed"] = "true"
        return ok(
            instance,
            f"Idempotency-Key {request_id} already created {instance.id}: nothing "
            f"new was created (it is {instance.status})",
            status=200,
            secrets=ctx.secrets(),
            headers=headers,
        )
    return ok(
        instance,
        _launched_message(outcome, outcome.preflight),
        status=201,
        secrets=ctx.secrets(),
        headers=headers,
    )


@router.get(
    "",
    response_model=Envelope[list[Instance]],
    summary="Your instances at every provider (kept in sync in the background)",
)
async def list_instances(
    ctx: Ctx,
    include_all: Annotated[
        bool, Query(alias="all", description="include terminated instances")
    ] = False,
    refresh: Annotated[bool, Query(description="re-read every provider first")] = False,
) -> Response:
    manager = ctx.services.instances
    if refresh:
        await manager.sync()
    instances = await manager.list(include_terminated=include_all)
    report = await manager.spend()
    count = len(instances)
    message = f"{count} instance{'' if count == 1 else 's'}. " + summary_line(report.summary)
    return ok(instances, message, secrets=ctx.secrets())


async def _instance(ctx: ApiContext, instance_id: str) -> Instance:
    try:
        return await ctx.services.instances.find_or_sync(instance_id)
    except InstanceError as exc:
        raise ApiError(404, str(exc)) from None


@router.get(
    "/{instance_id}",
    response_model=Envelope[Instance],
    summary="One instance, as its provider reports it now (by id, provider id or name)",
)
async def get_instance(ctx: Ctx, instance_id: str) -> Response:
    instance = await ctx.services.instances.fresh(await _instance(ctx, instance_id))
    return ok(instance, f"{instance.id} is {instance.status}", secrets=ctx.secrets())


@router.delete(
    "/{instance_id}",
    response_model=Envelope[Instance],
    summary="Terminate an instance: it and its disk are gone",
)
async def terminate_instance(ctx: Ctx, instance_id: str) -> Response:
    instance = await _instance(ctx, instance_id)
    if instance.status == "terminated":
        return ok(instance, f"{instance.id} was already terminated", secrets=ctx.secrets())
    gone = await ctx.services.instances.act(instance, "terminate")
    return ok(gone, f"Terminated {gone.id}", secrets=ctx.secrets())


async def _act(ctx: ApiContext, instance_id: str, action: Action) -> Response:
    instance = await _instance(ctx, instance_id)
    updated = await ctx.services.instances.act(instance, action)
    done = {"stop": "Stopped", "start": "Started", "restart": "Restarted"}[action]
    return ok(updated, f"{done} {updated.id}; it is {updated.status}", secrets=ctx.secrets())


@router.post("/{instance_id}/stop", response_model=Envelope[Instance], summary="Stop an instance")
async def stop_instance(ctx: Ctx, instance_id: str) -> Response:
    return await _act(ctx, instance_id, "stop")


@router.post(
    "/{instance_id}/start", response_model=Envelope[Instance], summary="Start a stopped instance"
)
async def start_instance(ctx: Ctx, instance_id: str) -> Response:
    return await _act(ctx, instance_id, "start")


@router.post(
    "/{instance_id}/restart", response_model=Envelope[Instance], summary="Restart an instance"
)
async def restart_instance(ctx: Ctx, instance_id: str) -> Response:
    return await _act(ctx, instance_id, "restart")
