"""The shared provider HTTP layer (providers/http.py): retries, limits, error mapping,
secrets, pacing. Every answer comes from an httpx.MockTransport; retry delays are
recorded by a fake sleep, never slept."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from gpucm.providers.errors import (
    AuthError,
    BadResponse,
    CapacityError,
    InvalidRequest,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from gpucm.providers.http import (
    USER_AGENT,
    Limits,
    Pacer,
    ProviderHttp,
    RetryPolicy,
    quota_wait,
    retry_after_seconds,
)

BASE = "https://api.example.test/v1"
SECRET = "sk-test-SECRET-123456"
FAST = RetryPolicy(attempts=4, base_delay=0.5, multiplier=2.0, max_delay=30.0, jitter=0.25)

# -- scripted provider -------------------------------------------------------------------

Answer = Callable[[httpx.Request], httpx.Response]


def reply(
    status: int = 200,
    body: Any = None,
    *,
    text: str | None = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        if content is not None:
            return httpx.Response(status, content=content, headers=headers)
        if body is None:
            return httpx.Response(status, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return answer


def fail(exc_type: type[httpx.RequestError], message: str = "boom") -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        raise exc_type(message, request=request)

    return answer


def dropped_mid_body() -> Answer:
    """The status line arrives, then the connection drops while the body streams."""

    async def body() -> AsyncIterator[bytes]:
        yield b'{"id": '
        raise httpx.ReadError("connection reset by peer")

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    return answer


OK = reply(200, {"ok": True})


class Script:
    """Answers in order; the last one repeats. Every request is kept."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request)


class Sleeps(list[float]):
    async def __call__(self, delay: float) -> None:
        self.append(delay)


@dataclass
class Harness:
    http: ProviderHttp
    script: Script
    sleeps: Sleeps = field(default_factory=Sleeps)

    @property
    def calls(self) -> int:
        return len(self.script.requests)


Build = Callable[..., Harness]


@pytest.fixture
async def build() -> AsyncIterator[Build]:
    made: list[ProviderHttp] = []

    def _build(
        *answers: Answer,
        provider: str = "vast_ai",
        base_url: str = BASE,
        retry: RetryPolicy = FAST,
        limits: Limits | None = None,
        rand: float = 0.0,
        **kwargs: Any,
    ) -> Harness:
        script = Script(*answers)
        sleeps = Sleeps()
        http = ProviderHttp(
            provider,
            base_url,
            transport=httpx.MockTransport(script),
            retry=retry,
            limits=limits,
            sleep=sleeps,
            rand=lambda: rand,
            **kwargs,
        )
        made.append(http)
        return Harness(http, script, sleeps)

    yield _build
    for http in made:
        await http.aclose()


# -- success -----------------------------------------------------------------------------


async def test_json_body_is_parsed_and_request_is_well_formed(build: Build) -> None:
    h = build(reply(200, {"offers": [{"id": 1, "price": 0.4}]}))
    got = await h.http.request(
        "POST", "/bundles", params={"limit": 5}, json_body={"gpu": "RTX 4090"}
    )
    assert got == {"offers": [{"id": 1, "price": 0.4}]}
    (req,) = h.script.requests
    assert req.method == "POST"
    assert str(req.url) == f"{BASE}/bundles?limit=5"
    assert json.loads(req.content) == {"gpu": "RTX 4090"}
    assert req.headers["user-agent"] == USER_AGENT
    assert req.headers["user-agent"].startswith("gpucm/")
    assert req.headers["accept"] == "application/json"
    assert h.sleeps == []


async def test_configured_auth_header_is_sent(build: Build) -> None:
    h = build(OK, headers={"Authorization": "Bearer abc-123"})
    await h.http.request("GET", "/instances")
    assert h.script.requests[0].headers["authorization"] == "Bearer abc-123"


async def test_client_timeouts_come_from_limits(build: Build) -> None:
    h = build(OK, limits=Limits(connect_timeout=1.5, read_timeout=2.5))
    await h.http.request("GET", "/x")
    timeout = h.script.requests[0].extensions["timeout"]
    assert timeout["connect"] == 1.5
    assert timeout["read"] == 2.5


@pytest.mark.parametrize(
    "answer",
    [reply(200), reply(204), reply(200, content=b"  \n "), reply(202, text="")],
)
async def test_allow_empty_returns_none_for_empty_bodies(build: Build, answer: Answer) -> None:
    h = build(answer)
    assert await h.http.request("DELETE", "/instances/1", allow_empty=True) is None


@pytest.mark.parametrize("answer", [reply(200), reply(204), reply(200, content=b"  \n ")])
async def test_empty_body_without_allow_empty_is_bad_response(build: Build, answer: Answer) -> None:
    h = build(answer)
    with pytest.raises(BadResponse, match="empty body") as info:
        await h.http.request("GET", "/instances")
    assert str(info.value).startswith("Vast.ai: ")
    assert h.calls == 1


async def test_allow_empty_still_returns_a_body_when_there_is_one(build: Build) -> None:
    h = build(reply(200, {"id": 7}))
    assert await h.http.request("PUT", "/instances/7", allow_empty=True) == {"id": 7}


@pytest.mark.parametrize("base_url", ["https://api.example.test/graphql", BASE + "graphql/"])
async def test_empty_path_hits_the_base_url_exactly(build: Build, base_url: str) -> None:
    h = build(OK, base_url=base_url)
    await h.http.request("POST", "", json_body={"query": "{ myself { id } }"})
    url = str(h.script.requests[0].url)
    assert url == base_url.rstrip("/")
    assert not url.endswith("/")


async def test_relative_path_is_joined_under_the_base_url(build: Build) -> None:
    h = build(OK, base_url=BASE + "/")
    await h.http.request("GET", "/instances/42")
    assert str(h.script.requests[0].url) == f"{BASE}/instances/42"


# -- retries -----------------------------------------------------------------------------


async def test_429_then_200_retries_once(build: Build) -> None:
    h = build(reply(429, {"msg": "slow down"}), reply(200, {"ok": 1}))
    assert await h.http.request("GET", "/bundles") == {"ok": 1}
    assert h.calls == 2
    assert h.sleeps == pytest.approx([0.375])  # base 0.5, rand 0 -> -25 % jitter


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_and_unavailable_statuses_are_retried(build: Build, status: int) -> None:
    h = build(reply(status, {"message": "upstream"}), reply(status), OK)
    assert await h.http.request("GET", "/bundles") == {"ok": True}
    assert h.calls == 3
    assert h.sleeps == pytest.approx([0.375, 0.75])


@pytest.mark.parametrize(
    ("rand", "expected"),
    [
        # base 0.5, x2 each retry, jitter of +/- 25 %, never above the 3 s cap
        (0.0, [0.375, 0.75, 1.5, 3.0, 3.0]),
        (0.5, [0.5, 1.0, 2.0, 3.0, 3.0]),
        (0.999, [min(3.0, d * (1 + 0.25 * 0.998)) for d in (0.5, 1.0, 2.0, 4.0, 8.0)]),
    ],
)
async def test_recorded_backoff_follows_the_policy(
    build: Build, rand: float, expected: list[float]
) -> None:
    policy = RetryPolicy(attempts=6, base_delay=0.5, multiplier=2.0, max_delay=3.0, jitter=0.25)
    h = build(reply(503), retry=policy, rand=rand)
    with pytest.raises(ProviderUnavailable):
        await h.http.request("GET", "/bundles")
    assert h.calls == 6
    assert h.sleeps == pytest.approx(expected)


async def test_rand_is_drawn_once_per_retry(build: Build) -> None:
    draws: list[float] = []

    def rand() -> float:
        draws.append(0.5)
        return 0.5

    h = build(reply(502), reply(502), OK)
    h.http._rand = rand
    await h.http.request("GET", "/x")
    assert len(draws) == 2


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (1, 0.5, 1.0),
        (2, 0.5, 3.0),
        (3, 0.5, 9.0),
        (4, 0.5, 10.0),  # 27 capped at max_delay
        (9, 0.5, 10.0),
        (1, 0.0, 0.8),
        (1, 0.999, 1.0 * (1 + 0.2 * 0.998)),
        (4, 0.0, 10.0),  # 27 x 0.8 jittered, still capped
    ],
)
def test_backoff_values(attempt: int, rand: float, expected: float) -> None:
    policy = RetryPolicy(base_delay=1.0, multiplier=3.0, max_delay=10.0, jitter=0.2)
    assert policy.backoff(attempt, rand) == pytest.approx(expected)


@pytest.mark.parametrize("rand", [0.0, 0.1, 0.37, 0.5, 0.8, 0.999])
@pytest.mark.parametrize("attempt", [1, 2, 3, 6])
def test_backoff_stays_within_jitter_bounds(attempt: int, rand: float) -> None:
    policy = RetryPolicy(base_delay=0.5, multiplier=2.0, max_delay=3.0, jitter=0.25)
    nominal = min(0.5 * 2.0 ** (attempt - 1), 3.0)
    assert nominal * 0.75 <= policy.backoff(attempt, rand) < nominal * 1.25


def test_backoff_is_never_negative() -> None:
    assert RetryPolicy(jitter=3.0).backoff(1, 0.0) == 0.0


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, RateLimited),
        (502, ProviderUnavailable),
        (503, ProviderUnavailable),
        (504, ProviderUnavailable),
    ],
)
@pytest.mark.parametrize("attempts", [1, 3])
async def test_attempts_are_bounded_then_the_mapped_error_is_raised(
    build: Build, status: int, error: type[ProviderError], attempts: int
) -> None:
    policy = RetryPolicy(attempts=attempts, base_delay=0.5, multiplier=2.0, jitter=0.25)
    h = build(reply(status, {"message": "still failing"}), retry=policy)
    with pytest.raises(error) as info:
        await h.http.request("GET", "/bundles")
    assert type(info.value) is error
    assert info.value.status == status
    assert "still failing" in info.value.message
    assert h.calls == attempts
    assert len(h.sleeps) == attempts - 1


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("7", 7.0),  # longer than the backoff: Retry-After wins
        ("2.5", 2.5),
        ("30", 30.0),  # exactly max_delay is still honoured
        ("0", 0.375),  # shorter than the backoff: the backoff wins
        ("0.1", 0.375),
    ],
)
async def test_retry_after_seconds_is_honoured(
    build: Build, retry_after: str, expected: float
) -> None:
    h = build(reply(429, headers={"Retry-After": retry_after}), OK)
    assert await h.http.request("GET", "/bundles") == {"ok": True}
    assert h.calls == 2
    assert h.sleeps == pytest.approx([expected])


async def test_retry_after_http_date_is_honoured(build: Build) -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    h = build(reply(429, headers={"Retry-After": when}), OK)
    assert await h.http.request("GET", "/bundles") == {"ok": True}
    assert h.calls == 2
    (delay,) = h.sleeps
    assert 18.5 < delay <= 20.0  # the date has whole seconds


async def test_retry_after_past_http_date_falls_back_to_backoff(build: Build) -> None:
    when = email.utils.formatdate(time.time() - 600, usegmt=True)
    h = build(reply(429, headers={"Retry-After": when}), OK)
    await h.http.request("GET", "/bundles")
    assert h.sleeps == pytest.approx([0.375])


@pytest.mark.parametrize("retry_after", ["120", "30.5"])
async def test_retry_after_beyond_max_delay_gives_up_at_once(
    build: Build, retry_after: str
) -> None:
    h = build(reply(429, {"msg": "quota"}, headers={"Retry-After": retry_after}), OK)
    with pytest.raises(RateLimited) as info:
        await h.http.request("GET", "/bundles")
    assert info.value.retry_after == pytest.approx(float(retry_after))
    assert info.value.status == 429
    assert str(info.value).startswith("Vast.ai: ")
    assert h.calls == 1
    assert h.sleeps == []


async def test_vast_plain_text_429_is_retried_with_backoff(build: Build) -> None:
    text = "API requests too frequent endpoint threshold=4.0"
    h = build(reply(429, text=text, headers={"Content-Type": "text/plain"}), OK)
    assert await h.http.request("GET", "/bundles") == {"ok": True}
    assert h.calls == 2
    assert h.sleeps == pytest.approx([0.375])


async def test_vast_plain_text_429_exhausted_carries_its_words(build: Build) -> None:
    text = "API requests too frequent endpoint threshold=4.0"
    h = build(reply(429, text=text), retry=RetryPolicy(attempts=2))
    with pytest.raises(RateLimited) as info:
        await h.http.request("GET", "/bundles")
    assert "too frequent" in str(info.value)
    assert info.value.retry_after is None
    assert h.calls == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, ProviderUnavailable),
        (501, ProviderUnavailable),
        (400, InvalidRequest),
        (401, AuthError),
        (403, AuthError),
        (404, NotFound),
        (409, InvalidRequest),
        (410, CapacityError),
        (422, InvalidRequest),
    ],
)
async def test_other_statuses_are_not_retried(
    build: Build, status: int, error: type[ProviderError]
) -> None:
    h = build(reply(status, {"message": "nope"}), OK)
    with pytest.raises(error) as info:
        await h.http.request("GET", "/bundles")
    assert info.value.status == status
    assert h.calls == 1
    assert h.sleeps == []


# -- connection errors and request kinds -------------------------------------------------


async def test_connect_error_is_retried_then_succeeds(build: Build) -> None:
    h = build(fail(httpx.ConnectError, "connection refused"), OK)
    assert await h.http.request("GET", "/bundles") == {"ok": True}
    assert h.calls == 2
    assert h.sleeps == pytest.approx([0.375])


async def test_connect_error_exhausted_is_provider_unavailable(build: Build) -> None:
    h = build(fail(httpx.ConnectError, "connection refused"), retry=RetryPolicy(attempts=3))
    with pytest.raises(ProviderUnavailable, match="cannot connect") as info:
        await h.http.request("GET", "/bundles")
    assert str(info.value).startswith("Vast.ai: ")
    assert h.calls == 3


MAYBE_SENT = {
    "read timeout": fail(httpx.ReadTimeout, "timed out"),
    "write timeout": fail(httpx.WriteTimeout, "timed out"),
    "protocol error": fail(httpx.RemoteProtocolError, "server disconnected"),
    "read error": fail(httpx.ReadError, "connection reset"),
    "dropped mid-body": dropped_mid_body(),
    "502": reply(502, {"message": "bad gateway"}),
    "503": reply(503),
    "504": reply(504, text="gateway timeout"),
}

NOT_SENT = {
    "connect error": fail(httpx.ConnectError, "connection refused"),
    "connect timeout": fail(httpx.ConnectTimeout, "timed out"),
    "pool timeout": fail(httpx.PoolTimeout, "no connection"),
    "429": reply(429, {"message": "too many launches"}),
}


@pytest.mark.parametrize("failure", MAYBE_SENT.values(), ids=MAYBE_SENT.keys())
@pytest.mark.parametrize("kind", ["read", "write"])
async def test_failures_after_sending_are_retried_for_reads(
    build: Build, failure: Answer, kind: Any
) -> None:
    h = build(failure, OK)
    assert await h.http.request("GET", "/instances", kind=kind) == {"ok": True}
    assert h.calls == 2
    assert len(h.sleeps) == 1


@pytest.mark.parametrize("failure", MAYBE_SENT.values(), ids=MAYBE_SENT.keys())
async def test_launch_is_not_retried_once_it_may_have_reached_the_provider(
    build: Build, failure: Answer
) -> None:
    h = build(failure, OK)
    with pytest.raises(ProviderUnavailable) as info:
        await h.http.request("PUT", "/asks/123", json_body={"image": "x"}, kind="launch")
    assert str(info.value).startswith("Vast.ai: ")
    assert h.calls == 1
    assert h.sleeps == []


@pytest.mark.parametrize("failure", NOT_SENT.values(), ids=NOT_SENT.keys())
async def test_launch_is_retried_when_it_never_reached_the_provider(
    build: Build, failure: Answer
) -> None:
    h = build(failure, OK)
    got = await h.http.request("PUT", "/asks/123", json_body={"image": "x"}, kind="launch")
    assert got == {"ok": True}
    assert h.calls == 2
    assert h.sleeps == pytest.approx([0.375])


async def test_read_timeout_message_says_what_timed_out(build: Build) -> None:
    h = build(fail(httpx.ReadTimeout), retry=RetryPolicy(attempts=1))
    with pytest.raises(ProviderUnavailable, match="timed out waiting for an answer"):
        await h.http.request("GET", "/bundles")


async def test_other_httpx_errors_are_unavailable_and_not_retried(build: Build) -> None:
    h = build(fail(httpx.UnsupportedProtocol, "no such scheme"), OK)
    with pytest.raises(ProviderUnavailable, match="request failed"):
        await h.http.request("GET", "/bundles")
    assert h.calls == 1


# -- error mapping -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_name_the_key_env(build: Build, status: int) -> None:
    h = build(reply(status, {"error": "invalid key"}), key_env="VAST_AI_API_KEY")
    with pytest.raises(AuthError) as info:
        await h.http.request("GET", "/users/current")
    assert "VAST_AI_API_KEY" in str(info.value)
    assert f"HTTP {status}" in str(info.value)
    assert info.value.status == status
    assert info.value.kind == "auth"


async def test_auth_error_without_key_env_has_no_dangling_hint(build: Build) -> None:
    h = build(reply(401))
    with pytest.raises(AuthError) as info:
        await h.http.request("GET", "/users/current")
    assert "check" not in str(info.value)


async def test_404_is_not_found(build: Build) -> None:
    h = build(reply(404, {"detail": "instance 9 does not exist"}))
    with pytest.raises(NotFound) as info:
        await h.http.request("GET", "/instances/9")
    assert "instance 9 does not exist" in str(info.value)
    assert info.value.status == 404


async def test_410_is_capacity_error(build: Build) -> None:
    h = build(reply(410, {"msg": "offer no longer available"}))
    with pytest.raises(CapacityError) as info:
        await h.http.request("PUT", "/asks/1", kind="launch")
    assert "offer no longer available" in str(info.value)
    assert info.value.status == 410


@pytest.mark.parametrize(
    "body",
    [
        {"msg": "disk_space must be at least 10"},
        {"message": "disk_space must be at least 10"},
        {"detail": "disk_space must be at least 10"},
        {"error_description": "disk_space must be at least 10"},
        {"title": "disk_space must be at least 10"},
        {"error": {"message": "disk_space must be at least 10", "code": "invalid"}},
        {"error": "disk_space must be at least 10"},
        {"errors": [{"message": "disk_space must be at least 10"}, {"message": "other"}]},
        {"errors": ["disk_space must be at least 10"]},
        {"msg": "  disk_space must be at least 10 \n"},
    ],
)
async def test_400_carries_the_providers_words(build: Build, body: dict[str, Any]) -> None:
    h = build(reply(400, body))
    with pytest.raises(InvalidRequest) as info:
        await h.http.request("PUT", "/asks/1", json_body={"disk": 1})
    assert str(info.value) == "Vast.ai: request refused (HTTP 400): disk_space must be at least 10"
    assert info.value.status == 400


async def test_400_without_words_still_says_what_happened(build: Build) -> None:
    h = build(reply(400, {"code": 17}))
    with pytest.raises(InvalidRequest) as info:
        await h.http.request("GET", "/x")
    assert str(info.value) == "Vast.ai: request refused (HTTP 400)"


HTML = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, ProviderUnavailable), (404, NotFound), (400, InvalidRequest), (200, BadResponse)],
)
async def test_html_page_is_named_not_dumped(
    build: Build, status: int, error: type[ProviderError]
) -> None:
    h = build(reply(status, text=HTML, headers={"Content-Type": "text/html"}))
    with pytest.raises(error) as info:
        await h.http.request("GET", "/bundles")
    text = str(info.value)
    assert "an HTML page" in text
    assert "<" not in text
    assert "nginx" not in text


async def test_malformed_json_on_200_is_a_one_line_bad_response(build: Build) -> None:
    broken = '{"offers": [\n  {"id": 1,\n   "price": 0.4},\n  {"id": 2,\r\n\t' + "x" * 5000
    h = build(reply(200, content=broken.encode(), headers={"Content-Type": "application/json"}))
    with pytest.raises(BadResponse) as info:
        await h.http.request("GET", "/bundles")
    text = str(info.value)
    assert text.startswith("Vast.ai: ")
    assert "not JSON" in text
    assert "\n" not in text and "\r" not in text and "\t" not in text
    assert "\\n" not in text and "\\t" not in text  # whitespace collapsed, not escaped
    assert '[ {"id": 1, "price": 0.4}, {"id": 2, x' in text
    assert len(text) < 300  # an excerpt, not the whole body
    assert info.value.kind == "bad_response"


@pytest.mark.parametrize(
    ("provider", "display"),
    [("vast_ai", "Vast.ai"), ("runpod", "RunPod"), ("lambda_labs", "Lambda Cloud")],
)
@pytest.mark.parametrize(
    "answer",
    [
        reply(401),
        reply(404, {"message": "gone"}),
        reply(410),
        reply(400, {"msg": "bad"}),
        reply(500, text="oops"),
        reply(503),
        reply(429, text="slow down"),
        reply(200, text="not json"),
        reply(200),
        fail(httpx.ConnectError),
        fail(httpx.ReadTimeout),
    ],
)
async def test_every_error_starts_with_the_provider_display_name(
    build: Build, provider: str, display: str, answer: Answer
) -> None:
    h = build(answer, provider=provider, retry=RetryPolicy(attempts=1))
    with pytest.raises(ProviderError) as info:
        await h.http.request("GET", "/x")
    assert str(info.value).startswith(f"{display}: ")
    assert info.value.provider == provider


# -- custom error mapper -----------------------------------------------------------------


class Mapper:
    """Maps bodies with a `kind` field; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, Any, str]] = []

    def __call__(self, status: int, body: Any, text: str) -> ProviderError | None:
        self.calls.append((status, body, text))
        if isinstance(body, dict) and body.get("kind") == "capacity":
            return CapacityError("runpod", f"no capacity: {body.get('why')}", status=status)
        if isinstance(body, dict) and body.get("errors"):
            return InvalidRequest("runpod", f"graphql: {text}", status=status)
        return None


async def test_mapper_result_is_used_for_error_statuses(build: Build) -> None:
    mapper = Mapper()
    h = build(reply(400, {"kind": "capacity", "why": "no H100"}), error_mapper=mapper)
    with pytest.raises(CapacityError, match="no capacity: no H100"):
        await h.http.request("POST", "/pods", kind="launch")
    assert mapper.calls == [(400, {"kind": "capacity", "why": "no H100"}, mapper.calls[0][2])]
    assert json.loads(mapper.calls[0][2]) == {"kind": "capacity", "why": "no H100"}


async def test_mapper_returning_none_falls_back_to_status_mapping(build: Build) -> None:
    mapper = Mapper()
    h = build(reply(404, {"message": "no such pod"}), error_mapper=mapper)
    with pytest.raises(NotFound, match="no such pod"):
        await h.http.request("GET", "/pods/1")
    assert len(mapper.calls) == 1


async def test_mapper_result_is_used_for_2xx_bodies(build: Build) -> None:
    mapper = Mapper()
    body = {"errors": [{"message": "pod not found"}], "data": None}
    h = build(reply(200, body), error_mapper=mapper, provider="runpod")
    with pytest.raises(InvalidRequest, match="pod not found") as info:
        await h.http.request("POST", "")
    assert str(info.value).startswith("RunPod: graphql: ")
    assert h.calls == 1
    assert mapper.calls[0][:2] == (200, body)


async def test_mapper_returning_none_on_2xx_returns_the_body(build: Build) -> None:
    mapper = Mapper()
    h = build(reply(200, {"data": {"pods": []}}), error_mapper=mapper)
    assert await h.http.request("POST", "") == {"data": {"pods": []}}
    assert [c[0] for c in mapper.calls] == [200]


async def test_mapper_messages_are_scrubbed_of_secrets(build: Build) -> None:
    mapper = Mapper()
    body = {"errors": [{"message": f"bad api key {SECRET}"}]}
    h = build(reply(200, body), error_mapper=mapper, secrets=lambda: [SECRET])
    with pytest.raises(InvalidRequest) as info:
        await h.http.request("POST", "")
    err = info.value
    assert "bad api key ***" in err.message  # the words are kept, the key is not
    for text in (str(err), repr(err), err.message, *map(str, err.args)):
        assert SECRET not in text


# -- limits ------------------------------------------------------------------------------

SMALL = Limits(max_body_bytes=1024, total_timeout=5.0)


async def test_declared_content_length_over_limit_is_rejected_before_reading(
    build: Build,
) -> None:
    read: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        read.append(b"{}")
        yield b"{}"

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body(), headers={"Content-Length": "5000"})

    h = build(answer, limits=SMALL)
    with pytest.raises(BadResponse, match="too large") as info:
        await h.http.request("GET", "/bundles")
    assert str(info.value).startswith("Vast.ai: ")
    assert read == []
    assert h.calls == 1


async def test_real_content_length_over_limit_is_rejected(build: Build) -> None:
    payload = json.dumps({"offers": ["x" * 100] * 20}).encode()
    assert len(payload) > 1024
    h = build(reply(200, content=payload), limits=SMALL)
    with pytest.raises(BadResponse, match="too large"):
        await h.http.request("GET", "/bundles")


async def test_body_at_the_limit_is_accepted(build: Build) -> None:
    payload = json.dumps({"x": "y" * (1024 - 9)}).encode()
    assert len(payload) == 1024
    h = build(reply(200, content=payload), limits=SMALL)
    assert await h.http.request("GET", "/bundles") == {"x": "y" * 1015}


async def test_streamed_body_over_limit_is_rejected_without_reading_it_all(
    build: Build,
) -> None:
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for i in range(100):
            sent.append(i)
            yield b"[" + b"1," * 127 + b"1"

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    h = build(answer, limits=SMALL)
    with pytest.raises(BadResponse, match="too large"):
        await h.http.request("GET", "/bundles")
    assert "content-length" not in h.script.requests[0].headers
    assert len(sent) < 10
    assert h.calls == 1


async def test_slow_drip_is_cut_off_by_the_total_timeout(build: Build) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"offers": ['
        for _ in range(200):
            await asyncio.sleep(0.02)
            yield b"1,"
        yield b"1]}"

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    h = build(answer, limits=Limits(read_timeout=30.0, total_timeout=0.3))
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable, match="no complete answer") as info:
        await h.http.request("GET", "/bundles")
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 1.0
    assert str(info.value).startswith("Vast.ai: ")
    assert h.calls == 1  # a total timeout is not retried
    assert h.sleeps == []


async def test_body_within_total_timeout_is_read(build: Build) -> None:
    async def body() -> AsyncIterator[bytes]:
        for part in (b'{"a"', b": ", b"1}"):
            await asyncio.sleep(0.01)
            yield part

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    h = build(answer, limits=Limits(total_timeout=2.0))
    assert await h.http.request("GET", "/x") == {"a": 1}


# -- secrets -----------------------------------------------------------------------------


def echo_mapper(status: int, body: Any, text: str) -> ProviderError | None:
    if status == 200 and isinstance(body, dict) and "error" in body:
        return InvalidRequest("vast_ai", f"provider said: {text}", status=status)
    return None


ECHOES = {
    "400 json": reply(400, {"msg": f"invalid api_key {SECRET}"}),
    "401 json": reply(401, {"error": f"bad key {SECRET}"}),
    "404 nested": reply(404, {"error": {"message": f"key {SECRET} has no instance"}}),
    "500 text": reply(500, text=f"Internal error for key={SECRET}"),
    "429 text": reply(429, text=f"too many requests from {SECRET}"),
    "503 json": reply(503, {"errors": [{"message": f"maintenance {SECRET}"}]}),
    "200 mapped": reply(200, {"error": True, "api_key": SECRET}),
    "200 not json": reply(200, text=f"<pre>{SECRET}</pre> oops"),
    "200 broken json": reply(200, content=f'{{"key": "{SECRET}", '.encode()),
}


@pytest.mark.parametrize("answer", ECHOES.values(), ids=ECHOES.keys())
async def test_echoed_key_never_leaks(
    build: Build, answer: Answer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h = build(
        answer,
        headers={"Authorization": f"Bearer {SECRET}"},
        secrets=lambda: [SECRET],
        error_mapper=echo_mapper,
        retry=RetryPolicy(attempts=3),
    )
    with pytest.raises(ProviderError) as info:
        await h.http.request("GET", "/instances")
    err = info.value
    assert h.script.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    for text in (str(err), repr(err), err.message, *map(str, err.args), caplog.text):
        assert SECRET not in text
    assert SECRET not in repr(h.http)
    assert SECRET not in str(h.http)
    assert err.__cause__ is None or SECRET not in str(err.__cause__)


async def test_echoed_key_is_replaced_not_dropped(build: Build) -> None:
    h = build(reply(400, {"msg": f"invalid api_key {SECRET}"}), secrets=lambda: [SECRET])
    with pytest.raises(InvalidRequest) as info:
        await h.http.request("GET", "/instances")
    assert str(info.value) == "Vast.ai: request refused (HTTP 400): invalid api_key ***"


async def test_retry_log_lines_are_scrubbed(build: Build, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="gpucm")
    h = build(reply(503, {"message": f"down for {SECRET}"}), OK, secrets=lambda: [SECRET])
    await h.http.request("GET", "/instances")
    retry_lines = [r.getMessage() for r in caplog.records if "retry 1" in r.getMessage()]
    assert len(retry_lines) == 1
    assert "down for ***" in retry_lines[0]
    assert SECRET not in caplog.text


async def test_secrets_are_read_when_an_error_is_built(build: Build) -> None:
    keys: list[str] = []
    h = build(reply(400, {"msg": f"bad {SECRET}"}), secrets=lambda: keys)
    keys.append(SECRET)  # e.g. a key set after the client was made
    with pytest.raises(InvalidRequest) as info:
        await h.http.request("GET", "/x")
    assert SECRET not in str(info.value)


def test_repr_shows_no_headers() -> None:
    http = ProviderHttp("vast_ai", BASE, headers={"Authorization": f"Bearer {SECRET}"})
    try:
        assert repr(http) == f"ProviderHttp('vast_ai', '{BASE}')"
    finally:
        asyncio.run(http.aclose())


# -- Pacer -------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)  # let other waiters run, as a real sleep would


async def test_pacer_spaces_consecutive_starts() -> None:
    clock = FakeClock()
    pacer = Pacer(1.5, monotonic=clock.monotonic, sleep=clock.sleep)
    starts = []
    for _ in range(3):
        await pacer.wait()
        starts.append(clock.now)
    assert starts == [100.0, 101.5, 103.0]
    assert clock.sleeps == [1.5, 1.5]


async def test_pacer_only_sleeps_the_remainder() -> None:
    clock = FakeClock()
    pacer = Pacer(1.0, monotonic=clock.monotonic, sleep=clock.sleep)
    await pacer.wait()
    clock.now += 0.25
    await pacer.wait()
    assert clock.sleeps == pytest.approx([0.75])
    clock.now += 5.0
    await pacer.wait()
    assert clock.sleeps == pytest.approx([0.75])  # enough time passed: no sleep


@pytest.mark.parametrize("interval", [0.0, -1.0])
async def test_pacer_with_no_interval_never_sleeps(interval: float) -> None:
    def no_clock() -> float:
        raise AssertionError("the clock was read")

    async def no_sleep(delay: float) -> None:
        raise AssertionError(f"slept {delay}")

    pacer = Pacer(interval, monotonic=no_clock, sleep=no_sleep)
    for _ in range(5):
        await pacer.wait()


async def test_pacer_serialises_concurrent_waiters() -> None:
    clock = FakeClock()
    pacer = Pacer(1.0, monotonic=clock.monotonic, sleep=clock.sleep)
    starts: list[float] = []

    async def waiter() -> None:
        await pacer.wait()
        starts.append(clock.now)

    await asyncio.gather(*(waiter() for _ in range(4)))
    assert starts == [100.0, 101.0, 102.0, 103.0]
    assert clock.sleeps == [1.0, 1.0, 1.0]


class CountingPacer(Pacer):
    def __init__(self) -> None:
        super().__init__(0.0)
        self.waits = 0

    async def wait(self) -> None:
        self.waits += 1


async def test_request_waits_on_pacers_for_every_attempt(build: Build) -> None:
    pacer, launch_pacer = CountingPacer(), CountingPacer()
    h = build(reply(429), OK, pacer=pacer, launch_pacer=launch_pacer)
    await h.http.request("GET", "/bundles")
    assert (pacer.waits, launch_pacer.waits) == (2, 0)
    await h.http.request("PUT", "/asks/1", kind="launch")
    assert (pacer.waits, launch_pacer.waits) == (3, 1)


# -- retry_after_seconds -----------------------------------------------------------------

FIXED = 1_764_158_400.0  # 2025-11-26 12:00:00 UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        ("1.5", 1.5),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("-3", 0.0),
        ("-0.5", 0.0),
        (email.utils.formatdate(FIXED + 30, usegmt=True), 30.0),
        (email.utils.formatdate(FIXED - 30, usegmt=True), 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("soon", None),
        ("in a minute", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    got = retry_after_seconds(value, now=FIXED)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_retry_after_seconds_uses_the_wall_clock_by_default() -> None:
    got = retry_after_seconds(email.utils.formatdate(time.time() + 60, usegmt=True))
    assert got is not None
    assert 58.0 < got <= 60.0


# -- known bugs --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 200])
async def test_key_cut_by_the_excerpt_does_not_leak_in_part(build: Build, status: int) -> None:
    text = "x" * 100 + " " + SECRET + " was rejected"  # the cut falls inside the key
    h = build(reply(status, text=text), secrets=lambda: [SECRET])
    with pytest.raises(ProviderError) as info:
        await h.http.request("GET", "/instances")
    message = str(info.value)
    assert SECRET not in message  # the whole key is never there...
    fragments = {SECRET[i : i + 8] for i in range(len(SECRET) - 7)}
    assert not [f for f in fragments if f in message]  # ...nor any 8-char piece of it


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect_is_not_mistaken_for_success(build: Build, status: int) -> None:
    h = build(reply(status, headers={"Location": "https://elsewhere.test/v1/instances/1"}))
    with pytest.raises(ProviderError):
        await h.http.request("DELETE", "/instances/1", allow_empty=True)


async def test_retry_after_on_503_is_honoured(build: Build) -> None:
    h = build(reply(503, headers={"Retry-After": "6"}), OK)
    assert await h.http.request("GET", "/bundles") == {"ok": True}
    assert h.sleeps == pytest.approx([6.0])


async def test_connect_error_text_is_scrubbed(
    build: Build, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h = build(
        fail(httpx.ConnectError, f"proxy refused credentials {SECRET}"),
        secrets=lambda: [SECRET],
        retry=RetryPolicy(attempts=2),
    )
    with pytest.raises(ProviderUnavailable) as info:
        await h.http.request("GET", "/instances")
    assert SECRET not in str(info.value)
    assert SECRET not in caplog.text


# -- quotas a provider announces (RateLimit headers) ----------------------------------------


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"RateLimit": '"minute";r=0;t=12, "hour";r=2800;t=1812'}, 12.0),
        ({"RateLimit": '"minute";r=5;t=12, "hour";r=0;t=1812, "day";r=0;t=90'}, 1812.0),
        ({"RateLimit": '"minute";r=1;t=12'}, None),
        ({"RateLimit": "limit=100, remaining=0, reset=7"}, 7.0),
        ({"RateLimit": "limit=100, remaining=3, reset=7"}, None),
        ({"RateLimit-Remaining": "0", "RateLimit-Reset": "9"}, 9.0),
        ({"RateLimit-Remaining": "4", "RateLimit-Reset": "9"}, None),
        ({"RateLimit": "garbage;;;=,,"}, None),
        ({"RateLimit": '"minute";r=zero;t=12'}, None),
        ({}, None),
    ],
)
def test_quota_wait(headers: dict[str, str], wait: float | None) -> None:
    assert quota_wait(httpx.Headers(headers)) == wait


async def test_a_used_up_quota_holds_the_next_request(build: Build) -> None:
    now = [100.0]
    h = build(
        reply(body={"ok": 1}, headers={"RateLimit-Remaining": "0", "RateLimit-Reset": "4"}),
        reply(body={"ok": 2}),
        monotonic=lambda: now[0],
    )
    assert await h.http.request("GET", "/a") == {"ok": 1}
    assert h.sleeps == []
    assert await h.http.request("GET", "/b") == {"ok": 2}
    assert h.sleeps == [4.0]
    now[0] += 10  # the window has reset
    await h.http.request("GET", "/c")
    assert h.sleeps == [4.0]


# -- streamed answers (Server-Sent Events) ---------------------------------------------


def streaming(*chunks: bytes, then_hang: bool = True) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk
            if then_hang:
                await asyncio.sleep(30)  # a live stream stays open

        return httpx.Response(200, content=body(), headers={"Content-Type": "text/event-stream"})

    return answer


async def test_stream_text_returns_what_came_before_it_went_quiet(build: Build) -> None:
    h = build(streaming(b"data: one\n\n", b"data: two\x1b[31m\n\n"))
    started = time.monotonic()
    text = await h.http.stream_text("/logs", idle=0.05, total=5)
    # raw: the adapter's parser cleans what it reads from it (runpod_parse.parse_logs)
    assert text == "data: one\n\ndata: two\x1b[31m\n\n"
    assert time.monotonic() - started < 2
    assert h.script.requests[0].headers["Accept"] == "text/event-stream"


async def test_stream_text_stops_at_its_byte_and_time_limits(build: Build) -> None:
    h = build(streaming(*([b"x" * 1000] * 50), then_hang=False))
    assert len(await h.http.stream_text("/logs", max_bytes=3000)) <= 4000
    h = build(streaming(b"a", then_hang=True))
    assert await h.http.stream_text("/logs", idle=10, total=0.1) == "a"


async def test_stream_text_maps_errors_and_scrubs_secrets(build: Build) -> None:
    h = build(reply(404, {"detail": f"no such pod {SECRET}"}), secrets=lambda: [SECRET])
    with pytest.raises(NotFound) as info:
        await h.http.stream_text("/logs")
    assert SECRET not in str(info.value)
