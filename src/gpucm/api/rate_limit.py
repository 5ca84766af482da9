"""RATE_LIMIT_RPM requests per client per minute, over a sliding minute: the 101st
request within any 60 s gets 429 with Retry-After (seconds until a slot frees).

A client is its address as the socket sees it: proxy headers are not trusted (the
server runs with them off), so a client cannot pick a fresh identity per request.
Refused requests are not counted, so a client that waits gets back in.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from gpucm.api.envelope import failure

WINDOW = 60.0
EXEMPT_PATHS = frozenset({"/healthz"})
# forget idle clients after this many checks, so the table cannot grow without bound
PRUNE_EVERY = 1000


class SlidingWindow:
    def __init__(self, per_minute: int, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._monotonic = monotonic
        self._hits: dict[str, deque[float]] = {}
        self._checks = 0

    def check(self, client: str) -> float | None:
        """Count a request; None if allowed, else the seconds until one would be."""
        now = self._monotonic()
        self._checks += 1
        if self._checks % PRUNE_EVERY == 0:
            self._prune(now)
        hits = self._hits.setdefault(client, deque())
        while hits and now - hits[0] >= WINDOW:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return max(0.0, hits[0] + WINDOW - now)
        hits.append(now)
        return None

    def _prune(self, now: float) -> None:
        for client in [c for c, h in self._hits.items() if not h or now - h[-1] >= WINDOW]:
            del self._hits[client]


def client_id(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class RateLimit:
    def __init__(self, app: ASGIApp, window: SlidingWindow, on_limited: Callable[[], None]) -> None:
        self.app = app
        self._window = window
        self._on_limited = on_limited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        wait = self._window.check(client_id(scope))
        if wait is None:
            await self.app(scope, receive, send)
            return
        self._on_limited()
        retry = max(1, math.ceil(wait))
        response = failure(
            f"rate limit exceeded: {self._window.per_minute} requests per minute per "
            f"client; retry in {retry} s",
            status=429,
            headers={"Retry-After": str(retry)},
        )
        await response(scope, receive, send)
