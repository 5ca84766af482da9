"""The one HTTP layer every provider adapter uses (httpx.AsyncClient).

It owns timeouts, bounded retries with exponential backoff and jitter (429, 502, 503,
504 and connection errors; Retry-After honoured where sent), request pacing (fixed
intervals, and the quota a provider announces in `RateLimit` headers), body size and
total-time limits, and the mapping of failures to the shared error types. Adapters
only translate: they call `request()` and get parsed JSON or a ProviderError.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from gpucm import __version__
from gpucm.providers.errors import (
    AuthError,
    BadResponse,
    CapacityError,
    InvalidRequest,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    redact,
)

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

USER_AGENT = f"gpucm/{__version__} (+https://github.com/gpucm/gpucm)"
RequestKind = Literal["read", "write", "launch"]
Sleep = Callable[[float], Awaitable[None]]
ErrorMapper = Callable[[int, Any, str], ProviderError | None]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.25  # +/- fraction of each delay, so clients do not retry in step
    retry_statuses: tuple[int, ...] = (429, 502, 503, 504)

    def backoff(self, attempt: int, rand: float) -> float:
        """Delay before retry number `attempt` (1-based); rand is uniform [0, 1)."""
        delay = self.base_delay * self.multiplier ** (attempt - 1)
        jittered = delay * (1 + self.jitter * (2 * rand - 1))
        return max(0.0, min(jittered, self.max_delay))


@dataclass(frozen=True)
class Limits:
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 90.0  # a slow drip that never trips the read timeout
    max_body_bytes: int = 32 * 1024 * 1024


class Pacer:
    """Keeps at least `interval` seconds between the starts of paced requests."""

    def __init__(
        self,
        interval: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if self.interval <= 0:
            return
        async with self._lock:
            now = self._monotonic()
            if now < self._next:
                await self._sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (it may be a number or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _window_waits(value: str) -> list[float]:
    """Seconds to wait for each window of a `RateLimit` header that has no requests
    left. Two spellings are read: the structured list of the IETF draft's later
    versions, one member per window (RunPod: `"minute";r=0;t=12, "hour";r=2800;t=1812`),
    and the earlier single window (`limit=100, remaining=0, reset=12`)."""
    waits: list[float] = []
    single: dict[str, str] = {}
    for member in value.split(","):
        params: dict[str, str] = {}
        for part in member.split(";"):
            key, sep, val = part.strip().partition("=")
            if sep:
                params[key.strip().lower()] = val.strip().strip('"')
        if "r" in params and "t" in params:
            try:
                left, reset = int(params["r"]), float(params["t"])
            except ValueError:
                continue
            if left <= 0 and reset >= 0:
                waits.append(reset)
        single.update(params)
    try:
        if int(single.get("remaining", "1")) <= 0:
            waits.append(max(0.0, float(single.get("reset", "nan"))))
    except ValueError:
        pass
    return [w for w in waits if w == w]  # NaN: a reset that was not sent


def quota_wait(headers: Mapping[str, str]) -> float | None:
    """How long the provider says no request will be served (its quota used up until a
    window resets), from `RateLimit` or `RateLimit-Remaining` + `RateLimit-Reset`;
    None while requests are left."""
    waits = _window_waits(headers.get("ratelimit", ""))
    remaining = headers.get("ratelimit-remaining")
    if remaining is not None:
        waits += _window_waits(f"remaining={remaining}, reset={headers.get('ratelimit-reset', '')}")
    return max(waits) if waits else None


def _size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.1f} MB"
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} bytes"


def _snippet(text: str, limit: int = 120) -> str:
    """A short, single-line excerpt of a body for an error message."""
    flat = " ".join(text.split())
    if "<html" in flat.lower() or "<!doctype" in flat.lower():
        return "an HTML page"
    return repr(flat[:limit] + ("..." if len(flat) > limit else ""))


def _body_message(body: Any) -> str | None:
    """The provider's own words from the common error body shapes."""
    if isinstance(body, dict):
        for key in ("msg", "message", "detail", "error_description", "title"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        error = body.get("error")
        if isinstance(error, dict):
            return _body_message(error)
        if isinstance(error, str) and error.strip():
            return error.strip()
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return _body_message(errors[0]) if isinstance(errors[0], dict) else str(errors[0])
    if isinstance(body, str) and body.strip():
        return body.strip()[:200]
    return None


class ProviderHttp:
    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        key_env: str = "",
        secrets: Callable[[], Sequence[str]] = list,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        limits: Limits | None = None,
        pacer: Pacer | None = None,
        launch_pacer: Pacer | None = None,
        error_mapper: ErrorMapper | None = None,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.key_env = key_env
        self._secrets = secrets
        self.retry = retry or RetryPolicy()
        self.limits = limits or Limits()
        self._pacer = pacer
        self._launch_pacer = launch_pacer
        self._mapper = error_mapper
        self._sleep = sleep
        self._rand = rand
        self._monotonic = monotonic
        # until when (monotonic) the provider's announced quota is used up
        self._quota_until = 0.0
        import httpx  # imported on first use: it costs ~35 ms of every start-up

        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            timeout=httpx.Timeout(self.limits.read_timeout, connect=self.limits.connect_timeout),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        # never the headers: they hold the API key
        return f"ProviderHttp({self.provider!r}, {self.base_url!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    def _clean(self, text: str) -> str:
        return redact(text, self._secrets())

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        kind: RequestKind = "read",
        allow_empty: bool = False,
    ) -> Any:
        """Send a request and return its parsed JSON body, or raise a ProviderError.

        Launches are never retried once they may have reached the provider (a read
        timeout could hide a created instance): only a 429 or a connection that never
        opened is retried. The engine's journal covers the rest.
        """
        attempt = 0
        while True:
            attempt += 1
            pacer = self._launch_pacer if kind == "launch" else None
            for p in (pacer, self._pacer):
                if p is not None:
                    await p.wait()
            await self._wait_for_quota(method, path)
            try:
                async with asyncio.timeout(self.limits.total_timeout):
                    return await self._once(method, path, params, json_body, allow_empty)
            except _Retryable as exc:
                safe = kind != "launch" or exc.not_sent
                if not safe or attempt >= self.retry.attempts:
                    raise exc.error from None
                delay = self.retry.backoff(attempt, self._rand())
                if exc.error.retry_after is not None:
                    if exc.error.retry_after > self.retry.max_delay:
                        raise exc.error from None
                    delay = max(delay, exc.error.retry_after)
                log.info(
                    "%s %s %s: %s; retry %d in %.2fs",
                    self.provider,
                    method,
                    path,
                    exc.error.message,
                    attempt,
                    delay,
                )
                await self._sleep(delay)
            except TimeoutError:
                raise ProviderUnavailable(
                    self.provider,
                    f"no complete answer within {self.limits.total_timeout:.0f} s "
                    f"({method} {path})",
                ) from None

    async def stream_text(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        idle: float = 1.5,
        total: float = 10.0,
        max_bytes: int = 256 * 1024,
    ) -> str:
        """GET a streamed text answer (Server-Sent Events) and return what arrived until
        it went quiet for `idle` seconds, `total` seconds passed or `max_bytes` came: a
        log stream backfills its last lines, then stays open for new ones, and gpucm
        wants the backfill. Errors map as `request`'s do; nothing is retried."""
        import httpx

        if self._pacer is not None:
            await self._pacer.wait()
        await self._wait_for_quota("GET", path)
        chunks: list[str] = []
        size = 0
        try:
            async with self._client.stream(
                "GET", path, params=params, headers={"Accept": "text/event-stream"}
            ) as resp:
                self._note_quota(resp.headers)
                if not 200 <= resp.status_code < 300:
                    text = self._clean((await self._read_limited(resp)).decode("utf-8", "replace"))
                    try:
                        body: Any = json.loads(text) if text.strip() else None
                    except json.JSONDecodeError:
                        body = text
                    raise self._map_error(resp.status_code, body, text, resp.headers)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + total
                pieces = resp.aiter_text()
                while size < max_bytes:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        async with asyncio.timeout(min(idle, left)):
                            chunk = await anext(pieces)
                    except (TimeoutError, StopAsyncIteration):
                        break
                    chunks.append(chunk)
                    size += len(chunk)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                self.provider,
                self._clean(f"the stream of GET {path} failed ({type(exc).__name__})"),
            ) from None
        return self._clean("".join(chunks))

    async def _wait_for_quota(self, method: str, path: str) -> None:
        """Hold a request while the provider's announced quota is used up: a short wait
        is slept (a request sent now would only be refused), a long one is a RateLimited
        now, without sending (a refresh should not sit out an hourly window)."""
        wait = self._quota_until - self._monotonic()
        if wait <= 0:
            return
        if wait > self.retry.max_delay:
            raise RateLimited(
                self.provider,
                f"the API's request quota is used up for {wait:.0f} s more; "
                f"{method} {path} not sent",
                retry_after=wait,
            )
        log.info("%s: request quota used up; waiting %.1f s", self.provider, wait)
        await self._sleep(wait)

    def _note_quota(self, headers: httpx.Headers) -> None:
        wait = quota_wait(headers)
        if wait is not None:
            self._quota_until = max(self._quota_until, self._monotonic() + wait)

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        allow_empty: bool,
    ) -> Any:
        import httpx

        started = time.perf_counter()
        try:
            # "" means the base URL itself (GraphQL endpoints); httpx would add a slash
            url = path or self.base_url
            async with self._client.stream(method, url, params=params, json=json_body) as resp:
                raw = await self._read_limited(resp)
                status = resp.status_code
                headers = resp.headers
        except httpx.ConnectError as exc:
            raise _Retryable(
                ProviderUnavailable(
                    self.provider, self._clean(f"cannot connect to {self.base_url} ({exc})")
                ),
                not_sent=True,
            ) from None
        except httpx.TimeoutException as exc:
            what = (
                "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for an answer"
            )
            raise _Retryable(
                ProviderUnavailable(self.provider, f"timed out {what} ({method} {path})"),
                not_sent=isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout),
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise _Retryable(
                ProviderUnavailable(
                    self.provider, f"connection dropped ({type(exc).__name__}, {method} {path})"
                ),
                not_sent=False,
            ) from None
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                self.provider, self._clean(f"request failed: {type(exc).__name__}: {exc}")
            ) from None
        elapsed = (time.perf_counter() - started) * 1000
        log.debug("%s %s %s -> %d in %.0f ms", self.provider, method, path, status, elapsed)
        self._note_quota(headers)

        # Scrub before anything is cut or quoted: a key cut in half by an excerpt
        # would no longer match and half of it would leak.
        text = self._clean(raw.decode("utf-8", errors="replace"))
        body: Any
        parsed = True
        try:
            body = json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            body, parsed = text, False

        if 300 <= status < 400:
            where = headers.get("location", "elsewhere")
            raise BadResponse(
                self.provider,
                self._clean(f"redirected ({status}) to {where}; check the API base URL"),
                status=status,
            )
        if not 200 <= status < 300:
            error = self._map_error(status, body, text, headers)
            if status in self.retry.retry_statuses and isinstance(
                error, ProviderUnavailable | RateLimited
            ):
                if error.retry_after is None:
                    error.retry_after = retry_after_seconds(headers.get("retry-after"))
                raise _Retryable(error, not_sent=status == 429)
            raise error
        if self._mapper is not None:
            mapped = self._mapper(status, body, text)
            if mapped is not None:
                raise self._scrub(mapped)
        if not parsed:
            raise BadResponse(
                self.provider,
                self._clean(
                    f"answered {method} {path} with something that is not JSON: {_snippet(text)}"
                ),
            )
        if body is None and not allow_empty:
            raise BadResponse(self.provider, f"answered {method} {path} with an empty body")
        return body

    async def _read_limited(self, resp: httpx.Response) -> bytes:
        limit = self.limits.max_body_bytes
        declared = resp.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise BadResponse(
                self.provider,
                f"answer too large ({_size(int(declared))}, limit {_size(limit)})",
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise BadResponse(self.provider, f"answer too large (over {_size(limit)})")
            chunks.append(chunk)
        return b"".join(chunks)

    def _scrub(self, error: ProviderError) -> ProviderError:
        """Adapters build messages from provider text, which may echo a secret."""
        error.message = self._clean(error.message)
        error.args = (error.message,)
        return error

    def _map_error(
        self, status: int, body: Any, text: str, headers: httpx.Headers
    ) -> ProviderError:
        if self._mapper is not None:
            mapped = self._mapper(status, body, text)
            if mapped is not None:
                return self._scrub(mapped)
        detail = _body_message(body) if not isinstance(body, str) else None
        if detail is None and isinstance(body, str):
            detail = _snippet(text) if text.strip() else None
        said = f": {self._clean(detail)}" if detail else ""
        p = self.provider
        if status in (401, 403):
            hint = f"; check {self.key_env}" if self.key_env else ""
            return AuthError(p, f"the API key was rejected (HTTP {status}){hint}", status=status)
        if status == 429:
            wait = retry_after_seconds(headers.get("retry-after"))
            return RateLimited(p, f"rate limited (HTTP 429){said}", status=status, retry_after=wait)
        if status == 404:
            return NotFound(p, f"not found (HTTP 404){said}", status=status)
        if status == 410:
            return CapacityError(p, f"the offer is gone (HTTP 410){said}", status=status)
        if status >= 500:
            return ProviderUnavailable(p, f"server error (HTTP {status}){said}", status=status)
        return InvalidRequest(p, f"request refused (HTTP {status}){said}", status=status)


class _Retryable(Exception):
    def __init__(self, error: ProviderError, *, not_sent: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.not_sent = not_sent
