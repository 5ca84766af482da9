"""The fault catalogue and the transport that serves it.

One httpx transport stands in for all four providers (routed by the default base URL's
host). A provider without a fault answers with its recorded fixture; a faulty one gets
what its `Fault` says: an exception inside the transport, an error status with a body,
a broken body, or (for the socket faults) a real TCP connection to `bad_server`.

Every textual fault body echoes the request's Authorization header, as a badly behaved
proxy would, so each fault also checks that the key never travels further.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gpucm.domain.provider_names import LAMBDA_LABS, PAPERSPACE, PROVIDERS, RUNPOD, VAST_AI
from gpucm.providers.factory import ADAPTERS
from tests.faults.bad_server import BadServer, Mode, closed_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"

# Recognisable fake keys: any of them showing up outside a request header is a leak.
KEYS: dict[str, str] = {
    VAST_AI: "vk-FAULTKEY-vast-5f1d0c9e2a",
    RUNPOD: "rp-FAULTKEY-runpod-8b3e6a71c4",
    LAMBDA_LABS: "ll-FAULTKEY-lambda-2c7f90d3b5",
    PAPERSPACE: "ps-FAULTKEY-paper-e4a1b86f07",
}
KEY_ENV: dict[str, str] = {name: ADAPTERS[name].meta.key_env for name in PROVIDERS}

FIXTURE_FILES: dict[str, str] = {
    VAST_AI: "vastai/search_offers.json",
    RUNPOD: "runpod/v2_catalog_gpus_secure_1.json",
    LAMBDA_LABS: "lambda/instance_types.json",
    PAPERSPACE: "paperspace/os_templates.json",
}
# The requests each adapter's fetch_offers makes (a surprise fails the test): Vast's
# search and bid search; RunPod's v2 catalogue per cloud and count, and its GraphQL spot
# prices (once in a while: they are cached).
OFFER_REQUESTS: dict[str, frozenset[tuple[str, str]]] = {
    VAST_AI: frozenset({("POST", "/api/v0/bundles/")}),
    RUNPOD: frozenset({("GET", "/v2/catalog/gpus"), ("POST", "/graphql")}),
    LAMBDA_LABS: frozenset({("GET", "/api/v1/instance-types")}),
    PAPERSPACE: frozenset({("GET", "/v1/os-templates")}),
}
# Requests of a good refresh after the first (RunPod's spot prices are then cached):
# 2 clouds x GPU counts 1, 2, 4, 8 of the recorded catalogue
ROUND_REQUESTS: dict[str, int] = {VAST_AI: 2, RUNPOD: 8, LAMBDA_LABS: 1, PAPERSPACE: 1}
HOSTS: dict[str, str] = {
    httpx.URL(ADAPTERS[name].meta.default_base_url).host: name for name in PROVIDERS
}

# The fields without which a row cannot become an offer
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    VAST_AI: ("gpu_name",),
    RUNPOD: ("id",),
    LAMBDA_LABS: ("instance_type",),
    PAPERSPACE: ("availableMachineTypes",),
}

MB = 1024 * 1024
BIG_BODY = 50 * MB


def fixture_bytes(provider: str) -> bytes:
    return (FIXTURES / FIXTURE_FILES[provider]).read_bytes()


def answer_bytes(provider: str, request: httpx.Request) -> bytes:
    """The recorded answer to one of a provider's good requests."""
    if provider == RUNPOD:
        if request.url.path == "/graphql":
            return (FIXTURES / "runpod/graphql_spot_prices.json").read_bytes()
        cloud, count = request.url.params["cloud"], request.url.params["count"]
        return (FIXTURES / f"runpod/v2_catalog_gpus_{cloud.lower()}_{count}.json").read_bytes()
    return fixture_bytes(provider)


def fixture(provider: str) -> Any:
    return json.loads(fixture_bytes(provider))


def offer_rows(provider: str, body: Any) -> list[Any]:
    """The rows of a provider's offers answer (the objects each offer is read from)."""
    if provider == VAST_AI:
        return list(body["offers"])
    if provider == RUNPOD:
        return list(body["gpus"])
    if provider == LAMBDA_LABS:
        return list(body["data"].values())
    return list(body["items"])


def without_fields(provider: str) -> Any:
    body = fixture(provider)
    for row in offer_rows(provider, body):
        for key in REQUIRED_FIELDS[provider]:
            row.pop(key, None)
    return body


def all_null(provider: str) -> Any:
    body = fixture(provider)
    for row in offer_rows(provider, body):
        for key in row:
            row[key] = None
    return body


def inner_wrong_shape(provider: str) -> Any:
    """The right envelope around the wrong type where the rows should be."""
    body = fixture(provider)
    if provider == VAST_AI:
        body["offers"] = {str(i): row for i, row in enumerate(body["offers"])}
    elif provider == RUNPOD:
        body["gpus"] = {"items": body["gpus"]}
    elif provider == LAMBDA_LABS:
        body["data"] = list(body["data"].values())
    else:
        body["items"] = {"templates": body["items"]}
    return body


# -- the faults ---------------------------------------------------------------------------


@dataclass
class Ctx:
    provider: str
    request: httpx.Request
    auth: str
    forward: Callable[[int], Awaitable[httpx.Response]]
    bad: BadServer
    produced: list[int]  # bytes a streamed body has produced so far


Respond = Callable[[Ctx], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Fault:
    name: str
    kind: str  # ProviderError.kind the health row must carry
    says: tuple[str, ...]  # words the error must contain (case-insensitive)
    attempts: int  # requests the refresh makes to the faulty provider (retries included)
    respond: Respond
    socket: Mode | None = None  # the bad server's behaviour for socket faults
    retry_after: float | None = None  # a Retry-After every retry must wait at least


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def _status(
    status: int, message: str, headers: dict[str, str] | None = None
) -> Callable[[Ctx], Awaitable[httpx.Response]]:
    async def respond(ctx: Ctx) -> httpx.Response:
        return _json(status, {"message": f"{message} (request had {ctx.auth})"}, headers)

    return respond


def _raise(exc_type: type[httpx.TransportError], text: str) -> Respond:
    async def respond(ctx: Ctx) -> httpx.Response:
        raise exc_type(text, request=ctx.request)

    return respond


async def _reset_mid_body(ctx: Ctx) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        yield fixture_bytes(ctx.provider)[:100]
        raise httpx.ReadError("[Errno 104] Connection reset by peer", request=ctx.request)

    return httpx.Response(200, content=body(), headers={"Content-Type": "application/json"})


async def _plain_text_502(ctx: Ctx) -> httpx.Response:
    text = f"upstream connect error or disconnect/reset before headers; auth={ctx.auth}"
    return httpx.Response(502, text=text, headers={"Content-Type": "text/plain"})


async def _html_503(ctx: Ctx) -> httpx.Response:
    html = (
        "<!DOCTYPE html><html><head><title>503 Service Temporarily Unavailable</title>"
        f"</head><body><h1>503</h1><!-- {ctx.auth} --><p>nginx</p></body></html>"
    )
    return httpx.Response(503, text=html, headers={"Content-Type": "text/html"})


async def _malformed_json(ctx: Ctx) -> httpx.Response:
    good = fixture_bytes(ctx.provider)
    broken = b'{"note": "' + ctx.auth.encode() + b'", ' + good[: len(good) // 2]
    return httpx.Response(200, content=broken, headers={"Content-Type": "application/json"})


def _body(make: Callable[[str], Any]) -> Respond:
    async def respond(ctx: Ctx) -> httpx.Response:
        return _json(200, make(ctx.provider))

    return respond


async def _top_wrong_shape(ctx: Ctx) -> httpx.Response:
    return _json(200, [fixture(ctx.provider), "unexpected", ctx.auth])


def _big_stream(ctx: Ctx) -> AsyncIterator[bytes]:
    async def body() -> AsyncIterator[bytes]:
        chunk = b" " * MB
        for _ in range(BIG_BODY // MB):
            ctx.produced.append(len(chunk))
            yield chunk
        yield b"[]"

    return body()


async def _big_body_streamed(ctx: Ctx) -> httpx.Response:
    # no Content-Length: the limit has to be enforced while reading
    return httpx.Response(200, content=_big_stream(ctx))


async def _big_body_declared(ctx: Ctx) -> httpx.Response:
    headers = {"Content-Length": str(BIG_BODY + 2), "Content-Type": "application/json"}
    return httpx.Response(200, content=_big_stream(ctx), headers=headers)


async def _slow_drip(ctx: Ctx) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"["
        for _ in range(400):  # 20 s if nothing cut it off
            await asyncio.sleep(0.05)
            ctx.produced.append(1)
            yield b"1,"
        yield b"1]"

    return httpx.Response(200, content=body(), headers={"Content-Type": "application/json"})


async def _hang(ctx: Ctx) -> httpx.Response:
    await asyncio.sleep(30)
    raise AssertionError("the hang was not cut off by the total timeout")


async def _to_bad_server(ctx: Ctx) -> httpx.Response:
    return await ctx.forward(ctx.bad.port)


async def _to_closed_port(ctx: Ctx) -> httpx.Response:
    return await ctx.forward(closed_port())


RETRIED = 4  # RetryPolicy().attempts: reads are retried up to this many requests

FAULTS: tuple[Fault, ...] = (
    Fault(
        "read_timeout",
        "unavailable",
        ("timed out waiting for an answer",),
        RETRIED,
        _raise(httpx.ReadTimeout, "timed out"),
    ),
    Fault(
        "connect_timeout",
        "unavailable",
        ("timed out connecting",),
        RETRIED,
        _raise(httpx.ConnectTimeout, "timed out"),
    ),
    Fault(
        "connection_reset",
        "unavailable",
        ("connection dropped",),
        RETRIED,
        _raise(httpx.ReadError, "[Errno 104] Connection reset by peer"),
    ),
    Fault("reset_mid_body", "unavailable", ("connection dropped",), RETRIED, _reset_mid_body),
    Fault(
        "http_500", "unavailable", ("HTTP 500", "internal error"), 1, _status(500, "internal error")
    ),
    Fault(
        "http_429_retry_after",
        "rate_limited",
        ("rate limited", "429"),
        RETRIED,
        _status(429, "slow down", {"Retry-After": "7"}),
        retry_after=7.0,
    ),
    Fault(
        "http_429_retry_after_too_long",
        "rate_limited",
        ("rate limited", "429"),
        1,  # waiting an hour inside a refresh is worse than failing now
        _status(429, "slow down", {"Retry-After": "3600"}),
    ),
    Fault(
        "http_429_no_retry_after",
        "rate_limited",
        ("rate limited", "429"),
        RETRIED,
        _status(429, "slow down"),
    ),
    Fault(
        "plain_text_502",
        "unavailable",
        ("HTTP 502", "upstream connect error"),
        RETRIED,
        _plain_text_502,
    ),
    Fault("html_503", "unavailable", ("HTTP 503", "an HTML page"), RETRIED, _html_503),
    Fault("auth_401_echoing_key", "auth", ("rejected",), 1, _status(401, "invalid key")),
    Fault("malformed_json", "bad_response", ("not JSON",), 1, _malformed_json),
    Fault("wrong_shape_top", "bad_response", ("list", "object"), 1, _top_wrong_shape),
    Fault("wrong_shape_inner", "bad_response", ("list",), 1, _body(inner_wrong_shape)),
    Fault("missing_fields", "bad_response", ("could be read",), 1, _body(without_fields)),
    Fault("null_fields", "bad_response", ("could be read",), 1, _body(all_null)),
    Fault("body_50mb_streamed", "bad_response", ("too large",), 1, _big_body_streamed),
    Fault("body_50mb_declared", "bad_response", ("too large",), 1, _big_body_declared),
    Fault("slow_drip", "unavailable", ("no complete answer",), 1, _slow_drip),
    Fault("hang", "unavailable", ("no complete answer",), 1, _hang),
    Fault(
        "socket_refused",
        "unavailable",
        ("cannot connect",),
        RETRIED,
        _to_closed_port,
    ),
    Fault(
        "socket_reset",
        "unavailable",
        ("connection dropped",),
        RETRIED,
        _to_bad_server,
        socket="reset",
    ),
    Fault(
        "socket_hang",
        "unavailable",
        ("timed out waiting for an answer",),
        RETRIED,
        _to_bad_server,
        socket="hang",
    ),
    Fault(
        "socket_slow_drip",
        "unavailable",
        ("no complete answer",),
        1,
        _to_bad_server,
        socket="drip",
    ),
)
FAULTS_BY_NAME = {f.name: f for f in FAULTS}

# What the suite injected, for the terminal summary (tests/faults/conftest.py)
STATS: Counter[str] = Counter()


# -- the transport ------------------------------------------------------------------------


@dataclass
class FaultyTransport(httpx.AsyncBaseTransport):
    """Routes each provider's requests to its fixture or to its fault."""

    bad: BadServer
    faults: dict[str, Fault] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    produced: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # real sockets, for the socket faults only (loopback: the bad server)
        self._sockets = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        provider = HOSTS.get(request.url.host)
        if provider is None:
            self.problems.append(f"request to an unknown host: {request.url}")
            return httpx.Response(404)
        if (request.method, request.url.path) not in OFFER_REQUESTS[provider]:
            self.problems.append(f"{provider}: unexpected {request.method} {request.url.path}")
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {KEYS[provider]}":
            self.problems.append(f"{provider}: the request did not carry its key")
        self.requests[provider] += 1
        fault = self.faults.get(provider)
        if fault is None:
            return httpx.Response(
                200,
                content=answer_bytes(provider, request),
                headers={"Content-Type": "application/json"},
            )
        STATS["faulty responses served"] += 1

        async def forward(port: int) -> httpx.Response:
            await request.aread()
            url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
            copied = httpx.Request(
                request.method,
                url,
                headers=request.headers,
                content=request.content,
                extensions=request.extensions,  # the client's timeouts
            )
            return await self._sockets.handle_async_request(copied)

        return await fault.respond(Ctx(provider, request, auth, forward, self.bad, self.produced))

    async def aclose(self) -> None:
        # Every adapter's client closes the transport it was given; this one is shared
        # and closed by the test (close_sockets).
        return None

    async def close_sockets(self) -> None:
        await self._sockets.aclose()
